//! The fault-injection run of `tests/faults`, longer and with a printed
//! table of what each fault did and what the senders saw:
//!
//! ```text
//! cargo build --release -p localbase -p bloc-api
//! cargo run -p bloc-tests --release --example fault_injection -- --leads 2000 --seconds 120
//! ```
//!
//! `--leads` is the number of deliveries (one in ten is a batch of five
//! leads), `--seconds` the length of the fault schedule (eight equal
//! phases), `--senders` the concurrent senders (default 16), `--limit` each
//! of the four callers' daily limit (default: a quarter of the deliveries,
//! so overflow is forced). The binaries are taken from `LOCALBASE_BIN` and
//! `BLOC_API_BIN`, else from beside this example's profile folder. `--keep`
//! keeps the logs and the cluster's folder. Exits 1 if any guarantee broke. docs/reliability.md records a run.

#![allow(clippy::unwrap_used)]

#[path = "../support/faults.rs"]
mod faults;

use std::sync::Arc;
use std::time::{Duration, Instant};

use faults::{check, run_senders, Bed, History, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a whole number, got {v:?}")))
            .unwrap_or(default)
    };
    let deliveries = value("--leads", 2000) as usize;
    let options = Options {
        deliveries,
        schedule: Duration::from_secs(value("--seconds", 120)),
        senders: value("--senders", 16) as usize,
        limit: value("--limit", (deliveries / 4) as u64) as i32,
    };
    println!("options: {options:?}");
    let started = Instant::now();
    let mut bed = Bed::start(&options);
    if args.iter().any(|a| a == "--keep") {
        bed.dir.disable_cleanup(true);
    }
    println!("bed up in {:.1} s (files in {})", started.elapsed().as_secs_f64(), bed.dir.path().display());
    let history = Arc::new(History::new(bed.ingest_urls.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let run = Instant::now();
    let senders = runtime.spawn(run_senders(history.clone(), options.clone()));
    let notes = bed.run_schedule(&options, &history);
    runtime.block_on(senders).unwrap();
    let sending = run.elapsed();
    let report = check(&bed, &history, &notes, &options);
    println!("\nsent for {:.1} s; total {:.1} s\n", sending.as_secs_f64(), started.elapsed().as_secs_f64());
    println!("{}", report.table());
    if !report.violations.is_empty() {
        std::process::exit(1);
    }
}
