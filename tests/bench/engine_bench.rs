//! engine-bench: throughput and latency of the assignment engine's ingest
//! RPCs on a durable PostgreSQL 15 cluster (fsync and synchronous_commit on).
//!
//! Compares per-lead `ingest_lead` calls with `ingest_leads` batches of 1, 10
//! and 100, each at 1, 16 and 64 connections, and prints a Markdown table of
//! leads/s and per-call p50/p99 latency for docs/benchmarks.md.
//!
//! Run: `cargo run --release -p bloc-tests --bin engine-bench -- [--seconds 5] [--dir PATH]
//! [--migrations DIR]... [--designs probe,lead,1,10,100] [--connections 1,16,64] [--rounds 1]`
//!
//! - `--dir` defaults to a temp folder on the same disk as /tmp, removed afterwards.
//! - `--migrations` defaults to supabase/migrations. Give it more than once to
//!   compare engines side by side in one run: each gets its own database in
//!   the same cluster, and their cells alternate (engine 1, engine 2, … for
//!   each design and connection count, `--rounds` times), so they see the
//!   same machine load. A ratio to the first engine is printed per cell.
//! - Each engine's index names on `leads` are printed with the table, with
//!   what differs from the last engine's (see tests/bench/*.sql for the
//!   index-set variants docs/benchmarks.md compares).
//! - `--designs`: `probe` (the commit-flush baseline), `lead` (`ingest_lead`),
//!   or a batch size for `ingest_leads`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pgcluster::{Cluster, ClusterOptions};
use serde_json::{json, Value};

/// How one cell of the table calls the engine.
#[derive(Clone, Copy)]
enum Design {
    /// No engine at all: one tiny durable insert per transaction. The floor
    /// set by the disk's flush latency (and how far group commit lifts it).
    CommitProbe,
    PerLead,
    Batch(usize),
}

impl Design {
    fn label(self) -> String {
        match self {
            Design::CommitProbe => "baseline: 1-row insert per commit (no engine)".into(),
            Design::PerLead => "`ingest_lead` per lead".into(),
            Design::Batch(n) => format!("`ingest_leads` batch of {n}"),
        }
    }
    fn leads_per_call(self) -> usize {
        match self {
            Design::CommitProbe | Design::PerLead => 1,
            Design::Batch(n) => n,
        }
    }
}

struct Cell {
    engine: usize,
    design: Design,
    connections: usize,
    leads: u64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

const STATES: [&str; 6] = ["MH", "KA", "TN", "DL", "UP", "WB"];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value_of = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let list_of = |flag: &str, default: &str| -> Vec<String> {
        value_of(flag).unwrap_or_else(|| default.to_string()).split(',').map(str::to_string).collect()
    };
    let seconds: u64 = value_of("--seconds").map(|s| s.parse()).transpose()?.unwrap_or(5);
    let rounds: usize = value_of("--rounds").map(|s| s.parse()).transpose()?.unwrap_or(1);
    let designs = list_of("--designs", "probe,lead,1,10,100")
        .iter()
        .map(|d| match d.as_str() {
            "probe" => Ok(Design::CommitProbe),
            "lead" => Ok(Design::PerLead),
            n => n.parse().map(Design::Batch).with_context(|| format!("unknown design {n}")),
        })
        .collect::<anyhow::Result<Vec<Design>>>()?;
    let connections =
        list_of("--connections", "1,16,64").iter().map(|c| c.parse()).collect::<Result<Vec<usize>, _>>()?;
    let mut engines: Vec<std::path::PathBuf> = args
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == "--migrations")
        .filter_map(|(i, _)| args.get(i + 1).map(Into::into))
        .collect();
    if engines.is_empty() {
        engines.push(pgcluster::testing::migrations_dir());
    }
    let temp = tempfile::Builder::new().prefix("bloc-bench-").tempdir()?;
    let dir = value_of("--dir").map(Into::into).unwrap_or_else(|| temp.path().to_path_buf());

    let cluster = Cluster::start(&ClusterOptions { dir, port: None, durable: true })
        .context("starting a durable PostgreSQL cluster")?;
    let mut urls = Vec::new();
    for (i, migrations) in engines.iter().enumerate() {
        let url = pgcluster::create_database(&cluster.url("postgres"), &format!("bench_{i}"))?;
        pgcluster::bootstrap(&url)?;
        pgcluster::migrations::apply(&url, migrations)
            .with_context(|| format!("applying {}", migrations.display()))?;
        urls.push(url);
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let indexes = runtime.block_on(leads_indexes(&urls))?;
    let plan = Plan { designs, connections, rounds, duration: Duration::from_secs(seconds) };
    let cells = runtime.block_on(run_all(&urls, &plan))?;

    // Each engine's indexes on `leads` (every ingested lead maintains them),
    // and how they differ from the last engine's, so that a comparison meant
    // to be on the same index set shows when it is not.
    let reference = indexes.last().cloned().unwrap_or_default();
    for (i, migrations) in engines.iter().enumerate() {
        println!("engine {}: {}", i + 1, migrations.display());
        let extra: Vec<&str> = indexes[i].iter().filter(|n| !reference.contains(n)).map(String::as_str).collect();
        let missing: Vec<&str> = reference.iter().filter(|n| !indexes[i].contains(n)).map(String::as_str).collect();
        println!(
            "  {} indexes on leads{}{}",
            indexes[i].len(),
            if extra.is_empty() { String::new() } else { format!("; not in the last engine: {}", extra.join(", ")) },
            if missing.is_empty() { String::new() } else { format!("; lacks the last engine's: {}", missing.join(", ")) },
        );
    }
    println!();
    println!("| Engine | Design | Connections | Leads/s | p50 per call | p99 per call | Leads | vs engine 1 |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let rate = |c: &Cell| c.leads as f64 / c.elapsed.as_secs_f64();
    for (n, c) in cells.iter().enumerate() {
        // The same round's cell of engine 1 for this design and connection count.
        let first = &cells[n - c.engine];
        let ratio = if c.engine == 0 { "".to_string() } else { format!("{:.2}×", rate(c) / rate(first)) };
        println!(
            "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {} | {} |",
            c.engine + 1,
            c.design.label(),
            c.connections,
            rate(c),
            c.p50.as_secs_f64() * 1000.0,
            c.p99.as_secs_f64() * 1000.0,
            c.leads,
            ratio
        );
    }
    drop(cluster);
    Ok(())
}

struct Plan {
    designs: Vec<Design>,
    connections: Vec<usize>,
    rounds: usize,
    duration: Duration,
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// The names of the indexes on `public.leads` in each engine's database.
async fn leads_indexes(urls: &[String]) -> anyhow::Result<Vec<Vec<String>>> {
    let mut all = Vec::new();
    for url in urls {
        let client = connect(url).await?;
        let rows = client
            .query("select indexname::text from pg_indexes where schemaname = 'public' and tablename = 'leads' order by 1", &[])
            .await?;
        all.push(rows.iter().map(|r| r.get(0)).collect());
    }
    Ok(all)
}

async fn run_all(urls: &[String], plan: &Plan) -> anyhow::Result<Vec<Cell>> {
    let mut admins = Vec::new();
    for url in urls {
        let admin = connect(url).await?;
        // 20 callers across the states, limits high enough that tiers 1 and 2
        // do the work (overflow costs the same query).
        admin
            .batch_execute(
                "insert into callers (name, assigned_states, languages, daily_lead_limit)
                 select 'Caller ' || g,
                        array[(array['MH','KA','TN','DL','UP'])[1 + g % 5]],
                        case when g % 2 = 0 then array['hi','en'] else array['en'] end,
                        1000000
                   from generate_series(1, 20) g;
                 create table bench_commit_probe (id bigint generated always as identity, at timestamptz default now())",
            )
            .await?;
        admins.push(admin);
    }
    let phones = Arc::new(AtomicU64::new(0));
    let mut cells = Vec::new();
    for _ in 0..plan.rounds {
        for &design in &plan.designs {
            for &connections in &plan.connections {
                for (engine, (url, admin)) in urls.iter().zip(&admins).enumerate() {
                    admin
                        .batch_execute("truncate leads, assignment_logs, caller_daily_loads, bench_commit_probe; checkpoint")
                        .await?;
                    let mut cell = run_cell(url, design, connections, plan.duration, phones.clone()).await?;
                    cell.engine = engine;
                    eprintln!(
                        "engine {} {} x {connections}: {:.0} leads/s",
                        engine + 1,
                        design.label(),
                        cell.leads as f64 / cell.elapsed.as_secs_f64()
                    );
                    cells.push(cell);
                }
            }
        }
    }
    Ok(cells)
}

async fn run_cell(
    url: &str,
    design: Design,
    connections: usize,
    duration: Duration,
    phones: Arc<AtomicU64>,
) -> anyhow::Result<Cell> {
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(connect(url).await?);
    }
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for client in clients {
        let phones = phones.clone();
        tasks.push(tokio::spawn(async move {
            let sql = match design {
                Design::CommitProbe => "insert into bench_commit_probe (at) select now() where $1::jsonb is not null",
                Design::PerLead => "select ingest_lead($1)",
                Design::Batch(_) => "select ingest_leads($1)",
            };
            let statement = client.prepare(sql).await?;
            let mut latencies = Vec::new();
            let mut leads = 0u64;
            while Instant::now() < deadline {
                let items: Vec<Value> = (0..design.leads_per_call())
                    .map(|_| {
                        let n = phones.fetch_add(1, Ordering::Relaxed);
                        json!({
                            "phone": format!("+9170{n:08}"),
                            "name": "Bench Lead",
                            "state": STATES[(n % STATES.len() as u64) as usize],
                            "language": if n.is_multiple_of(3) { "hi" } else { "en" },
                            "source": "engine-bench",
                            "metadata": {"row": n}
                        })
                    })
                    .collect();
                let payload = match design {
                    Design::CommitProbe | Design::PerLead => items.into_iter().next().unwrap_or(Value::Null),
                    Design::Batch(_) => Value::from(items),
                };
                let began = Instant::now();
                if let Design::CommitProbe = design {
                    client.execute(&statement, &[&payload]).await?;
                    latencies.push(began.elapsed());
                    leads += 1;
                    continue;
                }
                let row = client.query_one(&statement, &[&payload]).await?;
                latencies.push(began.elapsed());
                let answer: Value = row.get(0);
                let ok = match &answer {
                    Value::Array(a) => a.iter().all(|r| r["status"] == "assigned"),
                    other => other["status"] == "assigned",
                };
                anyhow::ensure!(ok, "unexpected answer: {answer}");
                leads += design.leads_per_call() as u64;
            }
            anyhow::Ok((leads, latencies))
        }));
    }
    let mut leads = 0;
    let mut latencies = Vec::new();
    for t in tasks {
        let (n, l) = t.await??;
        leads += n;
        latencies.extend(l);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let pick = |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or_default();
    Ok(Cell { engine: 0, design, connections, leads, elapsed, p50: pick(0.5), p99: pick(0.99) })
}
