//! Meta (Facebook and Instagram) Lead Ads: a signed delivery names new leads
//! by `leadgen_id`; each lead's answers are read from the Graph API.
//!
//! `{"object":"page","entry":[{"id","time","changes":[{"field":"leadgen",
//! "value":{"leadgen_id","page_id","form_id","ad_id","adgroup_id","created_time"}}]}]}`:
//! one delivery can carry several entries and changes. Changes of any other
//! field are ignored. The Graph API's `field_data` (`[{name, values}]`) is
//! matched like any sender's keys (`full_name`, `phone_number`, `email`,
//! `city`, `state`, …); custom questions go to `metadata` under their name.

use bloc_shared::fields::RawLead;
use bloc_shared::ingest::{normalize_lead, ApiError};
use bloc_shared::phone::PhoneRegion;
use serde_json::{Map, Value};

use super::graph::GraphLead;
use super::{canonical_hash, id_text, json_object, RefusedItem, SourceError, SourceLead};

/// The idempotency sender id of this source.
pub const SENDER: &str = "meta";
/// The `source` of its leads.
pub const SOURCE: &str = "Meta Lead Ads";

/// A lead a delivery announces, before it is read from the Graph API.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadgenRef {
    pub leadgen_id: String,
    /// The change's `value` as sent (page, form, ad ids).
    pub value: Map<String, Value>,
}

/// The leads a delivery announces, in order, and the `leadgen` changes that
/// name no usable id. 400 only for a body that is not a JSON object.
pub fn read(body: &[u8]) -> Result<Vec<Result<LeadgenRef, RefusedItem>>, SourceError> {
    let object = json_object(body)?;
    let mut out = Vec::new();
    for entry in object.get("entry").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        for change in entry.get("changes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            if change.get("field").and_then(Value::as_str) != Some("leadgen") {
                continue;
            }
            let Some(value) = change.get("value").and_then(Value::as_object) else { continue };
            out.push(match id_text(value.get("leadgen_id")) {
                Some(id) if is_graph_id(&id) => Ok(LeadgenRef { leadgen_id: id, value: value.clone() }),
                other => Err(RefusedItem {
                    key: other.unwrap_or_default(),
                    error: ApiError::new("invalid_leadgen_id", "a leadgen change without a numeric leadgen_id"),
                }),
            });
        }
    }
    Ok(out)
}

/// Graph object ids are digits (at most 32 of them); anything else could
/// change the request path.
fn is_graph_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

/// The lead `reference` names, from its Graph API answer.
pub fn to_lead(reference: &LeadgenRef, lead: &GraphLead, region: PhoneRegion) -> Result<SourceLead, RefusedItem> {
    let pairs = lead.field_data.iter().filter(|f| !f.values.is_empty()).map(|f| (f.name.clone(), f.values.join(", ")));
    let mut raw = RawLead::from_pairs(pairs);
    if let Some(sent) = raw.source.replace(SOURCE.to_owned()) {
        raw.metadata.insert("form_source".into(), Value::String(sent));
    }
    let mut ids = reference.value.clone();
    for (key, value) in [
        ("created_time", lead.created_time.clone()),
        ("campaign_id", lead.campaign_id.clone()),
        ("adset_id", lead.adset_id.clone()),
        ("platform", lead.platform.clone()),
    ] {
        if let Some(value) = value {
            ids.entry(key).or_insert(Value::String(value));
        }
    }
    if let Some(organic) = lead.is_organic {
        ids.insert("is_organic".into(), Value::Bool(organic));
    }
    raw.metadata.insert("meta".into(), Value::Object(ids));
    let key = reference.leadgen_id.clone();
    match normalize_lead(raw, region) {
        Ok(payload) => Ok(SourceLead { payload, key, body_hash: canonical_hash(&Value::Object(reference.value.clone())) }),
        Err(error) => Err(RefusedItem { key, error }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::graph::FieldData;
    use super::*;
    use serde_json::json;

    fn delivery() -> Value {
        json!({"object": "page", "entry": [
            {"id": "153125381133", "time": 1438292065, "changes": [
                {"field": "leadgen", "value": {"leadgen_id": "123123123123", "page_id": "153125381133", "form_id": "567567567567", "adgroup_id": 0, "ad_id": 0, "created_time": 1438292065}},
                {"field": "feed", "value": {"item": "status"}}
            ]},
            {"id": "153125381133", "time": 1438292066, "unknown": [1], "changes": [
                {"field": "leadgen", "value": {"leadgen_id": 444444444444u64, "page_id": "153125381133", "form_id": "567567567567", "created_time": 1438292066, "new_thing": true}}
            ]}
        ]})
    }

    fn graph_lead(id: &str, fields: &[(&str, &str)]) -> GraphLead {
        GraphLead {
            id: id.into(),
            created_time: Some("2026-11-30T10:00:00+0000".into()),
            field_data: fields.iter().map(|(n, v)| FieldData { name: (*n).into(), values: vec![(*v).into()] }).collect(),
            ad_id: None,
            adset_id: None,
            campaign_id: Some("999".into()),
            form_id: None,
            platform: Some("ig".into()),
            is_organic: Some(false),
        }
    }

    #[test]
    fn every_leadgen_change_of_every_entry_is_read_and_other_fields_are_ignored() {
        let refs = read(delivery().to_string().as_bytes()).unwrap();
        let ids: Vec<String> = refs.into_iter().map(|r| r.unwrap().leadgen_id).collect();
        assert_eq!(ids, ["123123123123", "444444444444"]);
    }

    #[test]
    fn a_leadgen_id_that_is_not_a_graph_id_is_refused_without_a_request() {
        let body = json!({"object": "page", "entry": [{"changes": [{"field": "leadgen", "value": {"leadgen_id": "../me"}}]}]});
        let refs = read(body.to_string().as_bytes()).unwrap();
        assert_eq!(refs[0].as_ref().unwrap_err().error.error, "invalid_leadgen_id");
    }

    #[test]
    fn field_data_maps_like_any_senders_keys_and_custom_questions_go_to_metadata() {
        let refs = read(delivery().to_string().as_bytes()).unwrap();
        let reference = refs[0].as_ref().unwrap();
        let lead = graph_lead(
            "123123123123",
            &[("full_name", "Asha Rao"), ("phone_number", "+971501234567"), ("email", "a@b.co"), ("state", "Kerala"), ("what_is_your_budget?", "10 lakh")],
        );
        let lead = to_lead(reference, &lead, PhoneRegion::IN).unwrap();
        assert_eq!(lead.key, "123123123123");
        assert_eq!(lead.payload.phone, "+971501234567");
        assert_eq!(lead.payload.name.as_deref(), Some("Asha Rao"));
        assert_eq!(lead.payload.state.as_deref(), Some("KL"));
        assert_eq!(lead.payload.source.as_deref(), Some(SOURCE));
        assert_eq!(lead.payload.metadata["what_is_your_budget?"], "10 lakh");
        assert_eq!(lead.payload.metadata["meta"]["form_id"], "567567567567");
        assert_eq!(lead.payload.metadata["meta"]["platform"], "ig");
        assert_eq!(lead.payload.metadata["meta"]["campaign_id"], "999");
    }

    #[test]
    fn the_hash_is_the_changes_own_and_not_the_deliverys() {
        let refs = read(delivery().to_string().as_bytes()).unwrap();
        let alone = json!({"object": "page", "entry": [{"changes": [{"field": "leadgen", "value": delivery()["entry"][0]["changes"][0]["value"]}]}]});
        let alone = read(alone.to_string().as_bytes()).unwrap();
        let lead = graph_lead("123123123123", &[("phone_number", "9876543210")]);
        let in_batch = to_lead(refs[0].as_ref().unwrap(), &lead, PhoneRegion::IN).unwrap();
        let on_its_own = to_lead(alone[0].as_ref().unwrap(), &lead, PhoneRegion::IN).unwrap();
        assert_eq!(in_batch.body_hash, on_its_own.body_hash);
    }

    #[test]
    fn a_lead_without_a_phone_is_refused_as_invalid() {
        let refs = read(delivery().to_string().as_bytes()).unwrap();
        let refused = to_lead(refs[0].as_ref().unwrap(), &graph_lead("1", &[("email", "a@b.co")]), PhoneRegion::IN);
        assert_eq!(refused.unwrap_err().error.error, "missing_phone");
    }
}
