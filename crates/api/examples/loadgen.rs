//! Load generator and benchmark for the ingest path. Loopback only, bounded.
//!
//! Starts its own localbase over a durable PostgreSQL cluster (fsync on) in a
//! temp dir, seeds callers, and fires `--leads` distinct leads with
//! `--senders` concurrent senders at each of:
//!
//! - (a) the service with micro-batching;
//! - (b) the service with `BATCHING=off` (one `ingest_lead` RPC per lead);
//! - (c) direct per-lead `ingest_lead` RPCs to PostgREST (what a user would do
//!   without the service);
//! - (d) `ingest_leads` batches straight on the database (the limit);
//! - (e) the original design rebuilt: `tests/bench/original_route.mjs`, a
//!   stateless Node route with supabase-js that checks the secret, looks the
//!   phone up over REST for a 24 h duplicate and calls `ingest_lead` once per
//!   lead (needs `node` and `npm ci` in `tests/`).
//!
//! ```sh
//! cargo run --release -p bloc-api --example loadgen -- --leads 5000 --senders 256
//! ```
//! Leads are truncated between modes. Prints a Markdown table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bloc_shared::ingest::IngestPayload;
use serde_json::{json, Map, Value};

const SECRET: &str = "loadgen-secret";
const STATES: &[&str] = &["MH", "KA", "TN", "DL", "UP", "GJ", "WB", "Atlantis"];
const LANGUAGES: &[&str] = &["Hindi", "English", "Marathi", "Tamil"];

struct Options {
    leads: usize,
    senders: usize,
    db_batch: usize,
    db_connections: usize,
    modes: String,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options { leads: 5000, senders: 256, db_batch: 256, db_connections: 2, modes: "abcde".into() };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--leads" => o.leads = value.parse().context("--leads")?,
            "--senders" => o.senders = value.parse().context("--senders")?,
            "--db-batch" => o.db_batch = value.parse().context("--db-batch")?,
            "--db-connections" => o.db_connections = value.parse().context("--db-connections")?,
            "--modes" => o.modes = value,
            other => bail!("unknown argument {other}; use --leads N --senders C --db-batch B --db-connections K --modes abcde"),
        }
        i += 2;
    }
    if o.leads == 0 || o.leads > 200_000 || o.senders == 0 || o.senders > 1024 {
        bail!("--leads must be 1..=200000 and --senders 1..=1024");
    }
    Ok(o)
}

fn payload(i: usize) -> IngestPayload {
    IngestPayload {
        phone: format!("+9198{:08}", 10_000_000 + i),
        name: Some(format!("Lead {i}")),
        email: None,
        state: Some(STATES[i % STATES.len()].to_string()),
        city: None,
        language: Some(["hi", "en", "mr", "ta"][i % 4].to_string()),
        source: Some("loadgen".into()),
        metadata: Map::new(),
    }
}

/// What a sender posts to the service: a Sheets-like row.
fn row(i: usize) -> String {
    json!({
        "Full Name": format!("Lead {i}"),
        "Mobile Number": format!("98{:08}", 10_000_000 + i),
        "State": STATES[i % STATES.len()],
        "Language": LANGUAGES[i % LANGUAGES.len()],
        "utm_source": "loadgen"
    })
    .to_string()
}

struct Outcome {
    label: String,
    elapsed: Duration,
    ok: usize,
    failed: HashMap<String, usize>,
    latencies: Vec<Duration>,
    stored: i64,
}

impl Outcome {
    fn row(&self, leads: usize) -> String {
        let mut l = self.latencies.clone();
        l.sort();
        let p = |q: f64| l.get(((l.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default();
        let failed = if self.failed.is_empty() { "0".to_string() } else { format!("{:?}", self.failed) };
        format!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {} | {} |",
            self.label,
            leads,
            self.ok as f64 / self.elapsed.as_secs_f64(),
            p(0.50).as_secs_f64() * 1e3,
            p(0.95).as_secs_f64() * 1e3,
            p(0.99).as_secs_f64() * 1e3,
            failed,
            self.stored
        )
    }
}

/// Runs `work(i)` for i in 0..n with `c` concurrent tasks; each returns Ok or a failure label.
async fn fire<F, Fut>(label: &str, n: usize, c: usize, work: F) -> Outcome
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c {
        let work = work.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed: HashMap<String, usize> = HashMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                match tokio::time::timeout(Duration::from_secs(60), work(i)).await {
                    Ok(Ok(())) => lat.push(t.elapsed()),
                    Ok(Err(e)) => *failed.entry(e).or_default() += 1,
                    Err(_) => *failed.entry("timeout".into()).or_default() += 1,
                }
            }
            (lat, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut failed: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        if let Ok((lat, f)) = t.await {
            latencies.extend(lat);
            for (k, v) in f {
                *failed.entry(k).or_default() += v;
            }
        }
    }
    Outcome { label: label.into(), elapsed: started.elapsed(), ok: latencies.len(), failed, latencies, stored: 0 }
}

async fn reset(db: &tokio_postgres::Client) -> anyhow::Result<()> {
    db.batch_execute(
        "truncate public.assignment_logs, public.leads, public.caller_daily_loads restart identity cascade; checkpoint;",
    )
    .await?;
    Ok(())
}

async fn stored(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db.query_one("select count(*) from public.leads", &[]).await?.get(0))
}

async fn service(base: &localbase::LocalBase, batching: bool) -> anyhow::Result<String> {
    let vars: HashMap<&str, String> = HashMap::from([
        ("SUPABASE_URL", base.api_url().to_string()),
        ("SUPABASE_SERVICE_ROLE_KEY", base.service_role_key().to_string()),
        ("WEBHOOK_SECRETS", SECRET.to_string()),
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("MAINTENANCE_INTERVAL_SECS", "0".to_string()),
        ("BATCHING", if batching { "on" } else { "off" }.to_string()),
        ("RPC_TIMEOUT_MS", "30000".to_string()),
    ]);
    let settings = bloc_api::Settings::from_lookup(|k| vars.get(k).cloned()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = bloc_api::Application::build(settings)?;
    let url = format!("http://127.0.0.1:{}/api/ingest", app.port());
    tokio::spawn(app.run_until_stopped());
    Ok(url)
}

/// Starts `tests/bench/original_route.mjs` (mode e) and returns its URL; the
/// child is killed when the handle drops.
async fn original_route(base: &localbase::LocalBase) -> anyhow::Result<(String, tokio::process::Child)> {
    use tokio::io::AsyncBufReadExt;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bench/original_route.mjs");
    let mut child = tokio::process::Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
        .arg(&script)
        .env("SUPABASE_URL", base.api_url().to_string())
        .env("SUPABASE_SERVICE_ROLE_KEY", base.service_role_key().to_string())
        .env("WEBHOOK_SECRET", SECRET)
        .env("PORT", "0")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting node {}", script.display()))?;
    let stdout = child.stdout.take().context("node stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .context("original_route.mjs did not start within 30 s")??
        .context("original_route.mjs exited before listening (run `npm ci` in tests/)")?;
    let port: u16 = line.strip_prefix("listening ").context("unexpected first line")?.trim().parse()?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((format!("http://127.0.0.1:{port}/api/ingest"), child))
}

async fn via_service(label: &str, url: String, o: &Options) -> Outcome {
    let client = reqwest::Client::builder().pool_max_idle_per_host(o.senders).build().unwrap_or_default();
    fire(label, o.leads, o.senders, move |i| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let response = client
                .post(&url)
                .header("Content-Type", "application/json")
                .header("X-Webhook-Secret", SECRET)
                .body(row(i))
                .send()
                .await
                .map_err(|e| format!("send: {}", e.without_url()))?;
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(format!("http {status}"))
            }
        }
    })
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let dir = tempfile::Builder::new().prefix("bloc-loadgen-").tempdir()?;
    let config = localbase::Config {
        dir: dir.path().to_path_buf(),
        port: 0,
        database_url: None,
        migrations_dir: localbase::config::repo_migrations_dir(),
        migrations: localbase::MigrationRunner::Builtin,
        temporary_database: false,
        ..localbase::Config::default()
    };
    let base = localbase::LocalBase::start(config).await.context("starting localbase (durable cluster)")?;
    let (db, connection) = tokio_postgres::connect(base.db_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let fsync: String = db.query_one("show fsync", &[]).await?.get(0);
    let sync_commit: String = db.query_one("show synchronous_commit", &[]).await?.get(0);
    db.batch_execute(
        "insert into public.callers (name, assigned_states, languages, daily_lead_limit)
         select 'Caller ' || g, array[(array['MH','KA','TN','DL','UP','GJ','WB'])[1 + g % 7]], '{}', 1000000
           from generate_series(1, 20) g;",
    )
    .await?;
    eprintln!("localbase {} (fsync={fsync}, synchronous_commit={sync_commit}); {} leads, {} senders", base.api_url(), o.leads, o.senders);

    let mut outcomes = Vec::new();
    if o.modes.contains('a') {
        reset(&db).await?;
        let url = service(&base, true).await?;
        let mut out = via_service("(a) service, batching on", url, &o).await;
        out.stored = stored(&db).await?;
        eprintln!("{}", out.row(o.leads));
        outcomes.push(out);
    }
    if o.modes.contains('b') {
        reset(&db).await?;
        let url = service(&base, false).await?;
        let mut out = via_service("(b) service, batching off", url, &o).await;
        out.stored = stored(&db).await?;
        eprintln!("{}", out.row(o.leads));
        outcomes.push(out);
    }
    if o.modes.contains('c') {
        reset(&db).await?;
        let key = base.service_role_key().to_string();
        let rest = postgrest::Postgrest::new(format!("{}/rest/v1", base.api_url()))
            .insert_header("apikey", &key)
            .insert_header("Authorization", format!("Bearer {key}"));
        let mut out = fire("(c) direct ingest_lead per lead via PostgREST", o.leads, o.senders, move |i| {
            let rest = rest.clone();
            async move {
                let body = json!({ "payload": payload(i) }).to_string();
                let response = rest.rpc("ingest_lead", body).execute().await.map_err(|e| format!("send: {e}"))?;
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                if status == 200 {
                    Ok(())
                } else {
                    Err(format!("http {status}"))
                }
            }
        })
        .await;
        out.stored = stored(&db).await?;
        eprintln!("{}", out.row(o.leads));
        outcomes.push(out);
    }
    if o.modes.contains('d') {
        reset(&db).await?;
        let batches = o.leads.div_ceil(o.db_batch);
        let mut clients = Vec::new();
        for _ in 0..o.db_connections {
            let (c, conn) = tokio_postgres::connect(base.db_url(), tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            clients.push(Arc::new(c));
        }
        let clients = Arc::new(clients);
        let size = o.db_batch;
        let total = o.leads;
        let mut out = fire(
            &format!("(d) ingest_leads on the database, {} per call, {} connections", size, o.db_connections),
            batches,
            o.db_connections,
            move |b| {
                let clients = clients.clone();
                async move {
                    let items: Vec<Value> =
                        (b * size..((b + 1) * size).min(total)).map(|i| json!(payload(i))).collect();
                    let client = &clients[b % clients.len()];
                    client
                        .query_one("select public.ingest_leads($1::jsonb)", &[&Value::Array(items)])
                        .await
                        .map(|_| ())
                        .map_err(|e| format!("db: {e}"))
                }
            },
        )
        .await;
        // Throughput counts leads, not calls; latency stays per call.
        out.ok = if out.failed.is_empty() { o.leads } else { out.ok * size };
        out.stored = stored(&db).await?;
        eprintln!("{}", out.row(o.leads));
        outcomes.push(out);
    }

    if o.modes.contains('e') {
        reset(&db).await?;
        let (url, child) = original_route(&base).await?;
        let mut out = via_service("(e) original design: Node route, REST duplicate lookup + ingest_lead per lead", url, &o).await;
        drop(child);
        out.stored = stored(&db).await?;
        eprintln!("{}", out.row(o.leads));
        outcomes.push(out);
    }

    println!("| mode | leads | leads/s | p50 ms | p95 ms | p99 ms | failed | stored |");
    println!("|---|---|---|---|---|---|---|---|");
    for out in &outcomes {
        println!("{}", out.row(o.leads));
    }
    let rate = |m: char| outcomes.iter().find(|out| out.label.starts_with(&format!("({m})"))).map(|out| out.ok as f64 / out.elapsed.as_secs_f64());
    if let Some(a) = rate('a') {
        for m in ['b', 'c', 'd', 'e'] {
            if let Some(x) = rate(m) {
                println!("(a)/({m}) = {:.2}", a / x);
            }
        }
    }
    println!("\nsenders: {}; (d) latency is per ingest_leads call; fsync={fsync}, synchronous_commit={sync_commit}", o.senders);
    drop(db);
    base.stop().await;
    Ok(())
}
