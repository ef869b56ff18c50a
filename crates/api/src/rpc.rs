//! The service's only way to the database: PostgREST RPCs with the service key.

use std::time::Duration;

use bloc_shared::ingest::{mask_phone, IngestPayload, IngestResult};
use postgrest::Postgrest;
use serde_json::{json, Value};

use crate::configuration::Settings;

/// PostgREST or the database could not answer usefully.
///
/// Every text PostgREST sent back is kept with its phone numbers masked
/// ([`mask_phones`]): these errors are logged, and an error about a lead
/// can quote the lead's row.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Transient: callers answer 503; delivery is idempotent, so the sender
    /// retries safely.
    #[error("PostgREST unreachable or timed out: {0}")]
    Unreachable(String),
    /// Transient, as above: PostgREST or the database answered an error.
    #[error("PostgREST answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("PostgREST answered something unexpected: {0}")]
    Unexpected(String),
    /// 401, 403 or 404: the service key, a grant or an RPC is wrong. Not an
    /// outage, and no retry helps until someone fixes the configuration.
    #[error("PostgREST answered {status} ({}): {body}", likely_cause(*status))]
    Misconfigured { status: u16, body: String },
    /// 400, 401 or 403 to a call made with a user's own token
    /// ([`Rest::call_as_user`]): the user or the request, not the service.
    #[error("PostgREST refused the user's call with {status}: {body}")]
    Refused { status: u16, body: String },
}

impl RpcError {
    /// From a PostgREST answer that is not a 2xx.
    fn from_status(status: u16, body: &str) -> RpcError {
        let body = truncate(&mask_phones(body));
        match status {
            401 | 403 | 404 => RpcError::Misconfigured { status, body },
            _ => RpcError::Status { status, body },
        }
    }

    fn unexpected(text: impl std::fmt::Display) -> RpcError {
        RpcError::Unexpected(mask_phones(&text.to_string()))
    }

    fn unreachable(text: impl std::fmt::Display) -> RpcError {
        RpcError::Unreachable(mask_phones(&text.to_string()))
    }
}

/// What a 401, 403 or 404 from PostgREST most likely means, for the log
/// line and the readiness answer.
pub fn likely_cause(status: u16) -> &'static str {
    match status {
        401 => "the service key was refused: check SUPABASE_SERVICE_ROLE_KEY belongs to the project at SUPABASE_URL",
        403 => "the service role lacks a privilege: check the migrations' grants were applied",
        404 => "the RPC or table is missing: check the migrations were applied and SUPABASE_URL is the project URL",
        _ => "PostgREST refused the request",
    }
}

/// `text` with every run that looks like a phone number (7 or more digits,
/// optionally with a leading `+` and single spaces, dashes, dots or
/// brackets between digits) masked as [`mask_phone`] does. It errs on the
/// side of masking: a long id or a date in the same text is masked too.
pub fn mask_phones(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_run = chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts_run {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i + 1;
        let mut digits = usize::from(chars[i].is_ascii_digit());
        while end < chars.len() {
            if chars[end].is_ascii_digit() {
                digits += 1;
                end += 1;
            } else if " -.()".contains(chars[end]) && chars.get(end + 1).is_some_and(char::is_ascii_digit) {
                end += 1;
            } else {
                break;
            }
        }
        let run: String = chars[i..end].iter().collect();
        if digits >= 7 {
            out.push_str(&mask_phone(&run));
        } else {
            out.push_str(&run);
        }
        i = end;
    }
    out
}

/// A PostgREST client bound to the service key.
#[derive(Clone)]
pub struct Rest {
    client: Postgrest,
    timeout: Duration,
}

impl Rest {
    pub fn new(settings: &Settings) -> Self {
        let key = settings.service_key();
        let client = Postgrest::new(settings.rest_url())
            .insert_header("apikey", key)
            .insert_header("Authorization", format!("Bearer {key}"));
        Rest { client, timeout: settings.rpc_timeout }
    }

    /// `ingest_lead(payload)`: one lead.
    pub async fn ingest_lead(&self, payload: &IngestPayload) -> Result<IngestResult, RpcError> {
        let value = self.call("ingest_lead", &json!({ "payload": payload }), None).await?;
        serde_json::from_value(value).map_err(RpcError::unexpected)
    }

    /// `ingest_leads(payloads)`: one result per payload, in order.
    pub async fn ingest_leads(&self, payloads: &[IngestPayload]) -> Result<Vec<IngestResult>, RpcError> {
        let value = self.call("ingest_leads", &json!({ "payloads": payloads }), None).await?;
        let results: Vec<IngestResult> =
            serde_json::from_value(value).map_err(RpcError::unexpected)?;
        if results.len() != payloads.len() {
            return Err(RpcError::unexpected(format!("{} results for {} leads", results.len(), payloads.len())));
        }
        Ok(results)
    }

    /// A no-argument maintenance RPC (`reassign_stale_leads`, `assign_backlog`).
    pub async fn maintenance(&self, function: &str) -> Result<Value, RpcError> {
        self.call(function, &json!({}), None).await
    }

    /// `function(params)` with a signed-in user's access token in place of
    /// the service key's, so the database's own checks (`my_role()`, RLS,
    /// grants) decide. The `apikey` stays the service's: the gateway lets a
    /// user JWT in `Authorization` through. A 4xx other than 404 is
    /// [`RpcError::Refused`] (the user or the user's request, not the
    /// service; [`RpcError::fault`] tells which).
    pub async fn call_as_user(&self, function: &str, params: &Value, token: &str) -> Result<Value, RpcError> {
        self.call(function, params, Some(token)).await
    }

    /// PostgREST and the database both answer: a one-row read of `settings`.
    pub async fn ping(&self) -> Result<(), RpcError> {
        let response = self
            .client
            .from("settings")
            .select("id")
            .limit(1)
            .build()
            .timeout(self.timeout.min(Duration::from_secs(5)))
            .send()
            .await
            .map_err(RpcError::unreachable)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(RpcError::unreachable)?;
        if status != 200 {
            return Err(RpcError::from_status(status, &body));
        }
        Ok(())
    }

    /// The one way an RPC is sent: with the service key, or with `token`
    /// (a user's access token) in `Authorization` instead.
    async fn call(&self, function: &str, params: &Value, token: Option<&str>) -> Result<Value, RpcError> {
        let mut request = self.client.rpc(function, params.to_string());
        if let Some(token) = token {
            request = request.auth(token);
        }
        let response = request.build().timeout(self.timeout).send().await.map_err(RpcError::unreachable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(RpcError::unreachable)?;
        if !(200..300).contains(&status) {
            let body = String::from_utf8_lossy(&body);
            return Err(match token {
                Some(_) if (400..500).contains(&status) && status != 404 => {
                    RpcError::Refused { status, body: truncate(&mask_phones(&body)) }
                }
                _ => RpcError::from_status(status, &body),
            });
        }
        serde_json::from_slice(&body).map_err(RpcError::unexpected)
    }
}

fn truncate(s: &str) -> String {
    let mut s = s.to_owned();
    if s.len() > 500 {
        let mut end = 500;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_upstream_error_text_are_masked_and_other_numbers_kept() {
        let text = r#"{"code":"23514","details":"Failing row contains (17, +919876543210, Asha, 98765 43210, 2026)."}"#;
        let masked = mask_phones(text);
        assert!(!masked.contains("9876543210"), "{masked}");
        assert!(!masked.contains("98765 43210"), "{masked}");
        assert!(masked.contains("+91********10"), "{masked}");
        assert!(masked.contains("(17, "), "{masked}");
        assert!(masked.contains(", 2026)"), "{masked}");
        assert!(masked.contains(r#""code":"23514""#), "{masked}");
    }

    #[test]
    fn an_error_answer_keeps_no_full_phone_in_its_text() {
        let error = RpcError::from_status(400, "new row for relation \"leads\" violates check constraint: +919876543210");
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("9876543210"), "{shown}");
    }

    #[test]
    fn a_401_403_or_404_is_a_misconfiguration_and_a_5xx_is_not() {
        for status in [401, 403, 404] {
            let error = RpcError::from_status(status, "{}");
            assert!(matches!(error, RpcError::Misconfigured { .. }), "{status}");
            assert!(error.to_string().contains(likely_cause(status)), "{error}");
        }
        for status in [400, 500, 502, 503] {
            assert!(matches!(RpcError::from_status(status, "{}"), RpcError::Status { .. }), "{status}");
        }
    }
}
