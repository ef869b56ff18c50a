//! The `localbase` binary as a process: it starts a project-local cluster,
//! writes status.json, and on SIGTERM stops leaving no postgres behind.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn spawn(dir: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_localbase"))
        .arg("--dir")
        .arg(dir)
        .args(["--port", "0", "--builtin-migrations", "--migrations"])
        .arg(crate::common::fixture_migrations())
        .args(extra)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning localbase")
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

#[test]
fn sigterm_stops_the_server_and_its_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(dir.path(), &[]);
    let status_path = dir.path().join("status.json");
    wait_for("status.json", Duration::from_secs(120), || {
        status_path.exists() || child.try_wait().unwrap().is_some()
    });
    assert!(child.try_wait().unwrap().is_none(), "localbase exited early");
    let status: Value = serde_json::from_str(&std::fs::read_to_string(&status_path).unwrap()).unwrap();
    let pidfile = std::fs::read_to_string(dir.path().join("db/pgdata/postmaster.pid")).unwrap();
    let postgres_pid = pidfile.lines().next().unwrap().trim().to_string();
    assert!(alive(&postgres_pid));

    let health = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/auth/v1/health?apikey={}", status["api_url"].as_str().unwrap(), status["anon_key"].as_str().unwrap()))
        .output()
        .expect("curl is installed");
    assert_eq!(String::from_utf8_lossy(&health.stdout), "200");

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    wait_for("localbase to exit", Duration::from_secs(30), || child.try_wait().unwrap().is_some());
    assert!(child.wait().unwrap().success());
    wait_for("postgres to exit", Duration::from_secs(5), || !alive(&postgres_pid));
}

#[test]
fn binding_a_non_loopback_address_needs_allow_remote() {
    let dir = tempfile::tempdir().unwrap();

    let out = spawn(dir.path(), &["--bind", "0.0.0.0"]).wait_with_output().unwrap();

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    assert!(!dir.path().join("db").exists(), "no cluster was started");
}
