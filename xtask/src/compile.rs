//! Builds the service binaries and the release web bundle.

use std::path::PathBuf;
use std::process::Command;

use crate::tools::run;
use crate::{repo_root, step};

/// Paths of what [`build_all`] produced.
pub struct Artifacts {
    pub localbase: PathBuf,
    pub api: PathBuf,
    pub dist: PathBuf,
}

pub fn build_all() -> anyhow::Result<Artifacts> {
    let root = repo_root();
    step("Building localbase and the ingest service (cargo build)");
    run(
        Command::new("cargo")
            .args(["build", "--quiet", "-p", "localbase", "-p", "bloc-api"])
            .current_dir(&root),
        "cargo build",
    )?;
    step("Building the web app (trunk build --release)");
    // The wasm build gets a target dir of its own so it never waits on, or
    // invalidates, the native build's lock and artifacts.
    run(
        Command::new("trunk")
            .args(["build", "--release", "--offline"])
            .env("CARGO_TARGET_DIR", root.join("target/wasm"))
            .current_dir(&root),
        "trunk build",
    )?;
    Ok(Artifacts {
        localbase: root.join("target/debug/localbase"),
        api: root.join("target/debug/bloc-api"),
        dist: root.join("dist"),
    })
}
