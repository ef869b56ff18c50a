//! What PostgREST answers the service itself: a refusal (401/403/404) is a
//! misconfiguration, not an outage; and its error text never carries a
//! full phone into the logs.

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_error_quoting_the_lead_is_logged_with_its_phone_masked() {
    let logs = capture_logs();
    let app = spawn_app_with(&[("BATCHING", "off")]).await;
    // PostgreSQL quotes the failing row, phone included, in the error PostgREST passes on.
    app.db
        .batch_execute("alter table public.leads add constraint refuse_this_phone check (phone <> '+919876543210') not valid")
        .await
        .unwrap();

    let response = app.post_json(&json!({"phone": "9876543210", "name": "Asha"})).await;

    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(app.lead_count().await, 0);
    let text = logs.text();
    assert!(text.contains("refuse_this_phone"), "the upstream error is logged: {text}");
    assert!(text.contains("Failing row contains"), "with PostgreSQL's detail: {text}");
    assert!(text.contains("+91********10"), "{text}");
    assert!(!text.contains("9876543210"), "a full phone reached the log: {text}");
}
