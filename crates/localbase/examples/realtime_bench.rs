//! Realtime commit-to-client latency: 50 websocket subscribers while rows are
//! inserted at a fixed rate, on loopback. Not a test; prints percentiles.
//!
//! ```text
//! cargo run --release -p localbase --example realtime_bench -- [rows_per_sec] [seconds]
//! ```
//!
//! Two scenarios on a throwaway cluster with the project's migrations:
//! - `rls`: 50 callers, each signed in on its own socket and subscribed to
//!   `leads`; row level security lets each see only its own leads, so every
//!   insert is checked for 50 identities and delivered to one.
//! - `fanout`: 50 `service_role` subscribers; every insert goes to all 50.
//!
//! Latency runs from sending the autocommit `INSERT` to the subscriber
//! reading the `postgres_changes` frame.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use localbase::realtime::{router, RealtimeState, TokenVerifier};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const SUBSCRIBERS: usize = 50;
const SECRET: &str = "realtime-bench-secret-at-least-32-characters";

struct Verifier {
    service_role_key: String,
}

impl TokenVerifier for Verifier {
    fn api_key_role(&self, apikey: &str) -> Option<String> {
        (apikey == self.service_role_key).then(|| "service_role".to_owned())
    }
    fn verify(&self, token: &str) -> Result<Value, String> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_aud = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(SECRET.as_bytes()), &v)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }
}

fn sign(claims: Value) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET.as_bytes()))?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let rate: u64 = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let seconds: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(20);

    let db = tokio::task::spawn_blocking(pgcluster::testing::TestDatabase::new).await??;
    let (sql, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    // Throwaway clusters run with synchronous_commit=off, where a commit reaches
    // logical decoding only when the WAL writer flushes (up to 3 x 200 ms later).
    // localbase's own cluster is durable; commit like it.
    sql.batch_execute("set synchronous_commit = on").await?;
    let exp = chrono::Utc::now().timestamp() + 86_400;
    let service_role_key = sign(json!({"role": "service_role", "exp": exp}))?;
    let verifier = Arc::new(Verifier { service_role_key: service_role_key.clone() });
    let state = RealtimeState::start(db.url.clone(), verifier).await?;
    let app = axum::Router::new().nest("/realtime/v1", router(state.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}/realtime/v1/websocket?vsn=2.0.0&apikey={service_role_key}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // 50 callers with logins.
    let mut callers = Vec::new();
    for i in 0..SUBSCRIBERS {
        let user: uuid::Uuid = sql
            .query_one("insert into auth.users (email) values ($1) returning id", &[&format!("bench{i}@example.com")])
            .await?
            .get(0);
        let caller: i64 = sql
            .query_one("insert into public.callers (name, user_id) values ($1, $2) returning id", &[&format!("Caller {i}"), &user])
            .await?
            .get(0);
        sql.execute("insert into public.team_members (user_id, role, caller_id) values ($1, 'caller', $2)", &[&user, &caller])
            .await?;
        callers.push((caller, sign(json!({"sub": user.to_string(), "role": "authenticated", "exp": exp}))?));
    }

    println!("machine: {} cores; {SUBSCRIBERS} subscribers; {rate} rows/s for {seconds} s", num_cpus());
    let only = std::env::var("BENCH_SCENARIO").ok();
    for scenario in ["rls", "fanout"] {
        if only.as_deref().is_some_and(|o| o != scenario) {
            continue;
        }
        let tokens: Vec<Option<String>> = callers
            .iter()
            .map(|(_, token)| (scenario == "rls").then(|| token.clone()))
            .collect();
        let report = run(&url, &sql, &state, &callers, &tokens, rate, seconds).await?;
        println!("{scenario:>6}: {report}");
    }
    state.shutdown().await;
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

async fn run(
    url: &str,
    sql: &tokio_postgres::Client,
    state: &RealtimeState,
    callers: &[(i64, String)],
    tokens: &[Option<String>],
    rate: u64,
    seconds: u64,
) -> anyhow::Result<String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(i64, Instant)>();
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
        let mut payload = json!({"config": {"postgres_changes": [{"event": "INSERT", "schema": "public", "table": "leads"}]}});
        if let Some(t) = token {
            payload["access_token"] = json!(t);
        }
        ws.send(Message::Text(json!(["1", "1", format!("realtime:bench{i}"), "phx_join", payload]).to_string().into()))
            .await?;
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                let Message::Text(text) = msg else { continue };
                let now = Instant::now();
                let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                if frame[3] == "postgres_changes" {
                    if let Some(id) = frame[4]["data"]["record"]["id"].as_i64() {
                        let _ = tx.send((id, now));
                    }
                }
            }
        }));
    }
    drop(tx);
    while state.subscriber_count() < tokens.len() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let insert = sql
        .prepare("insert into public.leads (phone, caller_id, assigned_at) values ($1, $2, now()) returning id")
        .await?;
    let mut sent: HashMap<i64, Instant> = HashMap::with_capacity(rate as usize * seconds as usize);
    let total = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut received: Vec<(i64, Instant)> = Vec::with_capacity(total as usize * 2);
    let phone_base = rand::random::<u32>() % 1_000_000;
    for n in 0..total {
        tick.tick().await;
        let (caller, _) = &callers[n as usize % callers.len()];
        let phone = format!("+91{:04}{:06}", n % 10_000, (phone_base + n as u32) % 1_000_000);
        let at = Instant::now();
        let id: i64 = sql.query_one(&insert, &[&phone, caller]).await?.get(0);
        sent.insert(id, at);
        while let Ok(event) = rx.try_recv() {
            received.push(event);
        }
    }
    let elapsed = started.elapsed();
    let expected = if tokens[0].is_some() { total as usize } else { total as usize * tokens.len() };
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.len() < expected && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            Ok(Some(event)) => received.push(event),
            Ok(None) => break,
            Err(_) => {}
        }
    }
    for t in tasks {
        t.abort();
    }
    let mut latencies: Vec<Duration> = received
        .iter()
        .filter_map(|(id, got)| sent.get(id).map(|at| got.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p) as usize).copied().unwrap_or_default();
    Ok(format!(
        "{} rows in {:.1} s ({:.0} rows/s), {}/{} deliveries; latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        total,
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        latencies.len(),
        expected,
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
