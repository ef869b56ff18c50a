//! `/api/sources/google-ads`, and every source's 404 when unconfigured.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::sources_helpers::*;

/// A lead in Google's documented webhook shape, with `extra` fields on top.
fn lead(lead_id: &str, extra: Value) -> String {
    let mut body = json!({
        "lead_id": lead_id,
        "api_version": "1.0",
        "form_id": 40000000000u64,
        "campaign_id": 50000000000u64,
        "adgroup_id": 20000000000u64,
        "creative_id": 30000000000u64,
        "gcl_id": "EAIaIQobChMI",
        "google_key": GOOGLE_KEY,
        "is_test": false,
        "a_field_google_added_later": {"nested": true},
        "user_column_data": [
            {"column_name": "Full Name", "string_value": "Asha Rao", "column_id": "FULL_NAME"},
            {"column_name": "User Phone", "string_value": "+91 98765 43210", "column_id": "PHONE_NUMBER"},
            {"column_name": "Region", "string_value": "Karnataka", "column_id": "REGION"},
            {"column_name": "City", "string_value": "Bengaluru", "column_id": "CITY"},
            {"column_name": "Which course?", "string_value": "MBA", "column_id": "which_course?"}
        ]
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    body.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_form_delivery_is_stored_with_its_state_custom_questions_and_ids() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    app.add_caller("Ravi", &["KA"]).await;
    let response = app.post_source("google-ads", &lead("lead-1", json!({})), &[]).await;
    assert_eq!(response.status().as_u16(), 200);
    let answer = json(response).await;
    assert_eq!(answer["results"][0]["key"], "lead-1");
    assert_eq!(answer["results"][0]["status"], "assigned");

    let (phone, name, state, source, metadata) = app.leads().await.remove(0);
    assert_eq!(phone, "+919876543210");
    assert_eq!(name.as_deref(), Some("Asha Rao"));
    assert_eq!(state.as_deref(), Some("KA"));
    assert_eq!(source.as_deref(), Some("Google Ads"));
    assert_eq!(metadata["Which course?"], "MBA");
    assert_eq!(metadata["google_ads"]["lead_id"], "lead-1");
    assert_eq!(metadata["google_ads"]["campaign_id"], 50000000000u64);
    assert!(metadata.get("is_test").is_none());
    assert!(!metadata.to_string().contains(GOOGLE_KEY), "the key is never stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_lead_is_stored_and_flagged() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let response = app.post_source("google-ads", &lead("test-lead", json!({"is_test": true})), &[]).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(app.leads().await[0].4["is_test"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_google_key_gets_401_and_stores_nothing() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let wrong = app.post_source("google-ads", &lead("lead-2", json!({"google_key": "guess"})), &[]).await;
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(json(wrong).await["error"], "unauthorized");
    let missing = lead("lead-2", json!({"google_key": null}));
    assert_eq!(app.post_source("google-ads", &missing, &[]).await.status().as_u16(), 401);
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_a_lead_gets_400_and_a_lead_without_a_phone_422() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    assert_eq!(app.post_source("google-ads", "{not json", &[]).await.status().as_u16(), 400);
    let no_id = json!({"google_key": GOOGLE_KEY, "user_column_data": []}).to_string();
    assert_eq!(app.post_source("google-ads", &no_id, &[]).await.status().as_u16(), 400);
    let no_phone = app.post_source("google-ads", &lead("lead-3", json!({"user_column_data": []})), &[]).await;
    assert_eq!(no_phone.status().as_u16(), 422);
    assert_eq!(json(no_phone).await["error"], "missing_phone");
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_lead_is_stored_once_with_the_same_lead_id_answered() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    let body = lead("lead-4", json!({}));
    let first = json(app.post_source("google-ads", &body, &[]).await).await;
    let again = app.post_source("google-ads", &body, &[]).await;
    assert_eq!(again.status().as_u16(), 200);
    let again = json(again).await;
    assert_eq!(again["results"][0]["lead_id"], first["results"][0]["lead_id"]);
    assert_eq!(again["results"][0]["status"], first["results"][0]["status"], "the first answer, not `duplicate`");
    assert_eq!(again["results"][0]["replayed"], true);
    assert_eq!(first["results"][0]["replayed"], false);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_lead_id_with_other_content_gets_422_and_stores_nothing_new() {
    let app = spawn_sources_app(&GraphStub::start(), &[]).await;
    assert_eq!(app.post_source("google-ads", &lead("lead-6", json!({})), &[]).await.status().as_u16(), 200);
    let changed = lead("lead-6", json!({"user_column_data": [{"column_id": "PHONE_NUMBER", "string_value": "+919812345678"}]}));
    let response = app.post_source("google-ads", &changed, &[]).await;
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(json(response).await["error"], "idempotency_key_reused");
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfigured_source_answers_404_like_an_unknown_path() {
    let app = spawn_app().await;
    let unknown = app.client.post(format!("{}/api/sources/myspace", app.address)).body("{}").send().await.unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    for source in ["google-ads", "meta", "whatsapp"] {
        let post = app.post_source(source, &lead("lead-5", json!({})), &[]).await;
        assert_eq!(post.status().as_u16(), 404, "POST {source}");
        assert_eq!(post.text().await.unwrap(), "", "POST {source}: the same empty answer as an unknown path");
    }
    for source in ["meta", "whatsapp"] {
        assert_eq!(app.verify_subscription(source, "any", "c").await.status().as_u16(), 404, "GET {source}");
    }
    assert_eq!(app.lead_count().await, 0);
}
