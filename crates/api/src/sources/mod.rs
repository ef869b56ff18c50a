//! Leads straight from the platforms that collect them: Google Ads lead
//! forms, Meta Lead Ads and WhatsApp Cloud API webhooks (docs/sources.md).
//!
//! Each platform module reads its delivery into [`SourceLead`]s, one per
//! lead, through the same field matching and normalization as
//! `/api/ingest` (`bloc_shared`), with `source` set and the platform's ids in
//! `metadata`. Each lead carries its own idempotency key (the platform's lead
//! or message id, under the platform's sender id) and the hash of its own
//! part of the delivery, so a redelivery is answered from the stored result
//! whatever else that delivery batches with it.
//!
//! Authentication is checked here too, on the raw bytes and in constant
//! time, before anything is stored. Storing is the routes' business.

pub mod google_ads;
pub mod graph;
pub mod meta;
pub mod whatsapp;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use bloc_shared::ingest::{ApiError, IngestPayload, LeadStatus};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::{decode_hex, hmac, to_hex};
use crate::error;

/// One lead read from a platform's delivery, ready for `ingest_leads`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLead {
    pub payload: IngestPayload,
    /// The platform's id of this lead (Google `lead_id`, Meta `leadgen_id`,
    /// WhatsApp message `id`): the idempotency key under the sender id.
    pub key: String,
    /// SHA-256 hex of this lead's own part of the delivery, canonical JSON.
    pub body_hash: String,
}

/// An item of a delivery that cannot become a lead (no usable phone, …).
/// Retrying cannot fix it, so the platform is told 200 and it is logged.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedItem {
    pub key: String,
    pub error: ApiError,
}

/// What a platform is told, per lead of its delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct SourceAnswer {
    pub results: Vec<SourceItem>,
}

/// One lead's outcome: the platform's id, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct SourceItem {
    /// The platform's lead or message id.
    pub key: String,
    pub status: LeadStatus,
    /// The stored lead; for a duplicate, the original lead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<i64>,
    /// `true` when this lead was already stored by an earlier delivery and
    /// this is its stored answer.
    #[serde(default)]
    pub replayed: bool,
    /// For `invalid`: why (stable code, as for `/api/ingest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a platform delivery is refused, or could not be taken now.
///
/// Statuses follow what each platform does with them: a 5xx makes Meta and
/// WhatsApp redeliver (with backoff, for up to 36 hours and 7 days), so it is
/// used exactly when a redelivery can succeed and nothing was lost.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The source has no configuration: answered like a route that does not exist.
    #[error("not found")]
    NotConfigured,
    #[error("missing or invalid signature or key")]
    Unauthorized,
    #[error("the verify token does not match")]
    VerificationRefused,
    #[error("{0}")]
    MalformedBody(String),
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the body did not arrive within {millis} ms")]
    BodyReadTimeout { millis: u128 },
    #[error("{}", .0.message)]
    Invalid(ApiError),
    /// The Graph API did not answer, answered 5xx, or rate-limited us.
    #[error("the Graph API is unavailable; nothing was acknowledged that is not stored, redeliver later")]
    GraphUnavailable,
    /// The Graph API refused to give a lead (token, permission, deleted lead).
    #[error("the Graph API refused to give a lead; fix the page access token or permissions, then Meta's redelivery stores it")]
    GraphRefused,
    #[error("the lead store is unavailable; retry later")]
    Unavailable,
    #[error("the lead store refuses this service's configuration; nothing was stored")]
    UpstreamMisconfigured,
}

impl SourceError {
    pub fn code(&self) -> &str {
        match self {
            SourceError::NotConfigured => "not_found",
            SourceError::Unauthorized => "unauthorized",
            SourceError::VerificationRefused => "verification_refused",
            SourceError::MalformedBody(_) => "malformed_body",
            SourceError::PayloadTooLarge { .. } => "payload_too_large",
            SourceError::BodyReadTimeout { .. } => "body_read_timeout",
            SourceError::Invalid(e) => &e.error,
            SourceError::GraphUnavailable => "graph_unavailable",
            SourceError::GraphRefused => "graph_refused",
            SourceError::Unavailable => "unavailable",
            SourceError::UpstreamMisconfigured => "upstream_misconfigured",
        }
    }
}

impl ResponseError for SourceError {
    fn status_code(&self) -> StatusCode {
        match self {
            SourceError::NotConfigured => StatusCode::NOT_FOUND,
            SourceError::Unauthorized => StatusCode::UNAUTHORIZED,
            SourceError::VerificationRefused => StatusCode::FORBIDDEN,
            SourceError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            SourceError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            SourceError::BodyReadTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            SourceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SourceError::GraphUnavailable | SourceError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            SourceError::GraphRefused | SourceError::UpstreamMisconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            // Exactly what an unknown path gets: an empty 404.
            SourceError::NotConfigured => HttpResponse::NotFound().finish(),
            SourceError::Invalid(e) => error::response(self.status_code()).json(e),
            other => error::response(other.status_code()).json(ApiError::new(other.code(), other.to_string())),
        }
    }
}

/// Checks `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`,
/// as Meta signs Lead Ads and WhatsApp deliveries. Constant-time.
pub fn verify_hub_signature(headers: &HeaderMap, body: &[u8], app_secret: &SecretString) -> Result<(), SourceError> {
    let given = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("sha256="))
        .and_then(decode_hex)
        .ok_or(SourceError::Unauthorized)?;
    let expected = hmac(app_secret.expose_secret().as_bytes(), &[body]);
    if bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(SourceError::Unauthorized)
    }
}

/// The query of Meta's subscription check: `hub.mode`, `hub.verify_token`, `hub.challenge`.
#[derive(Debug, Default, Deserialize)]
pub struct HubQuery {
    #[serde(rename = "hub.mode")]
    pub mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

/// Meta's verification handshake: the challenge, echoed, when the mode is
/// `subscribe` and the token matches (compared as SHA-256 digests, so the
/// time taken says nothing of the token's length); 403 otherwise.
pub fn verify_subscription(query: &HubQuery, verify_token: &SecretString) -> Result<String, SourceError> {
    let given: [u8; 32] = Sha256::digest(query.verify_token.as_deref().unwrap_or("").as_bytes()).into();
    let expected: [u8; 32] = Sha256::digest(verify_token.expose_secret().as_bytes()).into();
    let token_ok = bool::from(given.ct_eq(&expected)) && query.verify_token.is_some();
    match (&query.mode, &query.challenge) {
        (Some(mode), Some(challenge)) if mode == "subscribe" && token_ok => Ok(challenge.clone()),
        _ => Err(SourceError::VerificationRefused),
    }
}

/// SHA-256 hex of `value` as canonical JSON: object keys sorted at every
/// level, no spaces. The same lead hashes the same however a platform
/// ordered its keys or batched it.
pub fn canonical_hash(value: &Value) -> String {
    let mut text = String::new();
    write_canonical(value, &mut text);
    to_hex(&Sha256::digest(text.as_bytes()))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A platform id as text: ids arrive as strings or (int64) numbers.
pub fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The body as a JSON object, or 400.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, SourceError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(SourceError::MalformedBody("the body must be a JSON object".into())),
        Err(e) => Err(SourceError::MalformedBody(format!("the body is not valid JSON: {e}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use serde_json::json;

    fn signed(secret: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("sha256={}", to_hex(&hmac(secret.as_bytes(), &[body])));
        headers.insert(HeaderName::from_static("x-hub-signature-256"), HeaderValue::from_str(&value).unwrap());
        headers
    }

    #[test]
    fn a_signature_over_the_raw_bytes_with_the_app_secret_passes() {
        let secret = SecretString::from("app-secret".to_owned());
        let body = br#"{"object":"page"}"#;
        assert!(verify_hub_signature(&signed("app-secret", body), body, &secret).is_ok());
    }

    #[test]
    fn a_signature_with_another_secret_or_over_other_bytes_is_refused() {
        let secret = SecretString::from("app-secret".to_owned());
        let body = br#"{"object":"page"}"#;
        assert!(verify_hub_signature(&signed("other", body), body, &secret).is_err());
        assert!(verify_hub_signature(&signed("app-secret", body), br#"{"object": "page"}"#, &secret).is_err());
        assert!(verify_hub_signature(&HeaderMap::new(), body, &secret).is_err());
    }

    #[test]
    fn the_handshake_echoes_the_challenge_only_for_the_right_token() {
        let token = SecretString::from("tok".to_owned());
        let query = |mode: &str, t: &str| HubQuery {
            mode: Some(mode.into()),
            verify_token: Some(t.into()),
            challenge: Some("1158201444".into()),
        };
        assert_eq!(verify_subscription(&query("subscribe", "tok"), &token).unwrap(), "1158201444");
        assert!(verify_subscription(&query("subscribe", "tok2"), &token).is_err());
        assert!(verify_subscription(&query("unsubscribe", "tok"), &token).is_err());
        assert!(verify_subscription(&HubQuery::default(), &token).is_err());
    }

    #[test]
    fn the_canonical_hash_ignores_key_order_and_whitespace() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":"s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a": { "x": "s", "y": [1, 2] }, "b": 1 }"#).unwrap();
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        assert_ne!(canonical_hash(&a), canonical_hash(&json!({"b": 2, "a": {"y": [1, 2], "x": "s"}})));
    }
}
