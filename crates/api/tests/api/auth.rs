use serde_json::json;

use crate::helpers::*;

fn lead_body(phone: &str) -> String {
    json!({"name": "Asha", "phone": phone, "state": "MH"}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_configured_shared_secret_is_accepted_for_rotation() {
    let app = spawn_app().await;
    for (i, secret) in [SECRET, OTHER_SECRET].iter().enumerate() {
        let body = lead_body(&format!("98765432{i}0"));
        let response = app.post_raw(body, "application/json", &[("X-Webhook-Secret", secret.to_string())]).await;
        assert_eq!(response.status().as_u16(), 202, "secret {i}");
    }
    assert_eq!(app.lead_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_credentials_get_the_same_401_and_store_nothing() {
    let app = spawn_app().await;
    let body = lead_body("9876543210");
    let attempts: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("X-Webhook-Secret", "not-the-secret".into())],
        vec![("X-Signature-256", signature_header("not-the-secret", &body))],
        vec![("X-Signature-256", "sha256=zz".into())],
        standard_headers("msg_bad", now_secs(), "{\"other\":\"body\"}"),
    ];
    let mut bodies = Vec::new();
    for headers in attempts {
        let response = app.post_raw(body.clone(), "application/json", &headers).await;
        assert_eq!(response.status().as_u16(), 401);
        bodies.push(json(response).await);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "401 bodies differ: {bodies:?}");
    assert_eq!(bodies[0]["error"], "unauthorized");
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hmac_signature_of_the_raw_body_is_accepted_and_of_another_body_refused() {
    let app = spawn_app().await;
    let body = lead_body("9876543210");
    let good = app.post_raw(body.clone(), "application/json", &[("X-Signature-256", signature_header(SECRET, &body))]).await;
    assert_eq!(good.status().as_u16(), 202);
    let tampered = lead_body("9812345678");
    let bad = app.post_raw(tampered, "application/json", &[("X-Signature-256", signature_header(SECRET, &body))]).await;
    assert_eq!(bad.status().as_u16(), 401);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_webhooks_delivery_is_accepted() {
    let app = spawn_app().await;
    let body = lead_body("9876543210");
    let response = app.post_raw(body.clone(), "application/json", &standard_headers("msg_1", now_secs(), &body)).await;
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_or_future_webhook_timestamp_gets_401() {
    let app = spawn_app().await;
    let body = lead_body("9876543210");
    for (id, ts) in [("msg_old", now_secs() - 400), ("msg_future", now_secs() + 400)] {
        let response = app.post_raw(body.clone(), "application/json", &standard_headers(id, ts, &body)).await;
        assert_eq!(response.status().as_u16(), 401, "{id}");
    }
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_webhook_timestamp_gets_401_and_the_service_keeps_serving() {
    let app = spawn_app().await;
    let body = lead_body("9876543210");
    for (id, ts) in [("msg_min", i64::MIN), ("msg_max", i64::MAX), ("msg_negative", -1)] {
        let response = app.post_raw(body.clone(), "application/json", &standard_headers(id, ts, &body)).await;
        assert_eq!(response.status().as_u16(), 401, "{id}");
    }
    let huge = [
        ("webhook-id", "msg_huge".to_string()),
        ("webhook-timestamp", "99999999999999999999999".to_string()),
        ("webhook-signature", "v1,AAAA".to_string()),
    ];
    assert_eq!(app.post_raw(body.clone(), "application/json", &huge).await.status().as_u16(), 401);
    let fresh = app.post_raw(body.clone(), "application/json", &standard_headers("msg_ok", now_secs(), &body)).await;
    assert_eq!(fresh.status().as_u16(), 202);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_webhook_id_gets_the_first_response_and_makes_no_second_lead() {
    let app = spawn_app().await;
    let body = lead_body("9876543210");
    let headers = standard_headers("msg_replay", now_secs(), &body);
    let first = app.post_raw(body.clone(), "application/json", &headers).await;
    let first_status = first.status().as_u16();
    let first_body = first.text().await.unwrap();
    let replay = app.post_raw(body.clone(), "application/json", &headers).await;
    assert_eq!(replay.status().as_u16(), first_status);
    assert_eq!(replay.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    assert_eq!(replay.text().await.unwrap(), first_body);
    assert_eq!(app.lead_count().await, 1);
    let duplicates: i32 = app.db.query_one("select duplicate_count from public.leads", &[]).await.unwrap().get(0);
    assert_eq!(duplicates, 0, "a replay must not even reach the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hmac_signature_over_a_fresh_timestamp_is_accepted() {
    let app = spawn_app().await;
    let body = lead_body("9876543210");
    let response = app.post_raw(body.clone(), "application/json", &timestamped_headers(SECRET, &now_secs().to_string(), &body)).await;
    assert_eq!(response.status().as_u16(), 202);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_future_forged_or_tampered_signed_timestamp_gets_401_and_stores_nothing() {
    let app = spawn_app().await;
    let body = lead_body("9876543210");
    let now = now_secs();
    let mut tampered = timestamped_headers(SECRET, &(now - 600).to_string(), &body);
    tampered[1].1 = now.to_string();
    let attempts = [
        ("stale", timestamped_headers(SECRET, &(now - 400).to_string(), &body)),
        ("future", timestamped_headers(SECRET, &(now + 400).to_string(), &body)),
        ("forged", timestamped_headers("not-the-secret", &now.to_string(), &body)),
        ("tampered timestamp", tampered),
        ("body-only signature with a timestamp added", vec![
            ("X-Signature-256", signature_header(SECRET, &body)),
            ("X-Signature-Timestamp", now.to_string()),
        ]),
    ];
    for (what, headers) in attempts {
        let response = app.post_raw(body.clone(), "application/json", &headers).await;
        assert_eq!(response.status().as_u16(), 401, "{what}");
        assert_eq!(json(response).await["error"], "unauthorized", "{what}");
    }
    let tampered_body = lead_body("9812345678");
    let signed_for_another_body = timestamped_headers(SECRET, &now.to_string(), &body);
    let response = app.post_raw(tampered_body, "application/json", &signed_for_another_body).await;
    assert_eq!(response.status().as_u16(), 401, "tampered body");
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_only_signature_is_refused_when_a_signed_timestamp_is_required() {
    let app = spawn_app_with(&[("REQUIRE_SIGNED_TIMESTAMP", "true")]).await;
    let body = lead_body("9876543210");
    let legacy = app.post_raw(body.clone(), "application/json", &[("X-Signature-256", signature_header(SECRET, &body))]).await;
    assert_eq!(legacy.status().as_u16(), 401);
    assert_eq!(app.lead_count().await, 0);
    let timestamped = app.post_raw(body.clone(), "application/json", &timestamped_headers(SECRET, &now_secs().to_string(), &body)).await;
    assert_eq!(timestamped.status().as_u16(), 202);
    assert_eq!(app.lead_count().await, 1);
}
