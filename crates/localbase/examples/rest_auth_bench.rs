//! Latency and throughput of localbase's REST and Auth, measured against a
//! real instance on a throwaway cluster with the conformance fixture schema.
//!
//! ```sh
//! cargo run --release -p localbase --example rest_auth_bench -- [requests] [concurrency]
//! ```

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use localbase::{Config, LocalBase};
use serde_json::{json, Value};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>, wall: Duration) {
    samples.sort();
    println!(
        "{name:<34} n={:<6} {:>8.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
        samples.len(),
        samples.len() as f64 / wall.as_secs_f64(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
}

/// Runs `total` requests built by `make`, `concurrency` at a time.
async fn run<F>(total: usize, concurrency: usize, make: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = std::sync::Arc::new(make);
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (make, next) = (make.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                let response = make(i).send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
                response.bytes().await.unwrap();
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    (all, start.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let total = args.first().copied().unwrap_or(5000);
    let concurrency = args.get(1).copied().unwrap_or(16);
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/supabase/migrations");
    // The password-grant run signs in far more often than the per-address limit allows.
    let lb = LocalBase::start(Config { migrations_dir: fixtures.into(), sign_in_rate_limit: 0, ..Config::for_tests() })
        .await?;
    let http = reqwest::Client::new();
    let url = lb.api_url().to_string();

    let admin = http
        .post(format!("{url}/auth/v1/admin/users"))
        .header("apikey", lb.service_role_key())
        .json(&json!({"email": "bench@example.com", "password": "password-bench", "email_confirm": true}))
        .send()
        .await?;
    assert!(admin.status().is_success());
    let session: Value = http
        .post(format!("{url}/auth/v1/token?grant_type=password"))
        .header("apikey", lb.anon_key())
        .json(&json!({"email": "bench@example.com", "password": "password-bench"}))
        .send()
        .await?
        .json()
        .await?;
    let token = session["access_token"].as_str().unwrap().to_string();
    println!("localbase REST/Auth bench: {total} requests, concurrency {concurrency}");

    let (c, u, k) = (http.clone(), url.clone(), lb.anon_key().to_string());
    let (s, w) = run(total, concurrency, move |i| {
        c.get(format!("{u}/rest/v1/planets?select=name,moons&id=eq.{}", i % 8 + 1)).header("apikey", &k)
    })
    .await;
    report("REST select, anon key", s, w);

    let (c, u, k) = (http.clone(), url.clone(), lb.publishable_key().to_string());
    let (s, w) = run(total, concurrency, move |_| {
        c.get(format!("{u}/rest/v1/planets?select=id")).header("apikey", &k)
    })
    .await;
    report("REST select, publishable key", s, w);

    let (c, u, k, t) = (http.clone(), url.clone(), lb.anon_key().to_string(), token.clone());
    let (s, w) = run(total, concurrency, move |i| {
        c.post(format!("{u}/rest/v1/notes"))
            .header("apikey", &k)
            .bearer_auth(&t)
            .header("prefer", "return=minimal")
            .json(&json!({"title": format!("note {i}")}))
    })
    .await;
    report("REST insert under RLS, user JWT", s, w);

    let (c, u, k, t) = (http.clone(), url.clone(), lb.anon_key().to_string(), token.clone());
    let (s, w) = run(total, concurrency, move |_| {
        c.post(format!("{u}/rest/v1/rpc/whoami")).header("apikey", &k).bearer_auth(&t).json(&json!({}))
    })
    .await;
    report("REST rpc, user JWT", s, w);

    let (c, u, k, t) = (http.clone(), url.clone(), lb.anon_key().to_string(), token.clone());
    let (s, w) = run(total, concurrency, move |_| {
        c.get(format!("{u}/auth/v1/user")).header("apikey", &k).bearer_auth(&t)
    })
    .await;
    report("Auth GET /user", s, w);

    let sign_ins = (total / 50).max(20);
    let (c, u, k) = (http.clone(), url.clone(), lb.anon_key().to_string());
    let (s, w) = run(sign_ins, 2, move |_| {
        c.post(format!("{u}/auth/v1/token?grant_type=password"))
            .header("apikey", &k)
            .json(&json!({"email": "bench@example.com", "password": "password-bench"}))
    })
    .await;
    report("Auth password grant (bcrypt 10)", s, w);

    lb.stop().await;
    Ok(())
}
