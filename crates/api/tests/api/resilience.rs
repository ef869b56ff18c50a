use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use localbase::{Config, LocalBase};
use pgcluster::{Cluster, ClusterOptions};
use serde_json::json;

use crate::helpers::*;

async fn readyz(app: &TestApp) -> u16 {
    app.client.get(format!("{}/readyz", app.address)).send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_stopped_mid_run_gives_503s_then_recovers() {
    // A cluster of our own under localbase, so it can be stopped and
    // restarted on the same port.
    let dir = tempfile::tempdir().unwrap();
    let mut options = ClusterOptions { dir: dir.path().join("pg"), port: None, durable: false };
    let start = options.clone();
    let mut cluster = tokio::task::spawn_blocking(move || Cluster::start(&start)).await.unwrap().expect("cluster starts");
    options.port = Some(cluster.port());
    let mut config = Config::for_tests();
    config.database_url = Some(cluster.url("postgres"));
    let base = LocalBase::start(config).await.expect("localbase starts");
    let db_url = base.db_url().to_string();
    let app = spawn_app_on(base, &[("RPC_TIMEOUT_MS", "2000")]).await;

    let before = app.post_json(&json!({"phone": "9876543210"})).await;
    assert_eq!(before.status().as_u16(), 202);

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    let keyed = [("X-Webhook-Secret", SECRET.to_string()), ("Idempotency-Key", "retry-me".to_string())];
    for phone in ["9812345680", "9812345681", "9812345682"] {
        let body = json!({"phone": phone}).to_string();
        let response = if phone == "9812345680" {
            app.post_raw(body, "application/json", &keyed).await
        } else {
            app.post_raw(body, "application/json", &[("X-Webhook-Secret", SECRET.to_string())]).await
        };
        assert_eq!(response.status().as_u16(), 503, "{phone} while the database is down");
        assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
        assert_eq!(json(response).await["error"], "unavailable");
    }
    let batch = app.post_json(&json!([{"phone": "9812345683"}])).await;
    assert_eq!(batch.status().as_u16(), 503);
    assert_eq!(readyz(&app).await, 503);

    let restart = options.clone();
    let _cluster =
        tokio::task::spawn_blocking(move || Cluster::start(&restart)).await.unwrap().expect("cluster restarts on its port");
    drop(cluster);
    let deadline = Instant::now() + Duration::from_secs(30);
    while readyz(&app).await != 200 {
        assert!(Instant::now() < deadline, "readyz did not recover within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The sender retries the first refused lead; the others it never retries.
    let mut retried = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while retried.is_none() {
        // Same Idempotency-Key as the refused attempt: a 503 is not kept, so it is processed afresh.
        let response = app.post_raw(json!({"phone": "9812345680"}).to_string(), "application/json", &keyed).await;
        if response.status().as_u16() == 202 {
            retried = Some(());
        } else {
            assert_eq!(response.status().as_u16(), 503);
            assert!(Instant::now() < deadline, "ingest did not recover within 30 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let (db, connection) = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let mut phones: Vec<String> =
        db.query("select phone from public.leads", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    phones.sort();
    assert_eq!(phones, ["+919812345680", "+919876543210"], "only acknowledged leads are stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_every_2xx_is_stored_and_nothing_refused_is() {
    let app = spawn_app().await;
    app.add_caller("Ravi", &["MH"]).await;
    app.add_caller("Meena", &["KA"]).await;
    // 150 distinct phones, 30 repeats of them, 20 invalid numbers.
    let mut bodies = Vec::new();
    for i in 0..150u64 {
        let state = ["MH", "KA", "TN"][i as usize % 3];
        bodies.push(json!({"phone": format!("98{:08}", 10_000_000 + i), "state": state}));
    }
    for i in 0..30u64 {
        bodies.push(json!({"phone": format!("+91 98{:08}", 10_000_000 + i * 5)}));
    }
    for i in 0..20u64 {
        bodies.push(json!({"phone": format!("{}", 100 + i)}));
    }
    let sends = bodies.iter().map(|b| app.post_json(b));
    let responses = futures::future::join_all(sends).await;

    let mut acknowledged: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let mut refused = 0;
    for (body, response) in bodies.iter().zip(responses) {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let answer: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("status {status}, body {text:?}"));
        match status {
            200..=202 => {
                let phone = body["phone"].as_str().unwrap().replace(['+', ' '], "");
                let phone = format!("+91{}", &phone[phone.len() - 10..]);
                acknowledged.entry(answer["lead_id"].as_i64().unwrap()).or_default().insert(phone);
            }
            422 => refused += 1,
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert_eq!(refused, 20);
    assert_eq!(acknowledged.len(), 150, "one lead per distinct phone");
    let rows = app.db.query("select id, phone from public.leads", &[]).await.unwrap();
    let stored: BTreeMap<i64, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(stored.len(), 150);
    for (id, phones) in &acknowledged {
        assert_eq!(phones.len(), 1, "lead {id} answered for several phones: {phones:?}");
        assert_eq!(stored.get(id), phones.iter().next(), "lead {id}");
    }
}
