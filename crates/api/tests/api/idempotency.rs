use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_idempotency_key_gets_the_first_response() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let body = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let headers = [("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", "row-7".to_string())];
    let first = app.post_raw(body.clone(), "application/json", &headers).await;
    assert_eq!(first.status().as_u16(), 201);
    let first_body = first.text().await.unwrap();
    let retry = app.post_raw(body, "application/json", &headers).await;
    assert_eq!(retry.status().as_u16(), 201, "the first status, not 200 duplicate");
    assert_eq!(retry.text().await.unwrap(), first_body);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_arriving_while_the_first_is_in_flight_get_its_response_and_one_lead() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let body = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let headers = vec![("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", "burst-1".to_string())];
    let sends = (0..12).map(|_| app.post_raw(body.clone(), "application/json", &headers));
    let responses = futures::future::join_all(sends).await;
    let mut answers = Vec::new();
    for response in responses {
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(answers[0].0, 201);
    assert_eq!(app.lead_count().await, 1);
    let duplicates: i32 = app.db.query_one("select duplicate_count from public.leads", &[]).await.unwrap().get(0);
    assert_eq!(duplicates, 0, "retries must be answered by the service, not by the duplicate check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_key_with_a_different_body_gets_422() {
    let app = spawn_app().await;
    let headers = [("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", "k-1".to_string())];
    let first = app.post_raw(json!({"phone": "9876543210"}).to_string(), "application/json", &headers).await;
    assert_eq!(first.status().as_u16(), 202);
    let other = app.post_raw(json!({"phone": "9812345678"}).to_string(), "application/json", &headers).await;
    assert_eq!(other.status().as_u16(), 422);
    assert_eq!(json(other).await["error"], "idempotency_key_reused");
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_phone_within_24h_returns_the_original_lead() {
    let app = spawn_app().await;
    let caller = app.add_caller("Ravi", &["MH"]).await;
    let first = json(app.post_json(&json!({"phone": "9876543210", "state": "MH"})).await).await;
    let again = app.post_json(&json!({"phone": "+919876543210", "name": "Someone else"})).await;
    assert_eq!(again.status().as_u16(), 200);
    let again = json(again).await;
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["lead_id"], first["lead_id"]);
    assert_eq!(again["caller"]["id"], caller);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_255_characters_gets_400_and_stores_nothing() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let body = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let long = "k".repeat(256);
    let keyed = [("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", long.clone())];
    let signed = standard_headers(&long, now_secs(), &body);
    for headers in [keyed.to_vec(), signed] {
        let response = app.post_raw(body.clone(), "application/json", &headers).await;
        assert_eq!(response.status().as_u16(), 400);
        let error = json(response).await;
        assert_eq!(error["error"], "idempotency_key_too_long");
        assert!(error["message"].as_str().is_some_and(|m| m.contains("255")), "{error}");
    }
    assert_eq!(app.lead_count().await, 0);
    let at_limit = [("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", "k".repeat(255))];
    assert_eq!(app.post_raw(body, "application/json", &at_limit).await.status().as_u16(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_standard_webhooks_delivery_with_a_fresh_idempotency_key_gets_the_first_answer() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let body = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let mut headers = standard_headers("msg_2Kq9", now_secs(), &body);
    headers.push(("Idempotency-Key", "fresh-1".to_string()));
    let first = app.post_raw(body.clone(), "application/json", &headers).await;
    assert_eq!(first.status().as_u16(), 201);
    let first_body = first.text().await.unwrap();
    headers.last_mut().unwrap().1 = "fresh-2".to_string();
    let replay = app.post_raw(body, "application/json", &headers).await;
    assert_eq!(replay.status().as_u16(), 201, "the first answer, not 200 duplicate");
    assert_eq!(replay.headers().get("Idempotent-Replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(replay.text().await.unwrap(), first_body);
    assert_eq!(app.lead_count().await, 1);
    let duplicates: i32 = app.db.query_one("select duplicate_count from public.leads", &[]).await.unwrap().get(0);
    assert_eq!(duplicates, 0, "the replay must be answered by the service, not reach the database");
}

/// Another instance of the service over the same localbase (and database)
/// as `app`, with an empty in-process front: as after a restart, or a retry
/// that a load balancer sends elsewhere.
async fn another_instance(app: &TestApp) -> String {
    let settings = settings_for(app.base.as_ref().expect("the app owns its localbase"), &[]);
    let instance = bloc_api::Application::start(settings).await.expect("second instance starts");
    let address = format!("http://127.0.0.1:{}", instance.port());
    tokio::spawn(instance.run_until_stopped());
    address
}

async fn post_to(app: &TestApp, address: &str, body: &str, headers: &[(&str, String)]) -> (u16, Option<String>, String) {
    let mut request =
        app.client.post(format!("{address}/api/ingest")).header("Content-Type", "application/json").body(body.to_string());
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response.headers().get("Idempotent-Replayed").map(|v| v.to_str().unwrap().to_string());
    (status, replayed, response.text().await.unwrap())
}

async fn duplicate_counts(app: &TestApp) -> i64 {
    app.db.query_one("select coalesce(sum(duplicate_count), 0)::bigint from public.leads", &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_answered_by_one_instance_is_replayed_byte_for_byte_by_another() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let other = another_instance(&app).await;
    let single = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let array = json!([{"phone": "9812345678", "state": "MH"}, {"name": "no phone"}, {"phone": "9812345679"}]).to_string();
    let headers = |key: &str| vec![("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", key.to_string())];

    let first_single = post_to(&app, &app.address, &single, &headers("lead-1")).await;
    let first_array = post_to(&app, &app.address, &array, &headers("sheet-1")).await;
    let replayed_single = post_to(&app, &other, &single, &headers("lead-1")).await;
    let replayed_array = post_to(&app, &other, &array, &headers("sheet-1")).await;

    assert_eq!(first_single.0, 201);
    assert_eq!(first_single.1, None);
    assert_eq!(replayed_single, (201, Some("true".to_string()), first_single.2.clone()), "the first answer, byte for byte");
    assert_eq!(first_array.0, 200);
    assert_eq!(replayed_array, (200, Some("true".to_string()), first_array.2.clone()));
    assert!(!replayed_single.2.contains("replayed"), "the flag is a header, not part of the body");
    assert_eq!(app.lead_count().await, 3);
    assert_eq!(duplicate_counts(&app).await, 0, "the replays were answered from the delivery record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_new_instance_replays_the_first_answer() {
    let app = spawn_app_with(&[("BATCHING", "off")]).await;
    app.add_caller("Ravi", &["MH"]).await;
    let body = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let mut headers = standard_headers("msg_restart", now_secs(), &body);

    let first = post_to(&app, &app.address, &body, &headers).await;
    let restarted = another_instance(&app).await;
    headers.push(("Idempotency-Key", "ignored-for-standard-webhooks".to_string()));
    let replay = post_to(&app, &restarted, &body, &headers).await;

    assert_eq!(first.0, 201);
    assert_eq!(replay, (201, Some("true".to_string()), first.2));
    assert_eq!(app.lead_count().await, 1);
    let rows: i64 = app.db.query_one("select count(*) from engine.deliveries", &[]).await.unwrap().get(0);
    assert_eq!(rows, 1, "one record, written with the lead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_reused_with_another_body_on_another_instance_gets_422_and_stores_nothing() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let other = another_instance(&app).await;
    let headers = [("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", "k-1".to_string())];
    let first = post_to(&app, &app.address, &json!({"phone": "9876543210"}).to_string(), &headers).await;

    let single = post_to(&app, &other, &json!({"phone": "9812345678"}).to_string(), &headers).await;
    let array = post_to(&app, &other, &json!([{"phone": "9812345679"}, {"phone": "9812345670"}]).to_string(), &headers).await;

    assert_eq!(first.0, 201);
    for (status, replayed, body) in [single, array] {
        assert_eq!(status, 422);
        assert_eq!(replayed, None);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "idempotency_key_reused");
    }
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_with_different_secrets_do_not_share_idempotency_keys() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let key = ("Idempotency-Key", "row-1".to_string());

    let one = app
        .post_raw(json!({"phone": "9876543210"}).to_string(), "application/json", &[("X-Webhook-Secret", SECRET.to_string()), key.clone()])
        .await;
    let two = app
        .post_raw(json!({"phone": "9812345678"}).to_string(), "application/json", &[("X-Webhook-Secret", OTHER_SECRET.to_string()), key])
        .await;

    assert_eq!(one.status().as_u16(), 201);
    assert_eq!(two.status().as_u16(), 201, "another sender's key is its own");
    assert_eq!(app.lead_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_not_stored_and_the_retry_is_processed_afresh() {
    let app = spawn_app_with(&[("RPC_TIMEOUT_MS", "1500"), ("BATCHING", "off")]).await;
    app.add_caller("Ravi", &["MH"]).await;
    let body = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let headers = [("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", "slow-1".to_string())];
    // Hold the lead's phone lock, so the RPC waits past RPC_TIMEOUT_MS; then
    // cancel it, so its transaction rolls back.
    let (holder, connection) = tokio_postgres::connect(app.base.as_ref().unwrap().db_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    holder.batch_execute("begin; select pg_advisory_xact_lock(1112297284, hashtext('+919876543210'))").await.unwrap();

    let refused = post_to(&app, &app.address, &body, &headers).await;
    let cancelled: i64 = app
        .db
        .query_one(
            "select count(*) from (select pg_cancel_backend(pid) from pg_stat_activity
              where query like '%ingest_lead%' and pid <> pg_backend_pid() and state = 'active') c",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    holder.batch_execute("rollback").await.unwrap();
    // The sender retries 5xx answers with the same key, as Make.com does (a
    // loaded machine may need more than one try within RPC_TIMEOUT_MS).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut retry = post_to(&app, &app.address, &body, &headers).await;
    while retry.0 == 503 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        retry = post_to(&app, &app.address, &body, &headers).await;
    }

    assert_eq!(refused.0, 503, "{refused:?}");
    assert_eq!(cancelled, 1, "the waiting RPC was found and cancelled");
    assert_eq!(retry.0, 201, "processed afresh: {retry:?}");
    assert_eq!(retry.1, None, "not a replay of the 503");
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deliveries_forgets_records_older_than_24_hours_through_postgrest() {
    let app = spawn_app().await;
    app.db
        .batch_execute(
            "insert into engine.deliveries (sender, key, item, body_hash, result, received_at) values
               ('secret-a', 'old', 0, repeat('a', 64), '{}', now() - interval '25 hours'),
               ('secret-a', 'new', 0, repeat('a', 64), '{}', now() - interval '23 hours')",
        )
        .await
        .unwrap();
    let rest = bloc_api::rpc::Rest::new(&settings_for(app.base.as_ref().unwrap(), &[]));

    let purged = rest.maintenance("purge_deliveries").await.unwrap();

    assert_eq!(purged, json!(1));
    let left: String = app.db.query_one("select string_agg(key, ',') from engine.deliveries", &[]).await.unwrap().get(0);
    assert_eq!(left, "new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_timestamp_signed_delivery_under_a_new_idempotency_key_stores_nothing_new_and_gets_the_first_answer() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    // A window of 0 treats every lead as new: only the delivery's key can
    // tell a replay from a new lead (before, the replay stored a second one).
    app.db.batch_execute("update public.settings set duplicate_window = interval '0'").await.unwrap();
    let other = another_instance(&app).await;
    let body = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let signed = timestamped_headers(SECRET, &now_secs().to_string(), &body);
    let with_key = |key: &str| {
        let mut headers = signed.clone();
        headers.push(("Idempotency-Key", key.to_string()));
        headers
    };

    let first = post_to(&app, &app.address, &body, &with_key("sheet-1-row-7")).await;
    let new_key = post_to(&app, &app.address, &body, &with_key("captured-and-replayed")).await;
    let no_key = post_to(&app, &app.address, &body, &signed).await;
    let elsewhere = post_to(&app, &other, &body, &with_key("another-fresh-key")).await;

    assert_eq!(first.0, 201);
    assert_eq!(first.1, None);
    for replay in [new_key, no_key, elsewhere] {
        assert_eq!(replay, (201, Some("true".to_string()), first.2.clone()), "the first answer, byte for byte");
    }
    assert_eq!(app.lead_count().await, 1, "nothing new stored");
    assert_eq!(duplicate_counts(&app).await, 0, "answered from the delivery record, not by the duplicate check");
    let records: i64 = app.db.query_one("select count(*) from engine.deliveries", &[]).await.unwrap().get(0);
    assert_eq!(records, 1, "one delivery");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_signed_retry_gets_the_first_answer_and_a_newly_signed_one_is_a_new_delivery() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let body = json!({"phone": "9876543210", "state": "MH"}).to_string();
    let now = now_secs();
    // Make.com's retries of a failed module send the same timestamp, so the
    // same signature; a scenario run again signs a new one.
    let mut first_attempt = timestamped_headers(SECRET, &now.to_string(), &body);
    first_attempt.push(("Idempotency-Key", "sheet-1-row-7".to_string()));
    let mut signed_again = timestamped_headers(SECRET, &(now - 1).to_string(), &body);
    signed_again.push(("Idempotency-Key", "sheet-1-row-7".to_string()));
    let other_lead = json!({"phone": "9812345678", "state": "MH"}).to_string();

    let first = post_to(&app, &app.address, &body, &first_attempt).await;
    let retry = post_to(&app, &app.address, &body, &first_attempt).await;
    let again = post_to(&app, &app.address, &body, &signed_again).await;
    let second_lead =
        post_to(&app, &app.address, &other_lead, &timestamped_headers(SECRET, &now.to_string(), &other_lead)).await;

    assert_eq!(first.0, 201);
    assert_eq!(retry, (201, Some("true".to_string()), first.2.clone()));
    assert_eq!(again.0, 200, "a new delivery of the same phone: the duplicate window answers it");
    assert_eq!(again.1, None);
    assert_eq!(json_of(&again.2)["status"], "duplicate");
    assert_eq!(json_of(&again.2)["lead_id"], json_of(&first.2)["lead_id"]);
    assert_eq!(second_lead.0, 201, "another body signed in the same second is another delivery");
    assert_eq!(app.lead_count().await, 2);
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}
