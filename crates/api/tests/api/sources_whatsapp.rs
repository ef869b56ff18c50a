//! `/api/sources/whatsapp`: WhatsApp Cloud API deliveries.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::sources_helpers::*;

fn message(from: &str, id: &str, text: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1764496800", "type": "text", "text": {"body": text}, "a_new_field": [1, 2]})
}

/// A delivery in the documented shape, messages from `contacts` (`(wa_id, name)`).
fn delivery(contacts: &[(&str, &str)], messages: Vec<Value>) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": contacts.iter().map(|(wa_id, name)| json!({"profile": {"name": name}, "wa_id": wa_id})).collect::<Vec<Value>>(),
        "messages": messages
    }}]}]})
    .to_string()
}

fn statuses() -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
            "statuses": [{"id": "wamid.S1", "status": "delivered", "timestamp": "1764496800", "recipient_id": "919876543210"},
                         {"id": "wamid.S2", "status": "read", "timestamp": "1764496801", "recipient_id": "919876543210"}]}},
        {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}
    ]}]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_inbound_message_becomes_a_lead_with_its_number_name_and_text() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let body = delivery(
        &[("919876543210", "Asha Rao"), ("447911123456", "Tom Baker")],
        vec![message("919876543210", "wamid.A1", "Is the 2BHK available?"), message("447911123456", "wamid.A2", "Price please")],
    );
    let response = app.post_signed("whatsapp", WHATSAPP_SECRET, &body).await;
    assert_eq!(response.status().as_u16(), 200);
    let answer = json(response).await;
    assert_eq!(answer["results"][0]["key"], "wamid.A1");
    assert_eq!(answer["results"][1]["key"], "wamid.A2");

    let leads = app.leads().await;
    assert_eq!(leads.len(), 2);
    let (phone, name, _, source, metadata) = &leads[0];
    assert_eq!(phone, "+919876543210");
    assert_eq!(name.as_deref(), Some("Asha Rao"));
    assert_eq!(source.as_deref(), Some("WhatsApp"));
    assert_eq!(metadata["whatsapp_message"], json!({"type": "text", "text": "Is the 2BHK available?"}));
    assert_eq!(metadata["whatsapp"]["message_id"], "wamid.A1");
    assert_eq!(leads[1].0, "+447911123456");
    assert_eq!(leads[1].1.as_deref(), Some("Tom Baker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_callbacks_and_other_fields_get_200_and_store_nothing() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let response = app.post_signed("whatsapp", WHATSAPP_SECRET, &statuses()).await;
    assert_eq!(response.status().as_u16(), 200, "refusing them makes Meta disable the subscription");
    assert_eq!(json(response).await["results"], json!([]));
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_signature_gets_401_and_stores_nothing() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let body = delivery(&[("919876543210", "Asha")], vec![message("919876543210", "wamid.F", "hi")]);
    assert_eq!(app.post_signed("whatsapp", META_SECRET, &body).await.status().as_u16(), 401, "another app's secret");
    let with_space = body.replacen(':', ": ", 1);
    let response = app.post_source("whatsapp", &with_space, &[("X-Hub-Signature-256", hub_signature(WHATSAPP_SECRET, &body))]).await;
    assert_eq!(response.status().as_u16(), 401, "the signature is over the raw bytes, not the JSON's meaning");
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_handshake_uses_the_whatsapp_token() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let ok = app.verify_subscription("whatsapp", WHATSAPP_TOKEN, "challenge-77").await;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "challenge-77");
    assert_eq!(app.verify_subscription("whatsapp", META_TOKEN, "challenge-77").await.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_is_stored_once_and_a_second_message_is_a_duplicate() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let first = delivery(&[("919876543210", "Asha")], vec![message("919876543210", "wamid.R1", "hello")]);
    let stored = json(app.post_signed("whatsapp", WHATSAPP_SECRET, &first).await).await;
    let redelivered = json(app.post_signed("whatsapp", WHATSAPP_SECRET, &first).await).await;
    assert_eq!(redelivered["results"][0]["lead_id"], stored["results"][0]["lead_id"]);
    assert_eq!(redelivered["results"][0]["replayed"], true);
    let follow_up = delivery(&[("919876543210", "Asha")], vec![message("919876543210", "wamid.R2", "are you there?")]);
    let answer = json(app.post_signed("whatsapp", WHATSAPP_SECRET, &follow_up).await).await;
    assert_eq!(answer["results"][0]["status"], "duplicate");
    assert_eq!(answer["results"][0]["replayed"], false, "another message id: the duplicate window answers, not a replay");
    assert_eq!(answer["results"][0]["lead_id"], stored["results"][0]["lead_id"]);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_a_number_that_is_not_a_phone_is_acknowledged_as_invalid() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let body = delivery(&[("12", "Bot")], vec![message("12", "wamid.X", "hi")]);
    let response = app.post_signed("whatsapp", WHATSAPP_SECRET, &body).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json(response).await["results"][0]["error"], "invalid_phone");
    assert_eq!(app.lead_count().await, 0);
}
