//! WhatsApp Cloud API: each inbound message is a lead (a repeat from the
//! same number within the duplicate window is a duplicate, as for any
//! source).
//!
//! `{"object":"whatsapp_business_account","entry":[{"id","changes":[{"field":"messages",
//! "value":{"metadata":{…},"contacts":[{"profile":{"name"},"wa_id"}],
//! "messages":[{"from","id","timestamp","type","text":{"body"}}]}}]}]}`.
//! Status callbacks (`value.statuses`: sent, delivered, read) and other
//! fields are not leads and are ignored; the route still answers 200, since
//! refusing them makes Meta disable the subscription.
//!
//! The phone is `wa_id` (international digits without `+`), the name the
//! profile's. The message's text, and its type, go to
//! `metadata.whatsapp_message`; a click-to-WhatsApp ad's `referral` is kept
//! as sent.

use bloc_shared::fields::RawLead;
use bloc_shared::ingest::{normalize_lead, ApiError};
use bloc_shared::phone::PhoneRegion;
use serde_json::{json, Map, Value};

use super::{canonical_hash, id_text, json_object, RefusedItem, SourceError, SourceLead};

/// The idempotency sender id of this source.
pub const SENDER: &str = "whatsapp";
/// The `source` of its leads.
pub const SOURCE: &str = "WhatsApp";

/// The leads of a delivery (one per inbound message), and the messages
/// that cannot be leads. 400 only for a body that is not a JSON object.
pub fn read(body: &[u8], region: PhoneRegion) -> Result<Vec<Result<SourceLead, RefusedItem>>, SourceError> {
    let object = json_object(body)?;
    let mut out = Vec::new();
    for entry in array(object.get("entry")) {
        let account = id_text(entry.get("id"));
        for change in array(entry.get("changes")) {
            if change.get("field").and_then(Value::as_str) != Some("messages") {
                continue;
            }
            let Some(value) = change.get("value") else { continue };
            let contacts = array(value.get("contacts"));
            for message in array(value.get("messages")) {
                let Some(message_id) = id_text(message.get("id")) else {
                    tracing::info!("whatsapp message without an id ignored");
                    continue;
                };
                out.push(lead(message, message_id, contacts, value.get("metadata"), account.as_deref(), region));
            }
        }
    }
    Ok(out)
}

fn lead(
    message: &Value,
    message_id: String,
    contacts: &[Value],
    phone_metadata: Option<&Value>,
    account: Option<&str>,
    region: PhoneRegion,
) -> Result<SourceLead, RefusedItem> {
    let from = id_text(message.get("from"));
    let contact = contacts
        .iter()
        .find(|c| from.is_some() && id_text(c.get("wa_id")) == from)
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
    let wa_id = contact.and_then(|c| id_text(c.get("wa_id"))).or(from.clone());
    let Some(wa_id) = wa_id else {
        return Err(RefusedItem {
            key: message_id,
            error: ApiError::new("missing_phone", "the message names no sender").with_field("phone", "is required"),
        });
    };
    let kind = message.get("type").and_then(Value::as_str).unwrap_or("unknown").to_owned();

    let mut raw = RawLead {
        // wa_id is the international number without '+'.
        phone: Some(if wa_id.starts_with('+') { wa_id.clone() } else { format!("+{wa_id}") }),
        name: contact.and_then(|c| c.pointer("/profile/name")).and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
        source: Some(SOURCE.to_owned()),
        ..RawLead::default()
    };
    let mut ids = Map::new();
    ids.insert("message_id".into(), Value::String(message_id.clone()));
    ids.insert("wa_id".into(), Value::String(wa_id));
    if let Some(timestamp) = id_text(message.get("timestamp")) {
        ids.insert("timestamp".into(), Value::String(timestamp));
    }
    for key in ["phone_number_id", "display_phone_number"] {
        if let Some(v) = phone_metadata.and_then(|m| id_text(m.get(key))) {
            ids.insert(key.into(), Value::String(v));
        }
    }
    if let Some(account) = account {
        ids.insert("business_account_id".into(), Value::String(account.to_owned()));
    }
    raw.metadata.insert("whatsapp".into(), Value::Object(ids));
    raw.metadata.insert("whatsapp_message".into(), json!({"type": kind, "text": message_text(message, &kind)}));
    if let Some(referral) = message.get("referral").filter(|r| r.is_object()) {
        raw.metadata.insert("referral".into(), referral.clone());
    }

    let body_hash = canonical_hash(&json!({"message": message, "contact": contact}));
    match normalize_lead(raw, region) {
        Ok(payload) => Ok(SourceLead { payload, key: message_id, body_hash }),
        Err(error) => Err(RefusedItem { key: message_id, error }),
    }
}

/// The readable text of a message of `kind`, where it has one.
fn message_text(message: &Value, kind: &str) -> Option<String> {
    let pointers: &[&str] = match kind {
        "text" => &["/text/body"],
        "button" => &["/button/text"],
        "interactive" => &["/interactive/button_reply/title", "/interactive/list_reply/title"],
        "image" | "video" | "document" => &["/image/caption", "/video/caption", "/document/caption"],
        "location" => &["/location/name", "/location/address"],
        "reaction" => &["/reaction/emoji"],
        _ => &[],
    };
    pointers.iter().find_map(|p| message.pointer(p).and_then(Value::as_str)).map(str::to_owned)
}

fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn delivery() -> Value {
        json!({"object": "whatsapp_business_account", "entry": [
            {"id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}, {"profile": {"name": "Asha"}, "wa_id": "919876543210"}],
                "messages": [
                    {"from": "16505551234", "id": "wamid.A1", "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in another color?"}},
                    {"from": "919876543210", "id": "wamid.A2", "timestamp": "1749416384", "type": "button", "button": {"text": "Call me", "payload": "x"},
                     "referral": {"source_url": "https://fb.me/x", "source_id": "120", "source_type": "ad", "headline": "Offer", "ctwa_clid": "c1"}}
                ]
            }}]},
            {"id": "102290129340398", "changes": [
                {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
                    "statuses": [{"id": "wamid.S1", "status": "delivered", "timestamp": "1749416390", "recipient_id": "16505551234"}]}},
                {"field": "message_template_status_update", "value": {"event": "APPROVED"}}
            ]}
        ]})
    }

    #[test]
    fn each_inbound_message_is_a_lead_with_wa_id_as_phone_and_profile_name() {
        let leads: Vec<SourceLead> =
            read(delivery().to_string().as_bytes(), PhoneRegion::IN).unwrap().into_iter().map(Result::unwrap).collect();
        assert_eq!(leads.len(), 2, "statuses and other fields are not leads");
        assert_eq!(leads[0].key, "wamid.A1");
        assert_eq!(leads[0].payload.phone, "+16505551234");
        assert_eq!(leads[0].payload.name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(leads[0].payload.source.as_deref(), Some(SOURCE));
        assert_eq!(leads[0].payload.metadata["whatsapp_message"], json!({"type": "text", "text": "Does it come in another color?"}));
        assert_eq!(leads[0].payload.metadata["whatsapp"]["phone_number_id"], "106540352242922");
        assert_eq!(leads[1].payload.phone, "+919876543210");
        assert_eq!(leads[1].payload.name.as_deref(), Some("Asha"));
        assert_eq!(leads[1].payload.metadata["whatsapp_message"]["text"], "Call me");
        assert_eq!(leads[1].payload.metadata["referral"]["ctwa_clid"], "c1");
    }

    #[test]
    fn a_status_only_delivery_has_no_leads() {
        let body = json!({"object": "whatsapp_business_account", "entry": [delivery()["entry"][1].clone()]});
        assert!(read(body.to_string().as_bytes(), PhoneRegion::IN).unwrap().is_empty());
    }

    #[test]
    fn a_message_from_an_unusable_number_is_refused_as_invalid() {
        let body = json!({"entry": [{"changes": [{"field": "messages", "value": {
            "messages": [{"from": "12", "id": "wamid.B", "type": "text", "text": {"body": "hi"}}]}}]}]});
        let items = read(body.to_string().as_bytes(), PhoneRegion::IN).unwrap();
        let refused = items[0].as_ref().unwrap_err();
        assert_eq!(refused.key, "wamid.B");
        assert_eq!(refused.error.error, "invalid_phone");
    }

    #[test]
    fn a_message_without_contacts_or_text_still_becomes_a_lead() {
        let body = json!({"entry": [{"changes": [{"field": "messages", "value": {
            "messages": [{"from": "447911123456", "id": "wamid.C", "type": "sticker", "sticker": {"id": "s"}}]}}]}]});
        let lead = read(body.to_string().as_bytes(), PhoneRegion::IN).unwrap().remove(0).unwrap();
        assert_eq!(lead.payload.phone, "+447911123456");
        assert_eq!(lead.payload.name, None);
        assert_eq!(lead.payload.metadata["whatsapp_message"], json!({"type": "sticker", "text": null}));
    }
}
