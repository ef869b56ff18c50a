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
//!
//! Steady state, not a cold start: before the modes, about 130 MB of WAL is
//! written and recycled, so pg_wal holds spare segments as a running
//! cluster's does (a new cluster zero-fills each 16 MB segment inside the
//! COMMIT that first needs it); and each mode first sends `--warmup` leads
//! (default 1,000; `--warmup 0` for none) through the same senders' path,
//! untimed and kept, so that its connections are open (the senders' own
//! keep-alive connections included: the timed run reuses them) and the
//! database backends have compiled and planned the engine's functions. The
//! warm-up's own p50/p99 is printed as a note.
//!
//! The senders of (a), (b) and (e) each keep one HTTP/1.1 connection alive
//! and write each request whole (`loadgen/http1.rs`), so the load tool takes
//! as little as it can of the two cores it shares with what it measures;
//! `--client reqwest` sends through reqwest's pooled client instead.
//!
//! `--callers N` seeds N callers (default 20), each covering one of seven
//! states; the leads come from those seven and one no caller covers.
//!
//! `--subscribers N` keeps N Realtime sockets subscribed as the admin
//! dashboard is through every mode (`loadgen/subscribers.rs`). Without it no
//! one subscribes, and localbase's slot does not stream at all.
//!
//! `LOADGEN_PG_LOG=1` logs every statement's duration and CPU into the
//! cluster's postgres.log (kept); `LOADGEN_PG_LOG=slow` only statements over
//! 30 ms, with lock waits over 20 ms, autovacuum and checkpoints.
//!
//! `LOADGEN_TRACE=FILE` appends one line per answered lead to FILE: the
//! mode, when the lead was sent (ms after the mode started) and its latency
//! (ms), to see where in a run the slow answers fall.
//!
//! localbase runs on its own 2-worker Tokio runtime (threads `localbase`)
//! and the service on its own actix system thread (`bloc-api-main`) with
//! its HTTP workers, as their own processes would in production; the
//! senders have the main runtime. `--shared-runtime` puts localbase and the
//! service on the senders' runtime (the layout before 2026-11-30 20:30).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[path = "loadgen/http1.rs"]
mod http1;
#[path = "loadgen/subscribers.rs"]
mod subscribers;
use bloc_shared::ingest::IngestPayload;
use serde_json::{json, Value};

const SECRET: &str = "loadgen-secret";
const STATES: &[&str] = &["MH", "KA", "TN", "DL", "UP", "GJ", "WB", "Atlantis"];
const LANGUAGES: &[&str] = &["Hindi", "English", "Marathi", "Tamil"];
/// The same languages as ISO 639-1 codes, as the service normalizes them.
const LEAD_LANGUAGES: &[&str] = &["hi", "en", "mr", "ta"];

#[derive(Clone)]
struct Options {
    leads: usize,
    /// Untimed leads each mode sends first (`--warmup`, default
    /// [`WARMUP`]); see [`warm_up`].
    warmup: usize,
    senders: usize,
    db_batch: usize,
    db_connections: usize,
    modes: String,
    /// Extra service settings for (a) and (b), e.g. `BATCH_WINDOW_MS=5`.
    service_env: Vec<(String, String)>,
    /// The migrations localbase applies; the repository's by default. A
    /// copy of one commit's (`git archive`) keeps work in progress in the
    /// tree out of a measurement.
    migrations: Option<std::path::PathBuf>,
    /// Run localbase and the service on the senders' Tokio runtime (the
    /// layout before, for comparison) instead of each on its own threads.
    shared_runtime: bool,
    /// The senders' HTTP client for (a), (b) and (e).
    client: Client,
    /// Realtime sockets subscribed as the dashboard is, through every mode
    /// (`--subscribers N`, default 0; see [`subscribers`]).
    subscribers: usize,
    /// Callers seeded, each covering one of seven states (`--callers N`,
    /// default 20).
    callers: usize,
}

/// `--client`: the senders' HTTP client.
#[derive(Clone, Copy, PartialEq)]
enum Client {
    /// One keep-alive connection per sender, requests written whole
    /// ([`http1`]); the default.
    Http1,
    /// reqwest's pooled client (the load tool before 2026-12-01).
    Reqwest,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options { leads: 5000, warmup: WARMUP, senders: 256, db_batch: 256, db_connections: 2, modes: "abcde".into(), service_env: Vec::new(), migrations: None, shared_runtime: false, client: Client::Http1, subscribers: 0, callers: 20 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        if args[i] == "--shared-runtime" {
            o.shared_runtime = true;
            i += 1;
            continue;
        }
        match args[i].as_str() {
            "--leads" => o.leads = value.parse().context("--leads")?,
            "--warmup" => o.warmup = value.parse().context("--warmup")?,
            "--senders" => o.senders = value.parse().context("--senders")?,
            "--db-batch" => o.db_batch = value.parse().context("--db-batch")?,
            "--db-connections" => o.db_connections = value.parse().context("--db-connections")?,
            "--modes" => o.modes = value,
            "--client" => {
                o.client = match value.as_str() {
                    "http1" => Client::Http1,
                    "reqwest" => Client::Reqwest,
                    other => bail!("--client takes http1 or reqwest, not {other:?}"),
                }
            }
            "--migrations" => o.migrations = Some(value.into()),
            "--subscribers" => o.subscribers = value.parse().context("--subscribers")?,
            "--callers" => o.callers = value.parse().context("--callers")?,
            "--service-env" => {
                let (k, v) = value.split_once('=').context("--service-env takes KEY=VALUE")?;
                o.service_env.push((k.to_string(), v.to_string()));
            }
            other => bail!("unknown argument {other}; use --leads N --warmup N --senders C --db-batch B --db-connections K --modes abcde --service-env KEY=VALUE --migrations DIR --shared-runtime --client http1|reqwest --subscribers N --callers N"),
        }
        i += 2;
    }
    if o.leads == 0 || o.leads > 200_000 || o.warmup > 200_000 || o.senders == 0 || o.senders > 1024 || o.subscribers > 64
        || o.callers == 0 || o.callers > 1000
    {
        bail!("--leads must be 1..=200000, --warmup 0..=200000, --senders 1..=1024, --subscribers 0..=64 and --callers 1..=1000");
    }
    Ok(o)
}

/// Untimed leads each mode sends before its timed run, unless `--warmup`.
const WARMUP: usize = 1000;

/// Added to every lead's number: 0 for the timed runs, [`WARMUP_FIRST`]
/// during a warm-up, so that no warm-up lead shares a phone (and becomes a
/// duplicate) with a timed one.
static FIRST: AtomicUsize = AtomicUsize::new(0);
const WARMUP_FIRST: usize = 50_000_000;

fn payload(i: usize) -> IngestPayload {
    let i = i + FIRST.load(Ordering::Relaxed);
    // Through serde rather than a struct literal, so fields added to the
    // payload later (all optional) take their defaults here.
    serde_json::from_value(json!({
        "phone": format!("+9198{:08}", 10_000_000 + i),
        "name": format!("Lead {i}"),
        "state": STATES[i % STATES.len()],
        "language": LEAD_LANGUAGES[i % 4],
        "source": "loadgen",
        "metadata": {}
    }))
    .expect("a valid ingest payload")
}

/// What a sender posts to the service: a Sheets-like row.
fn row(i: usize) -> String {
    let i = i + FIRST.load(Ordering::Relaxed);
    json!({
        "Full Name": format!("Lead {i}"),
        "Mobile Number": format!("98{:08}", 10_000_000 + i),
        "State": STATES[i % STATES.len()],
        "Language": LANGUAGES[i % LANGUAGES.len()],
        "utm_source": "loadgen"
    })
    .to_string()
}

/// CPU seconds (user + system) used so far, by where they ran: this
/// process's threads grouped by name (`tokio-runtime-w`: the senders, the
/// batcher, its REST client and localbase with PostgREST; `actix-rt|…`: the
/// service's HTTP workers), the cluster's PostgreSQL processes, and the
/// Node route of mode (e). Read from /proc (Linux only; empty elsewhere).
#[derive(Clone, Default)]
struct Cpu {
    groups: std::collections::BTreeMap<String, f64>,
}

impl Cpu {
    /// `realtime`: the Realtime poller's backend, counted apart from the
    /// rest of PostgreSQL.
    fn now(postmaster: Option<u32>, node: Option<u32>, realtime: Option<u32>) -> Cpu {
        let tick = 100.0; // USER_HZ on Linux
        let stat = |path: String| -> Option<(String, u32, f64)> {
            let text = std::fs::read_to_string(path).ok()?;
            let (head, rest) = text.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_string();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ppid = fields.get(1)?.parse().ok()?;
            let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            Some((name, ppid, ticks / tick))
        };
        let mut groups = std::collections::BTreeMap::new();
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for task in tasks.flatten() {
                if let Some((name, _, secs)) = stat(format!("{}/stat", task.path().display())) {
                    let group = if name.starts_with("actix") {
                        "service HTTP workers (actix)".to_string()
                    } else if name.starts_with("bloc-api") {
                        "service main thread (batcher, REST client)".to_string()
                    } else if name.starts_with("localbase") {
                        "localbase (PostgREST, Realtime, gateway)".to_string()
                    } else if name.starts_with("tokio") {
                        "tokio runtime (senders; with --shared-runtime also batcher, localbase)".to_string()
                    } else {
                        format!("other threads ({name})")
                    };
                    *groups.entry(group).or_insert(0.0) += secs;
                }
            }
        }
        if let Ok(procs) = std::fs::read_dir("/proc") {
            for entry in procs.flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
                let Some((_, ppid, secs)) = stat(format!("/proc/{pid}/stat")) else { continue };
                if Some(pid) == realtime {
                    *groups.entry("PostgreSQL: Realtime WAL decoding".to_string()).or_insert(0.0) += secs;
                } else if Some(pid) == postmaster || Some(ppid) == postmaster {
                    *groups.entry("PostgreSQL".to_string()).or_insert(0.0) += secs;
                }
                if Some(pid) == node {
                    *groups.entry("Node route (e)".to_string()).or_insert(0.0) += secs;
                }
            }
        }
        Cpu { groups }
    }

    fn since(&self, before: &Cpu) -> Cpu {
        let groups = self.groups.iter().map(|(k, v)| (k.clone(), v - before.groups.get(k).copied().unwrap_or(0.0))).collect();
        Cpu { groups }
    }

    fn summary(&self, wall: Duration) -> String {
        let parts: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, v)| **v >= 0.005)
            .map(|(k, v)| format!("{k} {v:.2} s ({:.0}%)", 100.0 * v / wall.as_secs_f64()))
            .collect();
        format!("CPU over {:.2} s wall: {}", wall.as_secs_f64(), parts.join(", "))
    }
}

/// The walsender of localbase's Realtime slot, which decodes every change
/// while someone subscribes. The load tool subscribes to nothing, so since
/// the slot streams on demand there is none and the figure is absent.
async fn realtime_pid(db: &tokio_postgres::Client) -> Option<u32> {
    let row = db
        .query_opt("select pid from pg_stat_activity where application_name = 'localbase realtime wal' limit 1", &[])
        .await
        .ok()??;
    row.get::<_, i32>(0).try_into().ok()
}

/// The cluster's postmaster: the first line of the postmaster.pid under `dir`.
fn postmaster(dir: &std::path::Path) -> Option<u32> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == "postmaster.pid") {
                return std::fs::read_to_string(&path).ok()?.lines().next()?.trim().parse().ok();
            }
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    None
}

/// The service's batch-size histogram: (calls, leads) from its /metrics.
async fn batch_sizes(ingest_url: &str) -> Option<(f64, f64)> {
    let url = ingest_url.replace("/api/ingest", "/metrics");
    let text = reqwest::get(url).await.ok()?.text().await.ok()?;
    let value = |name: &str| {
        text.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
    };
    Some((value("bloc_ingest_batch_size_count")?, value("bloc_ingest_batch_size_sum")?))
}

struct Outcome {
    label: String,
    elapsed: Duration,
    ok: usize,
    failed: HashMap<String, usize>,
    latencies: Vec<Duration>,
    stored: i64,
    /// Where the CPU went during the run, and other observations.
    notes: Vec<String>,
}

impl Outcome {
    fn percentile(&self, q: f64) -> Duration {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(((l.len() as f64 * q).ceil() as usize).saturating_sub(1)).copied().unwrap_or_default()
    }

    fn row(&self, leads: usize) -> String {
        let p = |q: f64| self.percentile(q);
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

/// Runs `work(task, i)` for i in 0..n with `c` concurrent tasks (`task` in
/// 0..c); each returns Ok or a failure label.
async fn fire<F, Fut>(label: &str, n: usize, c: usize, work: F) -> Outcome
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..c {
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
                match tokio::time::timeout(Duration::from_secs(60), work(task, i)).await {
                    Ok(Ok(())) => lat.push((t - started, t.elapsed())),
                    Ok(Err(e)) => *failed.entry(e).or_default() += 1,
                    Err(_) => *failed.entry("timeout".into()).or_default() += 1,
                }
            }
            (lat, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut trace: Vec<(Duration, Duration)> = Vec::new();
    let mut failed: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        if let Ok((lat, f)) = t.await {
            trace.extend(lat.iter().copied());
            latencies.extend(lat.into_iter().map(|(_, l)| l));
            for (k, v) in f {
                *failed.entry(k).or_default() += v;
            }
        }
    }
    let elapsed = started.elapsed();
    if let Ok(path) = std::env::var("LOADGEN_TRACE") {
        let text: String = trace.iter().map(|(s, l)| format!("{} {:.3} {:.3}\n", &label[..3], s.as_secs_f64() * 1e3, l.as_secs_f64() * 1e3)).collect();
        let _ = std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    }
    Outcome { label: label.into(), elapsed, ok: latencies.len(), failed, latencies, stored: 0, notes: Vec::new() }
}

async fn reset(db: &tokio_postgres::Client) -> anyhow::Result<()> {
    db.batch_execute(
        "truncate public.assignment_logs, public.leads, public.caller_daily_loads restart identity cascade; checkpoint;",
    )
    .await?;
    Ok(())
}

/// What a mode's warm-up left: the leads it stored, and a note on it.
struct Warm {
    stored: i64,
    note: Option<String>,
}

/// Sends `--warmup` leads (numbered from [`WARMUP_FIRST`], so none is a
/// duplicate of a timed one) through a mode before its timed run, and keeps
/// them: the timed run then starts where a running deployment is, with the
/// service's and PostgREST's connections open and the database backends'
/// engine functions compiled and planned, instead of paying that once in
/// its first wave of leads. The warm-up's own figures are printed as a
/// note, so the cold start stays visible.
async fn warm_up<F, Fut>(db: &tokio_postgres::Client, o: &Options, run: F) -> anyhow::Result<Warm>
where
    F: FnOnce(Options) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    if o.warmup == 0 {
        return Ok(Warm { stored: 0, note: None });
    }
    FIRST.store(WARMUP_FIRST, Ordering::Relaxed);
    let out = run(Options { leads: o.warmup, ..o.clone() }).await;
    FIRST.store(0, Ordering::Relaxed);
    let stored = stored(db).await?;
    let note = format!(
        "warm-up before the timed run (untimed, kept): {} leads from a cold start, p50 {:.1} ms, p99 {:.1} ms, {} failed, {stored} stored",
        o.warmup,
        out.percentile(0.50).as_secs_f64() * 1e3,
        out.percentile(0.99).as_secs_f64() * 1e3,
        out.failed.values().sum::<usize>()
    );
    Ok(Warm { stored, note: Some(note) })
}

/// Fills pg_wal with recycled segments, as a running cluster has: a new
/// cluster creates (and zero-fills, 16 MB each) every WAL segment the first
/// time it needs one, inside whichever COMMIT crosses into it; in a
/// 10,000-lead run that held the assignment lock for 59–64 ms, twice.
/// About 130 MB of WAL from a scratch table, and once Realtime's slot has
/// read past it, two checkpoints recycle the segments for the runs.
async fn warm_wal(db: &tokio_postgres::Client) -> anyhow::Result<()> {
    db.batch_execute(
        "create table public.loadgen_wal_warmup as
           select g, pg_catalog.repeat('x', 200) as x from pg_catalog.generate_series(1, 500000) g;
         drop table public.loadgen_wal_warmup;",
    )
    .await?;
    let target: String = db.query_one("select pg_catalog.pg_current_wal_lsn()::text", &[]).await?.get(0);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let behind: bool = db
            .query_one(
                "select coalesce(bool_or(confirmed_flush_lsn < $1::text::pg_lsn), false) from pg_catalog.pg_replication_slots",
                &[&target],
            )
            .await?
            .get(0);
        if !behind {
            break;
        }
        if Instant::now() > deadline {
            bail!("Realtime's replication slot did not read past {target} within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.batch_execute("checkpoint; checkpoint;").await?;
    Ok(())
}

/// Records a timed run: the leads it stored (beyond its warm-up's) and notes.
async fn finish(db: &tokio_postgres::Client, o: &Options, mut out: Outcome, warm: Warm, outcomes: &mut Vec<Outcome>) -> anyhow::Result<()> {
    out.stored = stored(db).await? - warm.stored;
    out.notes.extend(warm.note);
    eprintln!("{}", out.row(o.leads));
    outcomes.push(out);
    Ok(())
}

/// Mode (c): one `ingest_lead` RPC per lead straight to PostgREST.
async fn direct_per_lead(label: &str, rest: postgrest::Postgrest, o: Options) -> Outcome {
    fire(label, o.leads, o.senders, move |_, i| {
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
    .await
}

/// Mode (d): `ingest_leads` batches of `--db-batch` straight on the
/// database over `--db-connections` connections. Throughput counts leads;
/// latency stays per call.
async fn direct_batches(label: &str, clients: Arc<Vec<Arc<tokio_postgres::Client>>>, o: Options) -> Outcome {
    let size = o.db_batch;
    let total = o.leads;
    let mut out = fire(label, total.div_ceil(size), o.db_connections, move |_, b| {
        let clients = clients.clone();
        async move {
            let items: Vec<Value> = (b * size..((b + 1) * size).min(total)).map(|i| json!(payload(i))).collect();
            let client = &clients[b % clients.len()];
            client
                .query_one("select public.ingest_leads($1::jsonb)", &[&Value::Array(items)])
                .await
                .map(|_| ())
                .map_err(|e| format!("db: {e}"))
        }
    })
    .await;
    out.ok = if out.failed.is_empty() { total } else { out.ok * size };
    out
}

async fn stored(db: &tokio_postgres::Client) -> anyhow::Result<i64> {
    Ok(db.query_one("select count(*) from public.leads", &[]).await?.get(0))
}

/// Starts the service and returns its ingest URL. As in production
/// (`bloc-api`'s `main`), on its own thread running an actix system (the
/// batcher and the REST client there, the HTTP workers on theirs), unless
/// `shared` puts it on the caller's runtime.
async fn service(base: &localbase::LocalBase, batching: bool, extra: &[(String, String)], shared: bool) -> anyhow::Result<String> {
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("SUPABASE_URL", base.api_url().to_string()),
        ("SUPABASE_SERVICE_ROLE_KEY", base.service_role_key().to_string()),
        ("WEBHOOK_SECRETS", SECRET.to_string()),
        ("BIND_ADDR", "127.0.0.1:0".to_string()),
        ("MAINTENANCE_INTERVAL_SECS", "0".to_string()),
        ("BATCHING", if batching { "on" } else { "off" }.to_string()),
        ("RPC_TIMEOUT_MS", "30000".to_string()),
    ]);
    for (k, v) in extra {
        vars.insert(k.as_str(), v.clone());
    }
    let settings = bloc_api::Settings::from_lookup(|k| vars.get(k).cloned()).map_err(|e| anyhow::anyhow!("{e}"))?;
    if shared {
        let app = bloc_api::Application::build(settings)?;
        let url = format!("http://127.0.0.1:{}/api/ingest", app.port());
        tokio::spawn(app.run_until_stopped());
        return Ok(url);
    }
    let (port_tx, port_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("bloc-api-main".into()).spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            match bloc_api::Application::build(settings) {
                Ok(app) => {
                    let _ = port_tx.send(Ok(app.port()));
                    let _ = app.run_until_stopped().await;
                }
                Err(e) => {
                    let _ = port_tx.send(Err(e));
                }
            }
        });
    })?;
    let port = port_rx.await.context("the service thread stopped")??;
    Ok(format!("http://127.0.0.1:{port}/api/ingest"))
}

/// Starts `tests/bench/original_route.mjs` (mode e) and returns its URL; the
/// child is killed when the handle drops.
async fn original_route(base: &localbase::LocalBase) -> anyhow::Result<(String, tokio::process::Child)> {
    use tokio::io::AsyncBufReadExt;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/bench/original_route.mjs");
    let mut child = tokio::process::Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
        .arg(&script)
        .env("SUPABASE_URL", base.api_url())
        .env("SUPABASE_SERVICE_ROLE_KEY", base.service_role_key())
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

/// The senders of one HTTP mode: the keep-alive connections its warm-up
/// opens and its timed run reuses, as a running deployment's senders have
/// them (mode (c) shares its reqwest pool and (d) its database connections
/// the same way).
#[derive(Clone)]
enum Senders {
    /// Sender `task` keeps connection `task` ([`http1`]).
    Http1 { target: Arc<http1::Target>, connections: Arc<Vec<tokio::sync::Mutex<http1::Connection>>> },
    /// reqwest's pooled client (`--client reqwest`).
    Reqwest { url: String, client: reqwest::Client },
}

impl Senders {
    fn new(url: &str, o: &Options) -> Senders {
        match o.client {
            Client::Http1 => {
                let target = match http1::Target::new(url, &[("Content-Type", "application/json"), ("X-Webhook-Secret", SECRET)]) {
                    Ok(target) => Arc::new(target),
                    Err(e) => panic!("the ingest URL {url}: {e}"),
                };
                let connections = (0..o.senders).map(|_| tokio::sync::Mutex::new(http1::Connection::new(target.addr))).collect();
                Senders::Http1 { target, connections: Arc::new(connections) }
            }
            Client::Reqwest => Senders::Reqwest {
                url: url.to_string(),
                client: reqwest::Client::builder().pool_max_idle_per_host(o.senders).build().unwrap_or_default(),
            },
        }
    }
}

async fn via_service(label: &str, senders: Senders, o: &Options) -> Outcome {
    match senders {
        Senders::Http1 { target, connections } => fire(label, o.leads, o.senders, move |task, i| {
            let target = target.clone();
            let connections = connections.clone();
            async move {
                let mut connection = connections[task].lock().await;
                match connection.post(&target, row(i).as_bytes()).await {
                    Ok(status) if (200..300).contains(&status) => Ok(()),
                    Ok(status) => Err(format!("http {status}")),
                    Err(e) => Err(format!("send: {e}")),
                }
            }
        })
        .await,
        Senders::Reqwest { url, client } => fire(label, o.leads, o.senders, move |_, i| {
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
        .await,
    }
}

/// The allocator of the binaries it stands in for (bloc-api, localbase).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let dir = tempfile::Builder::new().prefix("bloc-loadgen-").tempdir()?;
    let config = localbase::Config {
        dir: dir.path().to_path_buf(),
        port: 0,
        database_url: None,
        migrations_dir: o.migrations.clone().unwrap_or_else(localbase::config::repo_migrations_dir),
        migrations: localbase::MigrationRunner::Builtin,
        temporary_database: false,
        ..localbase::Config::default()
    };
    // localbase on its own threads, as its own process would be in
    // production (`localbase` binary: a 2-worker Tokio runtime), so that
    // PostgREST's round trips inside the assignment lock do not queue behind
    // 256 senders' tasks; `--shared-runtime` keeps it on the senders' runtime.
    let localbase_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("localbase")
        .enable_all()
        .build()?;
    // Shut down in the background whatever happened: a runtime dropped in
    // here would panic, and the panic would hide the run's error.
    let result = run(o, dir, config, &localbase_runtime).await;
    localbase_runtime.shutdown_background();
    result
}

/// Everything after the set-up: localbase, the seed, each mode, the report.
async fn run(
    o: Options,
    dir: tempfile::TempDir,
    config: localbase::Config,
    localbase_runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let base = if o.shared_runtime {
        localbase::LocalBase::start(config).await
    } else {
        localbase_runtime.spawn(localbase::LocalBase::start(config)).await?
    }
    .context("starting localbase (durable cluster)")?;
    let (db, connection) = tokio_postgres::connect(base.db_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let fsync: String = db.query_one("show fsync", &[]).await?.get(0);
    let sync_commit: String = db.query_one("show synchronous_commit", &[]).await?.get(0);
    let callers = i32::try_from(o.callers)?;
    db.execute(
        "insert into public.callers (name, assigned_states, languages, daily_lead_limit)
         select 'Caller ' || g, array[(array['MH','KA','TN','DL','UP','GJ','WB'])[1 + g % 7]], '{}', 1000000
           from generate_series(1, $1::int) g",
        &[&callers],
    )
    .await?;
    eprintln!(
        "localbase {} (fsync={fsync}, synchronous_commit={sync_commit}); {} leads, {} senders, {} callers",
        base.api_url(),
        o.leads,
        o.senders,
        o.callers
    );

    let pm = postmaster(base.dir());
    // LOADGEN_PG_LOG=1: every statement's duration and CPU (including those
    // inside functions) into the cluster's postgres.log, which is kept.
    // LOADGEN_PG_LOG=slow: only statements over 30 ms, with autovacuum,
    // checkpoints and lock waits, to see what a latency tail lines up with.
    let pg_log = std::env::var("LOADGEN_PG_LOG").unwrap_or_default();
    let settings: &[&str] = match pg_log.as_str() {
        "1" => &["alter system set log_min_duration_statement = 0", "alter system set log_statement_stats = on"],
        "slow" => &[
            "alter system set log_min_duration_statement = 30",
            "alter system set log_autovacuum_min_duration = 0",
            "alter system set log_checkpoints = on",
            "alter system set log_lock_waits = on",
            "alter system set deadlock_timeout = '20ms'",
            "alter system set log_line_prefix = '%m [%p] '",
        ],
        _ => &[],
    };
    if !settings.is_empty() {
        for sql in settings.iter().chain(&["select pg_reload_conf()"]) {
            db.batch_execute(sql).await?;
        }
        eprintln!("statement log: {}/…/postgres.log (kept)", base.dir().display());
    }
    warm_wal(&db).await?;
    let subscribed = subscribers::open(base.api_url(), base.service_role_key(), o.subscribers).await?;
    let mut outcomes = Vec::new();
    if o.modes.contains('a') {
        reset(&db).await?;
        let url = service(&base, true, &o.service_env, o.shared_runtime).await?;
        let senders = Senders::new(&url, &o);
        let warm = warm_up(&db, &o, |w| { let senders = senders.clone(); async move { via_service("(a)", senders, &w).await } }).await?;
        let (calls_before, leads_before) = batch_sizes(&url).await.unwrap_or_default();
        let before = Cpu::now(pm, None, realtime_pid(&db).await);
        let mut out = via_service("(a) service, batching on", senders, &o).await;
        out.notes.push(Cpu::now(pm, None, realtime_pid(&db).await).since(&before).summary(out.elapsed));
        if let Some((calls, leads)) = batch_sizes(&url).await {
            let (calls, leads) = (calls - calls_before, leads - leads_before);
            out.notes.push(format!("{calls} ingest RPCs, {:.1} leads per RPC on average", leads / calls.max(1.0)));
        }
        finish(&db, &o, out, warm, &mut outcomes).await?;
    }
    if o.modes.contains('b') {
        reset(&db).await?;
        let url = service(&base, false, &o.service_env, o.shared_runtime).await?;
        let senders = Senders::new(&url, &o);
        let warm = warm_up(&db, &o, |w| { let senders = senders.clone(); async move { via_service("(b)", senders, &w).await } }).await?;
        let before = Cpu::now(pm, None, realtime_pid(&db).await);
        let mut out = via_service("(b) service, batching off", senders, &o).await;
        out.notes.push(Cpu::now(pm, None, realtime_pid(&db).await).since(&before).summary(out.elapsed));
        finish(&db, &o, out, warm, &mut outcomes).await?;
    }
    if o.modes.contains('c') {
        reset(&db).await?;
        let key = base.service_role_key().to_string();
        let rest = postgrest::Postgrest::new(format!("{}/rest/v1", base.api_url()))
            .insert_header("apikey", &key)
            .insert_header("Authorization", format!("Bearer {key}"));
        let warm = warm_up(&db, &o, |w| direct_per_lead("(c)", rest.clone(), w)).await?;
        let before = Cpu::now(pm, None, realtime_pid(&db).await);
        let mut out = direct_per_lead("(c) direct ingest_lead per lead via PostgREST", rest, o.clone()).await;
        out.notes.push(Cpu::now(pm, None, realtime_pid(&db).await).since(&before).summary(out.elapsed));
        finish(&db, &o, out, warm, &mut outcomes).await?;
    }
    if o.modes.contains('d') {
        reset(&db).await?;
        let mut clients = Vec::new();
        for _ in 0..o.db_connections {
            let (c, conn) = tokio_postgres::connect(base.db_url(), tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            clients.push(Arc::new(c));
        }
        let clients = Arc::new(clients);
        let warm = warm_up(&db, &o, |w| direct_batches("(d)", clients.clone(), w)).await?;
        let before = Cpu::now(pm, None, realtime_pid(&db).await);
        let label = format!("(d) ingest_leads on the database, {} per call, {} connections", o.db_batch, o.db_connections);
        let mut out = direct_batches(&label, clients, o.clone()).await;
        out.notes.push(Cpu::now(pm, None, realtime_pid(&db).await).since(&before).summary(out.elapsed));
        finish(&db, &o, out, warm, &mut outcomes).await?;
    }

    if o.modes.contains('e') {
        reset(&db).await?;
        let (url, child) = original_route(&base).await?;
        let node = child.id();
        let senders = Senders::new(&url, &o);
        let warm = warm_up(&db, &o, |w| { let senders = senders.clone(); async move { via_service("(e)", senders, &w).await } }).await?;
        let before = Cpu::now(pm, node, realtime_pid(&db).await);
        let mut out = via_service("(e) original design: Node route, REST duplicate lookup + ingest_lead per lead", senders, &o).await;
        out.notes.push(Cpu::now(pm, node, realtime_pid(&db).await).since(&before).summary(out.elapsed));
        drop(child);
        finish(&db, &o, out, warm, &mut outcomes).await?;
    }

    println!("| mode | leads | leads/s | p50 ms | p95 ms | p99 ms | failed | stored |");
    println!("|---|---|---|---|---|---|---|---|");
    for out in &outcomes {
        println!("{}", out.row(o.leads));
    }
    println!();
    for out in &outcomes {
        for note in &out.notes {
            println!("- {}: {note}", &out.label[..3]);
        }
    }
    let rate = |m: char| outcomes.iter().find(|out| out.label.starts_with(&format!("({m})"))).map(|out| out.ok as f64 / out.elapsed.as_secs_f64());
    if let Some(a) = rate('a') {
        for m in ['b', 'c', 'd', 'e'] {
            if let Some(x) = rate(m) {
                println!("(a)/({m}) = {:.2}", a / x);
            }
        }
    }
    println!(
        "\nsenders: {} ({}); (d) latency is per ingest_leads call; fsync={fsync}, synchronous_commit={sync_commit}; {}",
        o.senders,
        match o.client { Client::Http1 => "one keep-alive HTTP/1.1 connection each", Client::Reqwest => "reqwest's pooled client" },
        if o.shared_runtime { "localbase and the service on the senders' runtime (--shared-runtime)" } else { "localbase, the service and the senders each on their own threads" }
    );
    if o.subscribers > 0 {
        println!(
            "Realtime: {} subscribers as the dashboard (service-role key), {} change events received in all",
            o.subscribers,
            subscribed.changes.load(Ordering::Relaxed)
        );
    } else {
        println!("Realtime: no subscribers, so no slot streams (--subscribers N opens dashboards' sockets)");
    }
    drop(subscribed);
    drop(db);
    if o.shared_runtime {
        base.stop().await;
    } else {
        localbase_runtime.spawn(base.stop()).await?;
    }
    if std::env::var("LOADGEN_PG_LOG").is_ok_and(|v| v == "1" || v == "slow") {
        let _ = dir.keep();
    }
    Ok(())
}
