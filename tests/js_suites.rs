//! Runs the JS suites (`node --test`) as part of the Rust test run, so that
//! `cargo xtask test` has one runner and one summary.
//!
//! They need the built `localbase` and `bloc-api` binaries and the release web
//! build; `cargo xtask test` builds them and passes their paths as
//! `LOCALBASE_BIN`, `BLOC_API_BIN` and `BLOC_DIST`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_node_suite(folder: &str) {
    let dir = tests_dir().join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no *.test.mjs files in {}", dir.display());
    assert!(
        tests_dir().join("node_modules/@supabase/supabase-js").exists(),
        "npm packages missing in tests/: run `cargo xtask test` (it runs npm ci)"
    );
    for (var, default) in [("LOCALBASE_BIN", "target/debug/localbase"), ("BLOC_API_BIN", "target/debug/bloc-api")] {
        let path = std::env::var(var).map(PathBuf::from).unwrap_or_else(|_| tests_dir().join("..").join(default));
        assert!(Path::new(&path).exists(), "{var}: {} is missing; `cargo xtask test` builds it", path.display());
    }
    let status = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .args(&files)
        .current_dir(tests_dir())
        .status()
        .unwrap_or_else(|e| panic!("node is required for the JS suites and could not start: {e}"));
    assert!(status.success(), "node --test {folder}/ failed ({status}); its report is above");
}

#[test]
fn the_supabase_js_conformance_suite_passes_against_localbase() {
    run_node_suite("conformance");
}

#[test]
fn the_browser_suite_passes_in_headless_chromium() {
    let dist = std::env::var("BLOC_DIST").map(PathBuf::from).unwrap_or_else(|_| tests_dir().join("../dist"));
    assert!(dist.join("index.html").exists(), "{} has no release web build; `cargo xtask test` builds it", dist.display());
    assert!(Path::new("/usr/bin/chromium").exists(), "Debian's chromium is missing; `cargo xtask test` installs it");
    run_node_suite("browser");
}
