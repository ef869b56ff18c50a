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

/// What a failed PostgREST call means for the route that made it: the one
/// classification every route answers from ([`RpcError::fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Unreachable, timed out, or PostgREST or the database answered that it
    /// cannot now (PostgreSQL 08xxx connection, 40xxx serialization or
    /// deadlock, 53xxx resources, 55P03 lock timeout, 57014 statement
    /// timeout or cancel, 57P0x shutdown; any other 5xx), or a row conflicts
    /// with another one written at the same time (class 23 but 23502 and
    /// 23514: 23505 unique, 23503 reference, which
    /// `engine.check_references_exist` raises, 23P01 exclusion, 23001
    /// restrict): 503, retry.
    Transient,
    /// The service's key, a grant or an RPC is wrong (401, 403 or 404 to the
    /// service's own call; a user's call refused for a missing EXECUTE grant;
    /// a missing RPC). 500: waiting does not fix it.
    Misconfigured,
    /// PostgREST or the database refused the request this service built
    /// (PGRST1xx, an ambiguous RPC, any other 3xx or 4xx, P0001: a bare
    /// `raise exception` is one of the engine's own assertions), or answered
    /// something this service cannot read: a bug of ours, never the
    /// sender's. 500.
    OurRequest,
    /// The user's access token was refused (missing, expired, forged). 401.
    SignIn,
    /// The user is signed in and not allowed (42501 from the RPC's own check). 403.
    Forbidden,
    /// The RPC refused the data the user sent ([`is_data_fault`]: 22xxx,
    /// 23502, 23514, raised with its own message). 4xx, nothing stored.
    Data,
}

impl RpcError {
    /// This error's [`Fault`]. A user's call ([`RpcError::Refused`]) is
    /// judged as the user's; a data error ([`is_data_fault`]) to the
    /// service's own call is not the sender's (the ingest RPCs answer a
    /// refused lead as a result, not an error), so it stays transient as any
    /// other database error the service cannot act on.
    pub fn fault(&self) -> Fault {
        match self {
            RpcError::Unreachable(_) => Fault::Transient,
            RpcError::Unexpected(_) => Fault::OurRequest,
            RpcError::Misconfigured { .. } => Fault::Misconfigured,
            RpcError::Status { status, body } => fault_of(*status, body, false),
            RpcError::Refused { status, body } => fault_of(*status, body, true),
        }
    }

    /// The database's own message for a [`Fault::Data`] error (phones
    /// masked), or a fixed text when the answer has none.
    pub fn data_message(&self) -> String {
        let (RpcError::Refused { body, .. } | RpcError::Status { body, .. }) = self else {
            return "the lead store refused the request".into();
        };
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|answer| answer.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "the lead store refused the request".into())
    }
}

fn fault_of(status: u16, body: &str, user: bool) -> Fault {
    let code = error_code(body).unwrap_or_default();
    if is_transient(code) {
        return Fault::Transient;
    }
    if user {
        match code {
            "42501" if body.contains("permission denied for function") => return Fault::Misconfigured,
            "42501" => return Fault::Forbidden,
            "PGRST300" => return Fault::Misconfigured,
            "PGRST301" | "PGRST302" | "PGRST303" => return Fault::SignIn,
            _ if is_data_fault(code) => return Fault::Data,
            _ => {}
        }
    }
    match status {
        401 if user => Fault::SignIn,
        403 if user => Fault::Forbidden,
        401 | 403 | 404 => Fault::Misconfigured,
        _ if is_data_fault(code) => Fault::Transient,
        500..=599 => Fault::Transient,
        _ => Fault::OurRequest,
    }
}

/// Whether SQLSTATE `code` says the rows sent are wrong, whoever sends them
/// again: class 22 (data exception; the engine's own validation raises
/// 22023 with its message, e.g. `engine.check_import_rows`), 23502 (not
/// null) and 23514 (check). Not the rest of class 23: a unique (23505),
/// reference (23503, raised by `engine.check_references_exist` with the
/// dropped foreign keys' names), exclusion (23P01) or restrict (23001)
/// violation is a conflict with rows written at the same time, and not
/// P0001: the engine raises it for a request fault only from
/// `reassign_lead`, which this service never calls, and otherwise it is a
/// bare `raise exception`, an assertion of ours.
fn is_data_fault(code: &str) -> bool {
    code.starts_with("22") || matches!(code, "23502" | "23514")
}

/// Whether SQLSTATE `code` is a fault that passes: 08xxx connection, 40xxx
/// serialization or deadlock, 53xxx resources, 55P03 lock timeout, 57014
/// statement timeout or cancel, 57P0x shutdown, and the conflicts of class
/// 23 ([`is_data_fault`] says which are not).
fn is_transient(code: &str) -> bool {
    let class = code.get(..2).unwrap_or_default();
    matches!(class, "08" | "40" | "53")
        || (class == "23" && !is_data_fault(code))
        || matches!(code, "55P03" | "57014" | "57P01" | "57P02" | "57P03")
}

/// The `code` of a PostgREST error answer (`"PGRST202"`, a SQLSTATE such as
/// `"57014"`), read without parsing: the text may have been cut short.
fn error_code(body: &str) -> Option<&str> {
    let rest = &body[body.find("\"code\"")? + 6..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    rest.get(..rest.find('"')?)
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
    ///
    /// The ingest RPCs write their arguments and read their results as the
    /// typed structs, without a `serde_json::Value` in between: the hot
    /// path's JSON is built and parsed once.
    pub async fn ingest_lead(&self, payload: &IngestPayload) -> Result<IngestResult, RpcError> {
        #[derive(serde::Serialize)]
        struct Args<'a> {
            payload: &'a IngestPayload,
        }
        self.send("ingest_lead", serde_json::to_string(&Args { payload }).map_err(RpcError::unexpected)?, None).await
    }

    /// `ingest_leads(payloads)`: one result per payload, in order.
    pub async fn ingest_leads(&self, payloads: &[IngestPayload]) -> Result<Vec<IngestResult>, RpcError> {
        #[derive(serde::Serialize)]
        struct Args<'a> {
            payloads: &'a [IngestPayload],
        }
        let results: Vec<IngestResult> =
            self.send("ingest_leads", serde_json::to_string(&Args { payloads }).map_err(RpcError::unexpected)?, None).await?;
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
        self.send(function, params.to_string(), token).await
    }

    /// [`Rest::call`] with the arguments already written, reading the 2xx
    /// answer straight into `T`.
    async fn send<T: serde::de::DeserializeOwned>(&self, function: &str, params: String, token: Option<&str>) -> Result<T, RpcError> {
        let mut request = self.client.rpc(function, params);
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
