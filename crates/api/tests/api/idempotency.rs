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
