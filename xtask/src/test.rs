//! `cargo xtask test`: every suite, under one runner.
//!
//! Rust suites (unit, database, integration) and the JS suites (supabase-js
//! conformance and the browser tests, wrapped as Rust tests in
//! `tests/js_suites.rs`) all run under cargo-nextest, so the run ends with
//! nextest's summary line and exits non-zero on any failure.

use std::process::Command;

use crate::tools::{self, Purpose};
use crate::{compile, repo_root, step};

pub fn run(extra: &[String]) -> anyhow::Result<()> {
    tools::ensure_all(Purpose::Test)?;
    let artifacts = compile::build_all()?;
    step("Running every suite: unit, database, integration, supabase-js conformance, browser");
    let status = Command::new("cargo")
        .args(["nextest", "run", "--workspace", "--no-fail-fast"])
        .args(extra)
        .env("LOCALBASE_BIN", &artifacts.localbase)
        .env("BLOC_API_BIN", &artifacts.api)
        .env("BLOC_DIST", &artifacts.dist)
        .current_dir(repo_root())
        .status()?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}
