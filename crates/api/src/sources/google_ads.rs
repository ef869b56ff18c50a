//! Google Ads lead form webhooks: one lead per `POST`, authenticated by the
//! `google_key` inside the body.
//!
//! `user_column_data` holds `{column_id, column_name, string_value}`; the
//! standard ids map to lead fields (`REGION` is the state), and every other
//! column, custom questions included, goes to `metadata` under its
//! `column_name`. The campaign ids go to `metadata.google_ads`, and a test
//! lead (`is_test: true`) is stored with `metadata.is_test = true`.

use bloc_shared::fields::RawLead;
use bloc_shared::ingest::normalize_lead;
use bloc_shared::phone::PhoneRegion;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{canonical_hash, id_text, json_object, RefusedItem, SourceError, SourceLead};

/// The idempotency sender id of this source.
pub const SENDER: &str = "google-ads";
/// The `source` of its leads.
pub const SOURCE: &str = "Google Ads";

/// The campaign ids kept in `metadata.google_ads`, as sent.
const IDS: &[&str] = &[
    "lead_id",
    "form_id",
    "campaign_id",
    "adgroup_id",
    "creative_id",
    "asset_group_id",
    "gcl_id",
    "api_version",
    "lead_stage",
    "lead_submit_time",
];

/// Reads and authenticates one delivery: 400 for a body that is not a lead
/// object, 401 for a wrong or missing `google_key`; then the lead, or the
/// reason it cannot be one.
pub fn read(body: &[u8], key: &SecretString, region: PhoneRegion) -> Result<Result<SourceLead, RefusedItem>, SourceError> {
    let mut object = json_object(body)?;
    authenticate(object.get("google_key"), key)?;
    object.remove("google_key");
    let lead_id = id_text(object.get("lead_id"))
        .ok_or_else(|| SourceError::MalformedBody("lead_id is missing".into()))?;
    let body_hash = canonical_hash(&Value::Object(object.clone()));
    let raw = raw_lead(&object);
    Ok(match normalize_lead(raw, region) {
        Ok(payload) => Ok(SourceLead { payload, key: lead_id, body_hash }),
        Err(error) => Err(RefusedItem { key: lead_id, error }),
    })
}

/// Constant time: both sides are hashed to 32 bytes first.
fn authenticate(given: Option<&Value>, key: &SecretString) -> Result<(), SourceError> {
    let given_text = given.and_then(Value::as_str).unwrap_or("");
    let given: [u8; 32] = Sha256::digest(given_text.as_bytes()).into();
    let expected: [u8; 32] = Sha256::digest(key.expose_secret().as_bytes()).into();
    if bool::from(given.ct_eq(&expected)) && !given_text.is_empty() {
        Ok(())
    } else {
        Err(SourceError::Unauthorized)
    }
}

fn raw_lead(object: &Map<String, Value>) -> RawLead {
    let mut raw = RawLead::default();
    let mut metadata = Map::new();
    let columns = object.get("user_column_data").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    for column in columns {
        let Some(value) = column.get("string_value").and_then(Value::as_str).map(str::trim) else { continue };
        if value.is_empty() {
            continue;
        }
        let id = column.get("column_id").and_then(Value::as_str).unwrap_or("").trim();
        let name = column.get("column_name").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty());
        let slot = match id {
            "FULL_NAME" => &mut raw.name,
            "FIRST_NAME" => &mut raw.first_name,
            "LAST_NAME" => &mut raw.last_name,
            "PHONE_NUMBER" => &mut raw.phone,
            "EMAIL" => &mut raw.email,
            "CITY" => &mut raw.city,
            "REGION" => &mut raw.state,
            "WORK_PHONE" if raw.phone.is_none() => &mut raw.phone,
            "WORK_EMAIL" if raw.email.is_none() => &mut raw.email,
            _ => {
                let key = match name {
                    Some(name) => name.to_owned(),
                    None if !id.is_empty() => id.to_ascii_lowercase(),
                    None => continue,
                };
                metadata.insert(key, Value::String(value.to_owned()));
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(value.to_owned());
        }
    }
    let ids: Map<String, Value> =
        IDS.iter().filter_map(|k| object.get(*k).filter(|v| !v.is_null()).map(|v| ((*k).to_owned(), v.clone()))).collect();
    metadata.insert("google_ads".into(), Value::Object(ids));
    if object.get("is_test").and_then(Value::as_bool) == Some(true) {
        metadata.insert("is_test".into(), Value::Bool(true));
    }
    raw.source = Some(SOURCE.to_owned());
    raw.metadata = metadata;
    raw
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> SecretString {
        SecretString::from("g-key".to_owned())
    }

    fn lead(extra: Value) -> Value {
        let mut body = json!({
            "lead_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "api_version": "1.0",
            "form_id": 40000000000u64,
            "campaign_id": 50000000000u64,
            "google_key": "g-key",
            "is_test": false,
            "gcl_id": "gcl-1",
            "adgroup_id": 20000000000u64,
            "creative_id": 30000000000u64,
            "user_column_data": [
                {"column_name": "Full Name", "string_value": "Asha Rao", "column_id": "FULL_NAME"},
                {"column_name": "User Phone", "string_value": "+919876543210", "column_id": "PHONE_NUMBER"},
                {"column_name": "User Email", "string_value": "Asha@Example.com", "column_id": "EMAIL"},
                {"column_name": "Region", "string_value": "Maharashtra", "column_id": "REGION"},
                {"column_name": "City", "string_value": "Pune", "column_id": "CITY"},
                {"column_name": "Postal Code", "string_value": "411001", "column_id": "POSTAL_CODE"},
                {"column_name": "What is your budget?", "string_value": "5-10 lakh", "column_id": "what_is_your_budget?"}
            ]
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        body
    }

    fn read_lead(body: &Value) -> Result<Result<SourceLead, RefusedItem>, SourceError> {
        read(body.to_string().as_bytes(), &key(), PhoneRegion::IN)
    }

    #[test]
    fn a_documented_lead_maps_region_to_the_state_and_custom_questions_to_metadata() {
        let lead = read_lead(&lead(json!({}))).unwrap().unwrap();
        let p = &lead.payload;
        assert_eq!(lead.key, "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        assert_eq!(p.phone, "+919876543210");
        assert_eq!(p.name.as_deref(), Some("Asha Rao"));
        assert_eq!(p.email.as_deref(), Some("asha@example.com"));
        assert_eq!(p.state.as_deref(), Some("MH"));
        assert_eq!(p.city.as_deref(), Some("Pune"));
        assert_eq!(p.source.as_deref(), Some(SOURCE));
        assert_eq!(p.metadata["What is your budget?"], "5-10 lakh");
        assert_eq!(p.metadata["Postal Code"], "411001");
        assert_eq!(p.metadata["google_ads"]["campaign_id"], 50000000000u64);
        assert_eq!(p.metadata["google_ads"]["gcl_id"], "gcl-1");
        assert!(p.metadata.get("is_test").is_none());
        assert!(!Value::Object(p.metadata.clone()).to_string().contains("g-key"), "the key is not stored");
    }

    #[test]
    fn a_test_lead_is_flagged() {
        let lead = read_lead(&lead(json!({"is_test": true}))).unwrap().unwrap();
        assert_eq!(lead.payload.metadata["is_test"], true);
    }

    #[test]
    fn a_wrong_or_missing_key_is_unauthorized() {
        assert!(matches!(read_lead(&lead(json!({"google_key": "nope"}))), Err(SourceError::Unauthorized)));
        let mut body = lead(json!({}));
        body.as_object_mut().unwrap().remove("google_key");
        assert!(matches!(read_lead(&body), Err(SourceError::Unauthorized)));
        assert!(matches!(read_lead(&lead(json!({"google_key": 7}))), Err(SourceError::Unauthorized)));
    }

    #[test]
    fn first_and_last_names_join_and_unknown_fields_are_ignored() {
        let body = lead(json!({
            "brand_new_field": {"x": 1},
            "user_column_data": [
                {"string_value": "Asha", "column_id": "FIRST_NAME"},
                {"string_value": "Rao", "column_id": "LAST_NAME"},
                {"string_value": "+447911123456", "column_id": "PHONE_NUMBER", "unknown": true}
            ]
        }));
        let lead = read_lead(&body).unwrap().unwrap();
        assert_eq!(lead.payload.name.as_deref(), Some("Asha Rao"));
        assert_eq!(lead.payload.phone, "+447911123456");
    }

    #[test]
    fn a_lead_without_a_phone_is_refused_as_invalid() {
        let refused = read_lead(&lead(json!({"user_column_data": []}))).unwrap().unwrap_err();
        assert_eq!(refused.error.error, "missing_phone");
    }

    #[test]
    fn the_hash_does_not_depend_on_the_key_or_key_order() {
        let a = read_lead(&lead(json!({}))).unwrap().unwrap();
        let mut other = lead(json!({}));
        other["google_key"] = json!("g-key");
        let b = read_lead(&other).unwrap().unwrap();
        assert_eq!(a.body_hash, b.body_hash);
        let c = read_lead(&lead(json!({"gcl_id": "gcl-2"}))).unwrap().unwrap();
        assert_ne!(a.body_hash, c.body_hash);
    }
}
