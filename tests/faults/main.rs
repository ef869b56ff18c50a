//! The fault-injection proof (issue 10): two ingest instances over one
//! localbase, Make-like senders retrying with their `Idempotency-Key`, and
//! while they send: lock timeouts, deadlocks, a PostgreSQL crash, statement
//! timeouts, a localbase crash and an ingest instance killed mid-batch.
//! Afterwards the history must show no lead lost, none doubled, no valid
//! lead refused, replays answered byte for byte, and the routing rule's cap
//! and fairness intact. The bed is `tests/support/faults.rs`; the longer
//! run with a printed table is `cargo run -p bloc-tests --example
//! fault_injection`, and docs/reliability.md states the guarantees.
//!
//! Needs the `localbase` and `bloc-api` binaries (`cargo xtask test` builds
//! them and passes `LOCALBASE_BIN` and `BLOC_API_BIN`; otherwise
//! `target/debug/`).

#![allow(clippy::unwrap_used)]

#[path = "../support/faults.rs"]
mod faults;

use std::sync::Arc;
use std::time::Duration;

use faults::{check, run_senders, tail, Bed, History, Options};

#[test]
fn no_lead_is_lost_doubled_or_refused_through_crashes_timeouts_and_deadlocks() {
    let options = Options { deliveries: 300, schedule: Duration::from_secs(32), senders: 8, limit: 40 };
    let mut bed = Bed::start(&options);
    let history = Arc::new(History::new(bed.ingest_urls.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let senders = runtime.spawn(run_senders(history.clone(), options.clone()));
    let notes = bed.run_schedule(&options, &history);
    runtime.block_on(senders).unwrap();

    let report = check(&bed, &history, &notes, &options);
    let table = report.table();
    println!("{table}");
    let logs = || {
        ["localbase.log", "ingest-0.log", "ingest-1.log"]
            .iter()
            .map(|name| format!("--- {name}\n{}", tail(&bed.dir.path().join(name), 15)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    // The schedule really did what each phase is named for.
    let phase = |name: &str| report.phases.iter().find(|p| p.name == name).unwrap();
    assert!(phase("lock timeout").provoked.lock_timeouts > 0, "no lock timeout was provoked\n{table}");
    assert!(phase("deadlock").provoked.deadlocks > 0, "no deadlock was provoked\n{table}");
    assert!(phase("statement timeout").provoked.statement_timeouts > 0, "no statement timeout was provoked\n{table}");
    assert!(phase("ingest crash").note.contains("batch in flight"), "the ingest instance was not killed mid-batch\n{table}");
    assert!(report.phases.iter().map(|p| p.unavailable).sum::<usize>() > 0, "the senders never saw a 503\n{table}");
    assert!(report.phases.iter().map(|p| p.retries).sum::<usize>() > 0, "the senders never retried\n{table}");
    assert!(report.replays_compared >= 50 && report.concurrent_pairs_compared >= 20, "too few replays compared\n{table}");
    assert!(report.overflow > 0, "the run must force overflow to check the cap\n{table}");
    // The guarantees.
    assert!(report.violations.is_empty(), "broken guarantees:\n{table}\n{}", logs());
}
