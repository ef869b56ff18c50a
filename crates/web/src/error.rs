//! The one error type of the web app.
//!
//! Every fallible call (`config.json`, Auth, PostgREST) returns [`ApiError`].
//! The failure is classified where it arises, from the HTTP status and the
//! server's error code, never later from the text. Code that must react to a
//! kind of failure matches the variant (or compares [`ApiError::code`]);
//! `Display` is the sentence shown to a person.

use serde_json::Value;
use thiserror::Error;

use crate::config::ConfigError;

/// Which backend answered with a 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Supabase Auth (`/auth/v1`).
    SignIn,
    /// PostgREST (`/rest/v1`).
    Data,
}

/// A failure, classified where it arose; `Display` puts it in words for a person.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    /// `config.json` is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The request never got an answer: offline, DNS, refused connection, CORS.
    #[error("Can't reach the server. Check your connection and try again.")]
    Network,
    /// A call that needs a session was made without one.
    #[error("Not signed in.")]
    NotSignedIn,
    /// Auth refused the email and password (or the refresh token).
    #[error("Wrong email or password.")]
    InvalidCredentials,
    /// Auth wants the email address confirmed first.
    #[error("This email address has not been confirmed yet.")]
    EmailNotConfirmed,
    /// Auth's rate limit (429).
    #[error("Too many attempts. Wait a minute and try again.")]
    RateLimited,
    /// Any other refusal from Auth, with its explanation when it sent one.
    #[error("{}", match detail {
        Some(detail) => format!("Sign-in failed: {detail}"),
        None => format!("Sign-in failed (HTTP {status})."),
    })]
    SignInRefused { status: u16, detail: Option<String> },
    /// PostgREST answered 401 even after a refresh.
    #[error("Your session has expired. Sign in again.")]
    SessionExpired,
    /// 403: row-level security or a grant said no.
    #[error("You don't have permission to do that.")]
    Forbidden,
    /// 404 from PostgREST, with its message when it sent one.
    #[error("Not found{}", suffix(detail))]
    NotFound { detail: Option<String> },
    /// A lead the app asked for by id is not visible (gone, or not the caller's).
    #[error("Lead {0} was not found.")]
    LeadNotFound(i64),
    /// 409: a unique or foreign key constraint.
    #[error("That conflicts with existing data{}", suffix(detail))]
    Conflict { detail: Option<String> },
    /// 400/422 with the server's explanation (a check constraint, an RPC's `raise`).
    #[error("{0}")]
    InvalidInput(String),
    /// A write that returned no row: RLS filtered it out or it was deleted.
    #[error("Nothing was saved: the row is gone or you may not change it.")]
    NothingSaved,
    /// A 5xx: worth trying again shortly.
    #[error("{}", match service {
        Service::SignIn => format!("The sign-in service is having trouble (HTTP {status}). Try again shortly."),
        Service::Data => format!("The server had a problem (HTTP {status}). Try again."),
    })]
    Server { status: u16, service: Service },
    /// Any other non-2xx answer.
    #[error("{}", match message {
        Some(message) => format!("{message} (HTTP {status})"),
        None => format!("The request failed (HTTP {status})."),
    })]
    Rejected { status: u16, message: Option<String> },
    /// A 2xx answer this app cannot decode; the text says what it was.
    #[error("{0}")]
    UnreadableResponse(String),
    /// The browser refused to build the request.
    #[error("{0}")]
    Unexpected(String),
}

fn suffix(detail: &Option<String>) -> String {
    match detail {
        Some(detail) => format!(": {detail}"),
        None => ".".to_owned(),
    }
}

fn json_text<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| value.get(*k)).and_then(Value::as_str)
}

impl ApiError {
    /// The stable snake_case code of this kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Config(_) => "invalid_config",
            ApiError::Network => "network",
            ApiError::NotSignedIn => "not_signed_in",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::EmailNotConfirmed => "email_not_confirmed",
            ApiError::RateLimited => "rate_limited",
            ApiError::SignInRefused { .. } => "sign_in_refused",
            ApiError::SessionExpired => "session_expired",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound { .. } | ApiError::LeadNotFound(_) => "not_found",
            ApiError::Conflict { .. } => "conflict",
            ApiError::InvalidInput(_) => "invalid_input",
            ApiError::NothingSaved => "nothing_saved",
            ApiError::Server { .. } => "server",
            ApiError::Rejected { .. } => "request_failed",
            ApiError::UnreadableResponse(_) => "unreadable_response",
            ApiError::Unexpected(_) => "unexpected",
        }
    }

    /// Classifies a refused `/auth/v1` request from its status and GoTrue's error body.
    pub fn from_auth_response(status: u16, body: &str) -> ApiError {
        let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let code = json_text(&value, &["code", "error_code", "error"]).unwrap_or_default();
        match (status, code) {
            (_, "invalid_credentials" | "invalid_grant") => ApiError::InvalidCredentials,
            (_, "email_not_confirmed") => ApiError::EmailNotConfirmed,
            (429, _) | (_, "over_request_rate_limit") => ApiError::RateLimited,
            (500.., _) => ApiError::Server { status, service: Service::SignIn },
            _ => ApiError::SignInRefused {
                status,
                detail: json_text(&value, &["msg", "message", "error_description"]).map(str::to_owned),
            },
        }
    }

    /// Classifies a refused `/rest/v1` request from its status and PostgREST's error body.
    pub fn from_rest_response(status: u16, body: &str) -> ApiError {
        let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let message = json_text(&value, &["message"]).filter(|m| !m.is_empty()).map(str::to_owned);
        match (status, message) {
            (401, _) => ApiError::SessionExpired,
            (403, _) => ApiError::Forbidden,
            (404, detail) => ApiError::NotFound { detail },
            (409, detail) => ApiError::Conflict { detail },
            (400 | 422, Some(message)) => ApiError::InvalidInput(message),
            (500.., _) => ApiError::Server { status, service: Service::Data },
            (_, message) => ApiError::Rejected { status, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_credentials_are_classified_and_read_as_a_plain_sentence() {
        let error = ApiError::from_auth_response(400, r#"{"code":"invalid_credentials","message":"Invalid login credentials"}"#);
        assert_eq!(error, ApiError::InvalidCredentials);
        assert_eq!(error.code(), "invalid_credentials");
        assert_eq!(error.to_string(), "Wrong email or password.");
    }

    #[test]
    fn auth_failures_keep_the_services_explanation_or_the_status() {
        let limited = ApiError::from_auth_response(429, "");
        assert_eq!(limited.code(), "rate_limited");
        let down = ApiError::from_auth_response(502, "<html>");
        assert_eq!(down.code(), "server");
        assert_eq!(down.to_string(), "The sign-in service is having trouble (HTTP 502). Try again shortly.");
        let refused = ApiError::from_auth_response(422, r#"{"error_code":"weak_password","msg":"Password is too short"}"#);
        assert_eq!(refused.code(), "sign_in_refused");
        assert_eq!(refused.to_string(), "Sign-in failed: Password is too short");
        assert_eq!(ApiError::from_auth_response(400, "").to_string(), "Sign-in failed (HTTP 400).");
        assert_eq!(ApiError::from_auth_response(400, r#"{"error":"email_not_confirmed"}"#), ApiError::EmailNotConfirmed);
    }

    #[test]
    fn postgrest_errors_keep_the_server_message_for_bad_input() {
        let body = r#"{"code":"P0001","message":"caller 9 is not active","details":null,"hint":null}"#;
        let invalid = ApiError::from_rest_response(400, body);
        assert_eq!(invalid, ApiError::InvalidInput("caller 9 is not active".to_owned()));
        assert_eq!(invalid.code(), "invalid_input");
        assert_eq!(invalid.to_string(), "caller 9 is not active");
        assert_eq!(ApiError::from_rest_response(403, body).to_string(), "You don't have permission to do that.");
        assert_eq!(ApiError::from_rest_response(503, "").to_string(), "The server had a problem (HTTP 503). Try again.");
        assert_eq!(ApiError::from_rest_response(418, "").to_string(), "The request failed (HTTP 418).");
        assert_eq!(ApiError::from_rest_response(418, body).to_string(), "caller 9 is not active (HTTP 418)");
    }

    #[test]
    fn each_postgrest_status_has_its_own_code() {
        let cases = [
            (401, "session_expired"),
            (403, "forbidden"),
            (404, "not_found"),
            (409, "conflict"),
            (400, "request_failed"), // no message to show
            (500, "server"),
            (418, "request_failed"),
        ];
        for (status, code) in cases {
            assert_eq!(ApiError::from_rest_response(status, "").code(), code, "HTTP {status}");
        }
        assert_eq!(ApiError::from_rest_response(404, "").to_string(), "Not found.");
        assert_eq!(
            ApiError::from_rest_response(409, r#"{"message":"duplicate key value"}"#).to_string(),
            "That conflicts with existing data: duplicate key value"
        );
    }

    #[test]
    fn local_failures_have_codes_and_the_sentences_shown_today() {
        assert_eq!(ApiError::Network.code(), "network");
        assert_eq!(ApiError::Network.to_string(), "Can't reach the server. Check your connection and try again.");
        assert_eq!(ApiError::LeadNotFound(7).to_string(), "Lead 7 was not found.");
        assert_eq!(ApiError::LeadNotFound(7).code(), "not_found");
        assert_eq!(ApiError::NothingSaved.code(), "nothing_saved");
        assert_eq!(ApiError::from(ConfigError::MissingKey).code(), "invalid_config");
        assert_eq!(ApiError::from(ConfigError::MissingKey).to_string(), "config.json: supabase_anon_key is empty");
    }
}
