//! Installs what the two commands need, announcing each step and skipping
//! whatever is already there.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use crate::{repo_root, step};

/// `up` needs the runtime tools; `test` also needs the test runners.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Up,
    Test,
}

/// `postgresql-15-cron` is pg_cron, the scheduler that runs the sweeps inside
/// the database: every cluster pgcluster starts preloads it.
const APT_PACKAGES: &[&str] = &[
    "postgresql",
    "postgresql-15-wal2json",
    "postgresql-15-cron",
    "binaryen",
    "chromium",
    "chromium-driver",
];

pub fn ensure_all(purpose: Purpose) -> anyhow::Result<()> {
    ensure_apt_packages()?;
    ensure_wasm_target()?;
    ensure_trunk()?;
    ensure_wasm_bindgen()?;
    ensure_npm_packages()?;
    if purpose == Purpose::Test {
        ensure_nextest()?;
    }
    Ok(())
}

fn ensure_apt_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = APT_PACKAGES.iter().copied().filter(|p| !dpkg_installed(p)).collect();
    if missing.is_empty() {
        step(&format!("Debian packages present: {}", APT_PACKAGES.join(", ")));
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "missing Debian packages {}; install them with `sudo apt-get install -y {}` and run again",
            missing.join(", "),
            missing.join(" ")
        );
    }
    step(&format!("Installing Debian packages: {}", missing.join(", ")));
    // A fresh machine's package lists may be empty, or older than the
    // archive (the listed version is gone): then update them and try again.
    let mut updated = false;
    if missing.iter().any(|p| !apt_knows(p)) {
        apt_update()?;
        updated = true;
    }
    let install = || {
        run(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install",
        )
    };
    let installed = match install() {
        Err(_) if !updated => apt_update().and_then(|()| install()),
        result => result,
    };
    installed.with_context(|| format!("could not install the Debian packages {}", missing.join(", ")))
}

fn apt_update() -> anyhow::Result<()> {
    run(Command::new("apt-get").arg("update").arg("-qq"), "apt-get update")
}

/// Whether apt's package lists have a candidate version of `package`.
fn apt_knows(package: &str) -> bool {
    Command::new("apt-cache")
        .args(["policy", package])
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.lines().any(|l| l.trim().starts_with("Candidate:") && !l.contains("(none)"))
        })
        .unwrap_or(false)
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        step("Rust target wasm32-unknown-unknown present");
        return Ok(());
    }
    step("Adding Rust target wasm32-unknown-unknown");
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]), "rustup target add")
}

fn ensure_trunk() -> anyhow::Result<()> {
    if let Ok(version) = output(Command::new("trunk").arg("--version")) {
        if version.trim().starts_with("trunk 0.21.") {
            step(&format!("{} present", version.trim()));
            return Ok(());
        }
    }
    step("Installing trunk 0.21 (about 8 minutes; 0.22 needs a newer rustc)");
    run(
        Command::new("cargo").args(["install", "trunk", "--version", "~0.21", "--locked"]),
        "cargo install trunk",
    )
}

/// Trunk would otherwise try to download wasm-bindgen, which fails offline,
/// so the CLI must match the `wasm-bindgen` crate in `Cargo.lock` exactly.
fn ensure_wasm_bindgen() -> anyhow::Result<()> {
    let Some(wanted) = locked_version("wasm-bindgen")? else {
        step("No wasm-bindgen in Cargo.lock; skipping wasm-bindgen-cli");
        return Ok(());
    };
    if let Ok(version) = output(Command::new("wasm-bindgen").arg("--version")) {
        if version.split_whitespace().nth(1) == Some(wanted.as_str()) {
            step(&format!("wasm-bindgen-cli {wanted} present"));
            return Ok(());
        }
    }
    step(&format!("Installing wasm-bindgen-cli {wanted} (a few minutes)"));
    run(
        Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &wanted, "--force"]),
        "cargo install wasm-bindgen-cli",
    )
}

/// The version of `crate_name` recorded in `Cargo.lock`.
pub fn locked_version(crate_name: &str) -> anyhow::Result<Option<String>> {
    let lock = std::fs::read_to_string(repo_root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let needle = format!("name = \"{crate_name}\"\n");
    Ok(lock.split("[[package]]").find(|block| block.contains(&needle)).and_then(|block| {
        block
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .map(|v| v.trim_end_matches('"').to_string())
    }))
}

/// Folders with pinned npm packages: the JS suites (supabase-js,
/// playwright-core, the Supabase CLI) and the web build's current binaryen.
const NPM_FOLDERS: &[(&str, &str)] = &[
    ("tests", "supabase-js, playwright-core, Supabase CLI"),
    ("crates/web", "binaryen for the web build"),
];

fn ensure_npm_packages() -> anyhow::Result<()> {
    for (folder, what) in NPM_FOLDERS {
        let dir = repo_root().join(folder);
        if npm_packages_match(&dir)? {
            step(&format!("npm packages in {folder}/ present ({what})"));
            continue;
        }
        step(&format!("Installing npm packages in {folder}/ ({what}) with npm ci"));
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir), "npm ci")?;
    }
    Ok(())
}

fn npm_packages_match(dir: &Path) -> anyhow::Result<bool> {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json"))?)?;
    let Some(deps) = manifest["dependencies"].as_object() else { return Ok(true) };
    for (name, version) in deps {
        let installed = dir.join("node_modules").join(name).join("package.json");
        let Ok(text) = std::fs::read_to_string(installed) else { return Ok(false) };
        let found: serde_json::Value = serde_json::from_str(&text)?;
        if found["version"] != *version {
            return Ok(false);
        }
    }
    Ok(true)
}

fn ensure_nextest() -> anyhow::Result<()> {
    if output(Command::new("cargo").args(["nextest", "--version"])).is_ok() {
        step("cargo-nextest present");
        return Ok(());
    }
    step("Installing cargo-nextest");
    run(
        Command::new("cargo").args(["install", "cargo-nextest", "--locked"]),
        "cargo install cargo-nextest",
    )
}

/// Runs `cmd` with inherited output; fails naming `what` if it fails.
pub fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("starting {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!("command failed");
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
