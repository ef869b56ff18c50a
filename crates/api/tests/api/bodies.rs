use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_with_a_caller_for_its_state_is_assigned_with_201() {
    let app = spawn_app().await;
    let caller = app.add_caller("Ravi", &["MH"]).await;
    let response = app.post_json(&json!({"name": "Asha", "phone": "+91 98765-43210", "state": "Maharashtra"})).await;
    assert_eq!(response.status().as_u16(), 201);
    let body = json(response).await;
    assert_eq!(body["status"], "assigned");
    assert_eq!(body["caller"]["id"], caller);
    assert_eq!(body["caller"]["name"], "Ravi");
    assert_eq!(body["tier"], 1);
    assert!(body["reason"].is_string());
    let (phone, state, _) = app.lead(body["lead_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(phone, "+919876543210");
    assert_eq!(state.as_deref(), Some("MH"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_nobody_can_take_is_stored_unassigned_with_202() {
    let app = spawn_app().await;
    let response = app.post_json(&json!({"phone": "9876543210"})).await;
    assert_eq!(response.status().as_u16(), 202);
    let body = json(response).await;
    assert_eq!(body["status"], "unassigned");
    assert!(app.lead(body["lead_id"].as_i64().unwrap()).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_make_com_google_sheets_row_is_ingested_with_extra_columns_in_metadata() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["KA"]).await;
    let row = json!({
        "__ROW_NUMBER__": 12, "Full Name": "Kiran  Kumar", "Mobile Number": 919876543210u64,
        "State": " karnataka ", "City": "Bengaluru", "Email": "", "Preferred Language": "Kannada",
        "utm_source": "facebook", "Budget": "5-10 L", "Notes": ""
    });
    let response = app.post_json(&row).await;
    assert_eq!(response.status().as_u16(), 201);
    let id = json(response).await["lead_id"].as_i64().unwrap();
    let row = app
        .db
        .query_one("select phone, name, state, city, language, source, email, metadata from public.leads where id = $1", &[&id])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "+919876543210");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("Kiran Kumar"));
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("KA"));
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some("Bengaluru"));
    assert_eq!(row.get::<_, Option<String>>(4).as_deref(), Some("kn"));
    assert_eq!(row.get::<_, Option<String>>(5).as_deref(), Some("facebook"));
    assert_eq!(row.get::<_, Option<String>>(6), None);
    let metadata: serde_json::Value = row.get(7);
    assert_eq!(metadata, json!({"__ROW_NUMBER__": 12, "Budget": "5-10 L", "Notes": ""}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_encoded_lead_is_ingested() {
    let app = spawn_app().await;
    let body = "name=Asha+Rao&phone+number=098765+43210&state=tn&campaign=diwali";
    let response = app
        .post_raw(body.into(), "application/x-www-form-urlencoded", &[("X-Webhook-Secret", SECRET.into())])
        .await;
    assert_eq!(response.status().as_u16(), 202);
    let id = json(response).await["lead_id"].as_i64().unwrap();
    let (phone, state, metadata) = app.lead(id).await.unwrap();
    assert_eq!(phone, "+919876543210");
    assert_eq!(state.as_deref(), Some("TN"));
    assert_eq!(metadata, json!({"campaign": "diwali"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_each_item_in_order_and_a_bad_item_does_not_stop_the_others() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    let batch = json!([
        {"phone": "9876543210", "state": "MH"},
        {"phone": "not a phone"},
        "not an object",
        {"phone": "9812345678"},
        {"phone": "+91 98765 43210"}
    ]);
    let response = app.post_json(&batch).await;
    assert_eq!(response.status().as_u16(), 200);
    let results = json(response).await["results"].as_array().unwrap().clone();
    let statuses: Vec<&str> = results.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["assigned", "invalid", "invalid", "assigned", "duplicate"]);
    assert_eq!(results[1]["error"], "invalid_phone");
    assert_eq!(results[2]["error"], "not_an_object");
    assert_eq!(results[4]["lead_id"], results[0]["lead_id"]);
    assert!(results.iter().enumerate().all(|(i, r)| r["index"] == i));
    assert_eq!(app.lead_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mistakes_get_4xx_with_a_stable_code_and_store_nothing() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let secret = [("X-Webhook-Secret", SECRET.to_string())];
    let cases: Vec<(String, &str, u16, &str)> = vec![
        ("{\"phone\": ".into(), "application/json", 400, "malformed_body"),
        ("42".into(), "application/json", 400, "malformed_body"),
        ("phone,name\n1,2".into(), "text/csv", 415, "unsupported_media_type"),
        (format!("{{\"phone\":\"9876543210\",\"x\":\"{}\"}}", "a".repeat(3000)), "application/json", 413, "payload_too_large"),
        ("{\"name\":\"no phone\"}".into(), "application/json", 422, "missing_phone"),
        ("{\"phone\":\"12\"}".into(), "application/json", 422, "invalid_phone"),
        ("[]".into(), "application/json", 422, "empty_batch"),
    ];
    for (body, content_type, status, code) in cases {
        let response = app.post_raw(body, content_type, &secret).await;
        assert_eq!(response.status().as_u16(), status, "{code}");
        let error = json(response).await;
        assert_eq!(error["error"], code);
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let too_many: Vec<_> = (0..1001).map(|_| json!({"phone": "9876543210"})).collect();
    let response = app
        .post_raw(serde_json::to_string(&too_many).unwrap(), "application/json", &secret)
        .await;
    assert_eq!(response.status().as_u16(), 413, "1001 leads exceed the 2 KiB limit first");
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_a_thousand_leads_gets_422() {
    let app = spawn_app().await;
    let too_many: Vec<_> = (0..1001).map(|_| json!({"phone": "9876543210"})).collect();
    let response = app.post_json(&json!(too_many)).await;
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(json(response).await["error"], "too_many_leads");
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_batching_off_leads_are_ingested_one_rpc_each() {
    let app = spawn_app_with(&[("BATCHING", "off")]).await;
    app.add_caller("Ravi", &["DL"]).await;
    let response = app.post_json(&json!({"phone": "9876543210", "state": "New Delhi"})).await;
    assert_eq!(response.status().as_u16(), 201);
    let duplicate = app.post_json(&json!({"phone": "09876543210"})).await;
    assert_eq!(duplicate.status().as_u16(), 200);
    assert_eq!(json(duplicate).await["status"], "duplicate");
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_trickles_its_body_gets_408_within_the_deadline() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app_with(&[("BODY_READ_TIMEOUT_MS", "300")]).await;
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/ingest HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         X-Webhook-Secret: {SECRET}\r\nContent-Length: 100\r\n\r\n{{\"phone\": \"98765"
    );
    let started = Instant::now();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&received).contains("body_read_timeout") {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buffer[..n]),
            other => panic!("no 408 within 5 s ({other:?}); got {:?}", String::from_utf8_lossy(&received)),
        }
    }
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(app.lead_count().await, 0);
}
