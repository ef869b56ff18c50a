//! What PostgREST answers the service itself: a refusal (401/403/404) is a
//! misconfiguration, not an outage; and its error text never carries a
//! full phone into the logs.

use std::time::Duration;

use bloc_api::readiness::READINESS_TTL;
use bloc_api::Application;
use localbase::{Config, LocalBase};
use serde_json::json;

use crate::helpers::*;

async fn get(app: &TestApp, address: &str, path: &str) -> reqwest::Response {
    app.client.get(format!("{address}{path}")).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refuses_to_start_with_a_service_key_postgrest_refuses() {
    let base = LocalBase::start(Config::for_tests()).await.expect("localbase starts");
    let settings = settings_for(&base, &[("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_not_this_projects_key")]);

    let refused = Application::start(settings).await.err().expect("the service must not start");

    let message = refused.to_string();
    assert!(message.contains("401"), "{message}");
    assert!(message.contains("SUPABASE_SERVICE_ROLE_KEY"), "{message}");
    assert!(!message.contains("sb_secret_not_this_projects_key"), "the key itself is not printed: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refuses_to_start_when_postgrest_has_no_settings_table() {
    let base = LocalBase::start(Config::for_tests()).await.expect("localbase starts");
    let (db, connection) = tokio_postgres::connect(base.db_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    db.batch_execute("alter table public.settings rename to settings_elsewhere; notify pgrst, 'reload schema';")
        .await
        .unwrap();
    wait_for_schema(&base, "settings?select=id&limit=1", None, false).await;

    let refused = Application::start(settings_for(&base, &[])).await.err().expect("the service must not start");

    let message = refused.to_string();
    assert!(message.contains("404"), "{message}");
    assert!(message.contains("migrations"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_starts_when_postgrest_is_merely_unreachable_and_says_it_is_not_ready() {
    let base = LocalBase::start(Config::for_tests()).await.expect("localbase starts");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unreachable = format!("http://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let settings = settings_for(&base, &[("SUPABASE_URL", &unreachable)]);

    let app = Application::start(settings).await.expect("a transient fault does not stop the start");

    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let response = reqwest::get(format!("{address}/readyz")).await.unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
    assert_eq!(json(response).await, json!({"status": "unavailable"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_postgrest_refuses_for_a_missing_rpc_gets_a_distinct_5xx_and_is_stored_after_the_fix() {
    let logs = capture_logs();
    let app = spawn_app().await;
    app.db
        .batch_execute(
            "alter function public.ingest_lead(jsonb) rename to ingest_lead_elsewhere; \
             alter function public.ingest_leads(jsonb) rename to ingest_leads_elsewhere; notify pgrst, 'reload schema';",
        )
        .await
        .unwrap();
    let base = app.base.as_ref().unwrap();
    wait_for_schema(base, "rpc/ingest_lead", Some(r#"{"payload":null}"#), false).await;
    wait_for_schema(base, "rpc/ingest_leads", Some(r#"{"payloads":null}"#), false).await;
    let keyed = [("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", "after-the-fix".to_string())];
    let body = json!({"phone": "9876543210"}).to_string();

    let refused = app.post_raw(body.clone(), "application/json", &keyed).await;

    assert_eq!(refused.status().as_u16(), 500);
    assert!(refused.headers().get("retry-after").is_none(), "not an outage to wait out");
    assert_eq!(json(refused).await["error"], "upstream_misconfigured");
    assert_eq!(app.lead_count().await, 0);
    let text = logs.text();
    assert!(text.contains("ERROR") && text.contains("the RPC or table is missing"), "{text}");

    app.db
        .batch_execute(
            "alter function public.ingest_lead_elsewhere(jsonb) rename to ingest_lead; \
             alter function public.ingest_leads_elsewhere(jsonb) rename to ingest_leads; notify pgrst, 'reload schema';",
        )
        .await
        .unwrap();
    wait_for_schema(base, "rpc/ingest_lead", Some(r#"{"payload":null}"#), true).await;
    wait_for_schema(base, "rpc/ingest_leads", Some(r#"{"payloads":null}"#), true).await;
    let redelivered = app.post_raw(body, "application/json", &keyed).await;
    assert_eq!(redelivered.status().as_u16(), 202, "a 5xx is not kept for replay");
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reuses_its_answer_for_a_few_seconds_then_names_a_refusal_as_misconfigured() {
    let app = spawn_app().await;
    assert_eq!(get(&app, &app.address, "/readyz").await.status().as_u16(), 200);
    app.db.batch_execute("revoke select on public.settings from service_role").await.unwrap();

    let cached = get(&app, &app.address, "/readyz").await;
    assert_eq!(cached.status().as_u16(), 200, "within the cache period PostgREST is not asked again");

    tokio::time::sleep(READINESS_TTL + Duration::from_millis(300)).await;
    let refused = get(&app, &app.address, "/readyz").await;
    assert_eq!(refused.status().as_u16(), 503);
    let body = json(refused).await;
    assert_eq!(body["status"], "misconfigured");
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("403") && reason.contains("grants"), "{reason}");
}

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
