//! engine-bench: throughput and latency of the assignment engine's ingest
//! RPCs on a durable PostgreSQL 15 cluster (fsync and synchronous_commit on).
//!
//! Compares per-lead `ingest_lead` calls with `ingest_leads` batches of 1, 10
//! and 100, each at 1, 16 and 64 connections, and prints a Markdown table of
//! leads/s and per-call p50/p99 latency for docs/benchmarks.md.
//!
//! Run: `cargo run --release -p bloc-tests --bin engine-bench -- [--seconds 5] [--dir PATH] [--migrations DIR]`
//! (`--dir` defaults to a temp folder on the same disk as /tmp, removed afterwards;
//! `--migrations` defaults to supabase/migrations, and lets an older version of
//! the engine be measured under the same machine load for a before/after).

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
    let seconds: u64 = value_of("--seconds").map(|s| s.parse()).transpose()?.unwrap_or(5);
    let temp = tempfile::Builder::new().prefix("bloc-bench-").tempdir()?;
    let dir = value_of("--dir").map(Into::into).unwrap_or_else(|| temp.path().to_path_buf());

    let cluster = Cluster::start(&ClusterOptions { dir, port: None, durable: true })
        .context("starting a durable PostgreSQL cluster")?;
    let url = pgcluster::create_database(&cluster.url("postgres"), "bench")?;
    pgcluster::bootstrap(&url)?;
    let migrations = value_of("--migrations").map(Into::into).unwrap_or_else(pgcluster::testing::migrations_dir);
    pgcluster::migrations::apply(&url, &migrations)?;

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let cells = runtime.block_on(run_all(&url, Duration::from_secs(seconds)))?;

    println!("| Design | Connections | Leads/s | p50 per call | p99 per call | Leads |");
    println!("|---|---:|---:|---:|---:|---:|");
    for c in &cells {
        println!(
            "| {} | {} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            c.design.label(),
            c.connections,
            c.leads as f64 / c.elapsed.as_secs_f64(),
            c.p50.as_secs_f64() * 1000.0,
            c.p99.as_secs_f64() * 1000.0,
            c.leads
        );
    }
    drop(cluster);
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn run_all(url: &str, duration: Duration) -> anyhow::Result<Vec<Cell>> {
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
               from generate_series(1, 20) g",
        )
        .await?;
    let phones = Arc::new(AtomicU64::new(0));
    let mut cells = Vec::new();
    admin.batch_execute("create table bench_commit_probe (id bigint generated always as identity, at timestamptz default now())").await?;
    for design in [Design::CommitProbe, Design::PerLead, Design::Batch(1), Design::Batch(10), Design::Batch(100)] {
        for connections in [1, 16, 64] {
            admin
                .batch_execute("truncate leads, assignment_logs, caller_daily_loads, bench_commit_probe; checkpoint")
                .await?;
            let cell = run_cell(url, design, connections, duration, phones.clone()).await?;
            eprintln!(
                "{} x {connections}: {:.0} leads/s",
                design.label(),
                cell.leads as f64 / cell.elapsed.as_secs_f64()
            );
            cells.push(cell);
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
    Ok(Cell { design, connections, leads, elapsed, p50: pick(0.5), p99: pick(0.99) })
}
