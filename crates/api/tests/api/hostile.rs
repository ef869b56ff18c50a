//! Hostile or careless senders: floods, spoofed client addresses, too many
//! connections. All tests send from loopback addresses; Linux routes the
//! whole of 127.0.0.0/8 there, so 127.0.0.2 is a second, real peer.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// A client whose requests come from `local` (a loopback address).
fn client_from(local: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(local.parse::<IpAddr>().unwrap()).build().unwrap()
}

fn lead(phone: &str) -> String {
    json!({"phone": phone, "state": "MH"}).to_string()
}

/// POSTs `body` as JSON from `client` with `headers`.
async fn post(app: &TestApp, client: &reqwest::Client, body: String, headers: &[(&str, String)]) -> reqwest::Response {
    let mut request =
        client.post(format!("{}/api/ingest", app.address)).header("Content-Type", "application/json").body(body);
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    request.send().await.expect("request sent")
}

fn secret() -> (&'static str, String) {
    ("X-Webhook-Secret", SECRET.to_string())
}

fn forwarded_for(chain: &str) -> (&'static str, String) {
    ("X-Forwarded-For", chain.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unauthenticated_flood_is_429_from_the_same_address_and_another_address_is_unaffected() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "3")]).await;
    let flooder = client_from("127.0.0.1");
    for i in 0..3 {
        let response = post(&app, &flooder, lead("9876543210"), &[("X-Webhook-Secret", "guess".into())]).await;
        assert_eq!(response.status().as_u16(), 401, "guess {i} is counted, then refused by authentication");
    }
    let limited = post(&app, &flooder, lead("9876543210"), &[("X-Webhook-Secret", "guess".into())]).await;
    assert_eq!(limited.status().as_u16(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(json(limited).await["error"], "rate_limited");
    let even_with_the_secret = post(&app, &flooder, lead("9876543210"), &[secret()]).await;
    assert_eq!(even_with_the_secret.status().as_u16(), 429, "the address is over its limit, whoever it claims to be");

    let neighbour = post(&app, &client_from("127.0.0.2"), lead("9876543211"), &[secret()]).await;
    assert_eq!(neighbour.status().as_u16(), 202, "another address has its own window");
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_over_its_limit_is_refused_before_its_body_is_read() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "1"), ("BODY_READ_TIMEOUT_MS", "20000")]).await;
    assert_eq!(app.post_json(&json!({"phone": "9876543210"})).await.status().as_u16(), 202);

    // Headers promising a body that never comes: a body read would wait 20 s.
    let addr = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/ingest HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nX-Webhook-Secret: {SECRET}\r\n\r\n{{\"phone\""
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("answered without waiting for the body");
    assert_eq!(status, 429);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_for_header_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    let client = reqwest::Client::new();
    for (i, spoofed) in ["198.51.100.1", "198.51.100.2"].into_iter().enumerate() {
        let response = post(&app, &client, lead(&format!("987654321{i}")), &[secret(), forwarded_for(spoofed)]).await;
        assert_eq!(response.status().as_u16(), 202);
    }
    let third = post(&app, &client, lead("9876543219"), &[secret(), forwarded_for("198.51.100.3")]).await;
    assert_eq!(third.status().as_u16(), 429, "every request counted as the peer 127.0.0.1, whatever it forwarded");
    assert_eq!(app.lead_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited_and_a_prefixed_address_does_not_help() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "2"), ("TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8")]).await;
    let proxy = client_from("127.0.0.1");
    // Two hops: the client, then an inner proxy in 10/8, then the peer.
    for (i, chain) in ["198.51.100.1", "198.51.100.1, 10.1.2.3"].into_iter().enumerate() {
        let response = post(&app, &proxy, lead(&format!("987654320{i}")), &[secret(), forwarded_for(chain)]).await;
        assert_eq!(response.status().as_u16(), 202, "{chain}");
    }
    // The client prepends an address of its own choosing; the proxy appends the real one.
    let prefixed =
        post(&app, &proxy, lead("9876543202"), &[secret(), forwarded_for("203.0.113.77, 198.51.100.1")]).await;
    assert_eq!(prefixed.status().as_u16(), 429, "the right-most untrusted address is the client");

    let other_client = post(&app, &proxy, lead("9876543203"), &[secret(), forwarded_for("198.51.100.2")]).await;
    assert_eq!(other_client.status().as_u16(), 202, "another client behind the same proxy has its own window");

    // 127.0.0.2 is not a trusted proxy: what it forwards is ignored.
    let direct = client_from("127.0.0.2");
    for (i, claimed) in ["198.51.100.3", "198.51.100.4"].into_iter().enumerate() {
        let response = post(&app, &direct, lead(&format!("987654321{i}")), &[secret(), forwarded_for(claimed)]).await;
        assert_eq!(response.status().as_u16(), 202);
    }
    let third = post(&app, &direct, lead("9876543219"), &[secret(), forwarded_for("198.51.100.5")]).await;
    assert_eq!(third.status().as_u16(), 429, "counted as 127.0.0.2");
    assert_eq!(app.lead_count().await, 5);
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) from
/// `stream`; its status and body.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return (status, String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string());
            }
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `GET /healthz` on an open connection, kept alive.
async fn healthz(stream: &mut TcpStream) -> u16 {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: bloc\r\n\r\n").await.unwrap();
    read_response(stream).await.0
}

/// The service with one HTTP worker that takes at most two connections at
/// once (kept alive a minute), and its `host:port`.
async fn one_worker_capped_at_two_connections() -> (TestApp, String) {
    let app = spawn_app_with(&[
        ("MAX_CONNECTIONS", "2"),
        ("WORKERS", "1"),
        ("KEEP_ALIVE_SECS", "60"),
        ("CLIENT_REQUEST_TIMEOUT_MS", "30000"),
    ])
    .await;
    let addr = app.address.trim_start_matches("http://").to_string();
    (app, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_until_one_closes_and_the_service_keeps_answering() {
    let (app, addr) = one_worker_capped_at_two_connections().await;
    let mut first = TcpStream::connect(&addr).await.unwrap();
    let mut second = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(healthz(&mut first).await, 200);
    assert_eq!(healthz(&mut second).await, 200);

    // The kernel completes the handshake (listen backlog), but the service
    // does not take the connection while two are open.
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third.write_all(b"GET /healthz HTTP/1.1\r\nHost: bloc\r\n\r\n").await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(1500), read_response(&mut third)).await;
    assert!(waiting.is_err(), "a third connection was served while the cap of 2 was reached");

    drop(first);
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), read_response(&mut third))
        .await
        .expect("the waiting connection is served once another closes");
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    assert_eq!(healthz(&mut second).await, 200, "held connections keep working");
    drop(second);
    drop(third);
    let after = tokio::time::timeout(Duration::from_secs(10), app.post_json(&json!({"phone": "9876543210"})))
        .await
        .expect("the service answers new connections once the others are gone");
    assert_eq!(after.status().as_u16(), 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_400_new_connections_waits_in_the_listen_backlog_instead_of_having_its_syns_dropped() {
    let (_app, addr) = one_worker_capped_at_two_connections().await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        assert_eq!(healthz(&mut stream).await, 200);
        held.push(stream);
    }

    // The worker is at its cap, so every new connection can only be queued
    // by the kernel. A SYN that finds the queue full is dropped and resent
    // after a second; with the standard library's backlog of 128 about 270
    // of these would still be waiting when the 900 ms are up.
    let burst: Vec<_> = (0..400)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move { tokio::time::timeout(Duration::from_millis(900), TcpStream::connect(addr)).await })
        })
        .collect();
    let mut queued = Vec::new();
    for connect in burst {
        if let Ok(Ok(Ok(stream))) = connect.await {
            queued.push(stream);
        }
    }
    assert_eq!(queued.len(), 400, "connections completed within 900 ms while the worker took none");

    // Every queued connection asks once and closes, so the worker, two at a
    // time, takes them all in the order the kernel queued them (which is not
    // the order they were spawned in: a connection left idle would hold one
    // of the two places until its request timeout).
    for stream in &mut queued {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: bloc\r\nConnection: close\r\n\r\n").await.unwrap();
    }
    drop(held);
    let answers: Vec<_> = queued
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(30), read_response(&mut stream)).await.map(|(status, _)| status)
            })
        })
        .collect();
    let mut served = 0;
    for answer in answers {
        assert_eq!(answer.await.unwrap(), Ok(200), "a queued connection is served once the held ones close");
        served += 1;
    }
    assert_eq!(served, 400);
}
