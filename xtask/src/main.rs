//! Developer tasks for Bloc CRM.
//!
//! - `cargo xtask up [--simulate <leads/s>]` installs what is missing, starts
//!   localbase, the ingest service and the web app with a demo team.
//! - `cargo xtask test` installs what is missing and runs every test suite.

mod compile;
mod processes;
mod seed;
mod simulate;
mod test;
mod tools;
mod up;

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("up") => up::parse(&args[1..]).and_then(up::run),
        Some("test") => test::run(&args[1..]),
        Some("tools") => tools::ensure_all(tools::Purpose::Test),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(err) = result {
        eprintln!("\nerror: {err:#}");
        std::process::exit(1);
    }
}

const USAGE: &str = "usage:
  cargo xtask up [--simulate <leads per second>]   bring up the CRM with a demo team
  cargo xtask test [<cargo-nextest arguments>]     run every test suite (e.g. -E 'test(duplicate)')
  cargo xtask tools                                install the tools the two commands need";

/// The repository root (the folder holding the workspace `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Prints one announced step, the way every install and start is announced.
pub fn step(message: &str) {
    println!("==> {message}");
}
