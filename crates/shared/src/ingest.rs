//! The shapes of ingestion: what the service sends to the `ingest_lead(s)`
//! RPCs ([`IngestPayload`]), what they answer ([`IngestResult`]), and what the
//! ingest API answers its senders ([`LeadResponse`], [`BatchResponse`],
//! [`ApiError`]).
//!
//! With the `phone` feature, [`normalize_lead`] turns a [`RawLead`] into a
//! payload: phone to E.164, state to its ISO code, language to ISO 639-1.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "phone")]
use crate::fields::RawLead;
#[cfg(feature = "phone")]
use crate::phone::{self, PhoneRegion};

/// Longest text accepted in a lead field (name, email, state, city, language, source).
pub const MAX_FIELD_CHARS: usize = 500;

/// A normalized lead, the body item of `ingest_lead(payload)` / `ingest_leads(payloads)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestPayload {
    /// E.164, e.g. `+919876543210`.
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// ISO 3166-2:IN code without `IN-` (`MH`), or the text as sent when unknown.
    pub state: Option<String>,
    pub city: Option<String>,
    /// ISO 639-1 code (`hi`), or the text as sent when unknown.
    pub language: Option<String>,
    pub source: Option<String>,
    /// Everything else the sender sent, plus `*_unrecognized` flags.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Map<String, Value>,
    /// The delivery this lead came in, for the database's idempotency
    /// (`engine.deliveries`); absent for a delivery without a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryRef>,
}

/// Where a lead sits in a keyed delivery: who sent it, under which
/// idempotency key, at which place, and the hash of the whole HTTP body.
/// `ingest_lead(s)` answer a repeat of `(sender, key, item)` from the
/// stored answer, and refuse the key with another `body_hash` as
/// `idempotency_key_reused`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryRef {
    /// Who authenticated the delivery: a webhook secret's id (never the
    /// secret) or a native source's name; keys are scoped to it.
    pub sender: String,
    /// The delivery's idempotency key.
    pub key: String,
    /// The lead's place in the delivery: 0 for a single lead, the array
    /// position (counting invalid positions too) for a JSON array.
    pub item: u32,
    /// Lowercase hex SHA-256 of the raw HTTP body.
    pub body_hash: String,
}

/// Outcome of ingesting one lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Stored and given to a caller.
    Assigned,
    /// The phone was already ingested within the duplicate window; nothing new was stored.
    Duplicate,
    /// Stored, but no caller could take it now (it waits for the backlog run).
    Unassigned,
    /// Refused; nothing was stored.
    Invalid,
}

/// One item of the RPCs' answer, as the database writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestResult {
    pub status: LeadStatus,
    #[serde(default)]
    pub lead_id: Option<i64>,
    #[serde(default)]
    pub caller_id: Option<i64>,
    #[serde(default)]
    pub caller_name: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub tier: Option<i32>,
    #[serde(default)]
    pub error: Option<String>,
    /// The database answered from its delivery record: this is the first
    /// answer to the same delivery, given again, and nothing was stored now.
    #[serde(default)]
    pub replayed: bool,
}

/// The caller a lead went to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CallerRef {
    pub id: i64,
    pub name: Option<String>,
}

/// The answer to one ingested lead: 201 `assigned`, 200 `duplicate` (with the
/// original lead's id), 202 `unassigned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadResponse {
    pub status: LeadStatus,
    /// The stored lead; for a duplicate, the original lead.
    pub lead_id: Option<i64>,
    pub caller: Option<CallerRef>,
    /// Why this caller: `state_match`, `global`, `overflow`, …
    pub reason: Option<String>,
    /// Assignment tier (1 = state match, 2 = global, 3 = overflow).
    pub tier: Option<i32>,
}

impl From<&IngestResult> for LeadResponse {
    fn from(r: &IngestResult) -> Self {
        LeadResponse {
            status: r.status,
            lead_id: r.lead_id,
            caller: r.caller_id.map(|id| CallerRef { id, name: r.caller_name.clone() }),
            reason: r.reason.clone(),
            tier: r.tier,
        }
    }
}

/// The answer to a JSON array: one item per element, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
}

/// One element's outcome in a batch: a lead outcome, or `invalid` with an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchItem {
    /// Position in the request array, from 0.
    pub index: usize,
    pub status: LeadStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<CallerRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<i32>,
    /// For `invalid`: a stable snake_case code such as `invalid_phone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl BatchItem {
    pub fn from_lead(index: usize, lead: LeadResponse) -> Self {
        BatchItem {
            index,
            status: lead.status,
            lead_id: lead.lead_id,
            caller: lead.caller,
            reason: lead.reason,
            tier: lead.tier,
            error: None,
            message: None,
            fields: BTreeMap::new(),
        }
    }

    pub fn from_error(index: usize, error: ApiError) -> Self {
        BatchItem {
            index,
            status: LeadStatus::Invalid,
            lead_id: None,
            caller: None,
            reason: None,
            tier: None,
            error: Some(error.error),
            message: Some(error.message),
            fields: error.fields,
        }
    }
}

/// Every error body of the API: a stable snake_case `error` code the sender
/// can match, a human `message`, and per-field problems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(error: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { error: error.into(), message: message.into(), fields: BTreeMap::new() }
    }

    pub fn with_field(mut self, field: impl Into<String>, problem: impl Into<String>) -> Self {
        self.fields.insert(field.into(), problem.into());
        self
    }
}

/// A phone number for logs: country code and last two digits only
/// (`+91******10`).
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let keep_head = if chars[0] == '+' { 3.min(chars.len() - 2) } else { 0 };
    let tail = chars.len() - 2;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_head || i >= tail { *c } else { '*' })
        .collect()
}

/// Normalizes a matched lead into the RPC payload, or says which fields are wrong.
///
/// - phone: required, E.164 in `region` (`missing_phone` / `invalid_phone`);
/// - state: ISO code, or kept as sent with `metadata.state_unrecognized = true`;
/// - language: ISO 639-1, or kept as sent with `metadata.language_unrecognized = true`;
/// - email: lowercased; text without an `@` moves to `metadata.email_unrecognized`;
/// - every text field at most [`MAX_FIELD_CHARS`] characters (`field_too_long`).
#[cfg(feature = "phone")]
pub fn normalize_lead(raw: RawLead, region: PhoneRegion) -> Result<IngestPayload, ApiError> {
    let name = raw.full_name().map(|n| collapse_spaces(&n));
    let mut metadata = raw.metadata;

    let mut too_long = ApiError::new("field_too_long", "a field is longer than allowed");
    for (field, value) in [
        ("name", &name),
        ("email", &raw.email),
        ("state", &raw.state),
        ("city", &raw.city),
        ("language", &raw.language),
        ("source", &raw.source),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > MAX_FIELD_CHARS) {
            too_long = too_long.with_field(field, format!("must be at most {MAX_FIELD_CHARS} characters"));
        }
    }
    if !too_long.fields.is_empty() {
        return Err(too_long);
    }

    let phone = match raw.phone.as_deref() {
        None => {
            return Err(ApiError::new("missing_phone", "a phone number is required")
                .with_field("phone", "is required"))
        }
        Some(p) => phone::normalize(p, region).map_err(|e| {
            ApiError::new("invalid_phone", format!("the phone number {e}"))
                .with_field("phone", e.to_string())
        })?,
    };

    let state = raw.state.map(|s| match crate::states::lookup(&s) {
        Some(known) => known.code.to_owned(),
        None => {
            metadata.insert("state_unrecognized".into(), Value::Bool(true));
            collapse_spaces(&s)
        }
    });
    let language = raw.language.map(|l| match crate::languages::lookup(&l) {
        Some(known) => known.code.to_owned(),
        None => {
            metadata.insert("language_unrecognized".into(), Value::Bool(true));
            collapse_spaces(&l)
        }
    });
    let email = raw.email.and_then(|e| {
        let e = e.trim().to_lowercase();
        let plausible = e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !e.chars().any(char::is_whitespace)
        });
        if plausible {
            Some(e)
        } else {
            metadata.insert("email_unrecognized".into(), Value::String(e));
            None
        }
    });

    Ok(IngestPayload {
        phone,
        name,
        email,
        state,
        city: raw.city.map(|c| collapse_spaces(&c)),
        language,
        source: raw.source.map(|s| collapse_spaces(&s)),
        metadata,
        delivery: None,
    })
}

#[cfg(feature = "phone")]
fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masked_phones_keep_only_the_country_code_and_last_two_digits() {
        assert_eq!(mask_phone("+919876543210"), "+91********10");
        assert_eq!(mask_phone("9876543210"), "********10");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn rpc_results_deserialize_with_missing_fields() {
        let r: IngestResult = serde_json::from_value(json!({"status":"invalid","error":"bad phone"})).unwrap();
        assert_eq!(r.status, LeadStatus::Invalid);
        assert_eq!(r.error.as_deref(), Some("bad phone"));
        let r: IngestResult = serde_json::from_value(json!({
            "status":"assigned","lead_id":7,"caller_id":3,"caller_name":"Ravi","reason":"state_match","tier":1
        }))
        .unwrap();
        let resp = LeadResponse::from(&r);
        assert_eq!(resp.caller, Some(CallerRef { id: 3, name: Some("Ravi".into()) }));
        assert_eq!(resp.lead_id, Some(7));
    }

    #[test]
    fn error_bodies_omit_empty_fields() {
        let body = serde_json::to_value(ApiError::new("unauthorized", "no")).unwrap();
        assert_eq!(body, json!({"error":"unauthorized","message":"no"}));
    }

    #[cfg(feature = "phone")]
    mod normalization {
        use super::super::*;
        use crate::fields::RawLead;
        use serde_json::json;

        fn lead(v: Value) -> Result<IngestPayload, ApiError> {
            let Value::Object(m) = v else { panic!("object") };
            normalize_lead(RawLead::from_json_object(&m), PhoneRegion::IN)
        }

        #[test]
        fn a_sheets_row_becomes_a_normalized_payload() {
            let p = lead(json!({
                "Full Name": "  Asha   Rao ", "Mobile Number": 919876543210u64, "State": " maharashtra ",
                "Preferred Language": "Marathi", "Email": "Asha@Example.COM", "utm_source": "fb", "Budget": "5L"
            }))
            .unwrap();
            assert_eq!(p.phone, "+919876543210");
            assert_eq!(p.name.as_deref(), Some("Asha Rao"));
            assert_eq!(p.state.as_deref(), Some("MH"));
            assert_eq!(p.language.as_deref(), Some("mr"));
            assert_eq!(p.email.as_deref(), Some("asha@example.com"));
            assert_eq!(p.source.as_deref(), Some("fb"));
            assert_eq!(p.metadata, json!({"Budget": "5L"}).as_object().unwrap().clone());
        }

        #[test]
        fn an_unknown_state_is_kept_and_flagged() {
            let p = lead(json!({"phone": "9876543210", "state": "Atlantis"})).unwrap();
            assert_eq!(p.state.as_deref(), Some("Atlantis"));
            assert_eq!(p.metadata.get("state_unrecognized"), Some(&json!(true)));
        }

        #[test]
        fn a_missing_phone_is_refused_naming_the_field() {
            let e = lead(json!({"name": "Asha", "phone": ""})).unwrap_err();
            assert_eq!(e.error, "missing_phone");
            assert!(e.fields.contains_key("phone"));
        }

        #[test]
        fn an_invalid_phone_is_refused() {
            let e = lead(json!({"phone": "not a number"})).unwrap_err();
            assert_eq!(e.error, "invalid_phone");
        }

        #[test]
        fn an_overlong_field_is_refused() {
            let e = lead(json!({"phone": "9876543210", "city": "x".repeat(501)})).unwrap_err();
            assert_eq!(e.error, "field_too_long");
            assert!(e.fields.contains_key("city"));
        }

        #[test]
        fn an_implausible_email_moves_to_metadata() {
            let p = lead(json!({"phone": "9876543210", "email": "n/a"})).unwrap();
            assert_eq!(p.email, None);
            assert_eq!(p.metadata.get("email_unrecognized"), Some(&json!("n/a")));
        }
    }
}
