//! `cargo xtask up`: the whole CRM on this machine, with a demo team.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::processes::{ensure_port_free, wait_http_ok, Supervisor};
use crate::seed::{self, Backend};
use crate::simulate::{self, Stats};
use crate::tools::{self, Purpose};
use crate::{compile, repo_root, step};

const LOCALBASE_PORT: u16 = 54321;
const API_PORT: u16 = 8080;
const WEB_PORT: u16 = 8000;

pub struct UpOptions {
    /// Leads per second to feed, when asked.
    simulate: Option<f64>,
}

pub fn parse(args: &[String]) -> anyhow::Result<UpOptions> {
    let mut opts = UpOptions { simulate: None };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--simulate" => {
                let rate = it.next().context("--simulate needs a rate in leads per second, e.g. --simulate 5")?;
                let rate: f64 = rate
                    .parse()
                    .ok()
                    .filter(|r: &f64| *r > 0.0 && *r <= 1000.0)
                    .with_context(|| format!("--simulate {rate}: give a rate between 0 and 1000 leads per second"))?;
                opts.simulate = Some(rate);
            }
            other => bail!("unknown argument {other:?}; usage: cargo xtask up [--simulate <leads per second>]"),
        }
    }
    Ok(opts)
}

pub fn run(opts: UpOptions) -> anyhow::Result<()> {
    tools::ensure_all(Purpose::Up)?;
    let artifacts = compile::build_all()?;
    let root = repo_root();
    let dir = root.join(".localbase");
    ensure_port_free(LOCALBASE_PORT, "localbase")?;
    ensure_port_free(API_PORT, "the ingest service")?;
    ensure_port_free(WEB_PORT, "the web app")?;

    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("installing the Ctrl-C handler")?;

    let mut supervisor = Supervisor::default();
    step("Starting localbase (PostgreSQL under .localbase/, migrations, REST, Auth, Realtime)");
    let status_file = dir.join("status.json");
    let _ = std::fs::remove_file(&status_file);
    supervisor.spawn(
        "localbase",
        Command::new(&artifacts.localbase)
            .arg("--dir")
            .arg(&dir)
            .args(["--port", &LOCALBASE_PORT.to_string()])
            .current_dir(&root),
        &dir.join("logs/localbase.log"),
    )?;
    let status = wait_for_status(&status_file, &mut supervisor)?;
    let api_url = text(&status, "api_url")?;
    let anon_key = text(&status, "anon_key")?;
    let service_role_key = text(&status, "service_role_key")?;
    wait_http_ok(&format!("{api_url}/auth/v1/health"), &[("apikey", &anon_key)], Duration::from_secs(60))?;

    step("Seeding the demo team (one admin, six callers)");
    seed::seed(&Backend { api_url: api_url.clone(), service_role_key: service_role_key.clone() })?;

    step("Starting the ingest service");
    let secret = webhook_secret(&dir)?;
    supervisor.spawn(
        "ingest service",
        Command::new(&artifacts.api)
            .env("SUPABASE_URL", &api_url)
            .env("SUPABASE_SERVICE_ROLE_KEY", &service_role_key)
            .env("WEBHOOK_SECRETS", &secret)
            .env("BIND_ADDR", format!("127.0.0.1:{API_PORT}"))
            // The web app's CSV import calls the service from its origin.
            .env("CORS_ALLOWED_ORIGINS", format!("http://127.0.0.1:{WEB_PORT},http://localhost:{WEB_PORT}"))
            .env("RUST_LOG", "info")
            .current_dir(&root),
        &dir.join("logs/api.log"),
    )?;
    let ingest_base = format!("http://127.0.0.1:{API_PORT}");
    wait_http_ok(&format!("{ingest_base}/healthz"), &[], Duration::from_secs(60))?;

    step("Serving the web app");
    let config = json!({ "supabase_url": api_url, "supabase_anon_key": anon_key, "ingest_url": ingest_base }).to_string();
    supervisor.spawn(
        "web server",
        Command::new("node")
            .arg(root.join("tests/support/static_server.mjs"))
            .arg("--dist")
            .arg(&artifacts.dist)
            .args(["--port", &WEB_PORT.to_string(), "--config", &config])
            .current_dir(&root),
        &dir.join("logs/web.log"),
    )?;
    if let Err(err) = wait_http_ok(&format!("http://127.0.0.1:{WEB_PORT}/config.json"), &[], Duration::from_secs(30)) {
        supervisor.check_alive()?;
        return Err(err);
    }

    print_summary(&api_url, &anon_key, &service_role_key, &ingest_base, &secret);

    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    if let Some(rate) = opts.simulate {
        println!("Simulating Make.com traffic at {rate} leads/s:");
        simulate::start(format!("{ingest_base}/api/ingest"), secret.clone(), rate, stats.clone());
    }
    loop {
        if stop_rx.recv_timeout(Duration::from_millis(500)).is_ok() {
            break;
        }
        if let Err(err) = supervisor.check_alive() {
            supervisor.stop_all();
            return Err(err);
        }
        if opts.simulate.is_some() {
            print!("\r{}\x1b[K", simulate::progress_line(&stats, started));
            let _ = std::io::stdout().flush();
        }
    }
    println!("\nStopping the web server, the ingest service and localbase…");
    supervisor.stop_all();
    println!("Stopped. Data stays in .localbase/; `cargo xtask up` starts it again.");
    Ok(())
}

fn wait_for_status(path: &Path, supervisor: &mut Supervisor) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        supervisor.check_alive()?;
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(value) = serde_json::from_str::<Value>(&text) {
                return Ok(value);
            }
        }
        if Instant::now() > deadline {
            bail!("localbase wrote no {} within 5 minutes; see .localbase/logs/localbase.log", path.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn text(status: &Value, key: &str) -> anyhow::Result<String> {
    status[key].as_str().map(str::to_string).with_context(|| format!("localbase status has no {key}"))
}

/// The demo webhook secret, made once and kept beside the local data.
fn webhook_secret(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("webhook_secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.trim().is_empty() {
            return Ok(existing.trim().to_string());
        }
    }
    use rand::Rng;
    let bytes: [u8; 24] = rand::thread_rng().gen();
    let secret = hex::encode(bytes);
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

fn print_summary(api_url: &str, anon_key: &str, service_key: &str, ingest: &str, secret: &str) {
    let example = r#"{"name":"Asha Rao","phone":"+91 98765 43210","state":"Maharashtra","language":"Hindi"}"#;
    println!();
    println!("Bloc CRM is up.");
    println!("  Web app          http://127.0.0.1:{WEB_PORT}");
    println!("  Ingest service   {ingest}/api/ingest   (health {ingest}/healthz, metrics {ingest}/metrics)");
    println!("  Supabase API     {api_url}   (REST /rest/v1, Auth /auth/v1, Realtime /realtime/v1)");
    println!("  anon key         {anon_key}");
    println!("  service key      {service_key}");
    println!("  webhook secret   {secret}");
    println!();
    println!("Sign in as:");
    for (role, name, email, password) in seed::sign_ins() {
        println!("  {role:<7} {name:<14} {email:<20} {password}");
    }
    println!();
    println!("Post a lead:");
    println!(
        "  curl -i -X POST {ingest}/api/ingest -H 'Content-Type: application/json' -H 'X-Webhook-Secret: {secret}' -d '{example}'"
    );
    println!();
    println!("Logs are in .localbase/logs/. Press Ctrl-C to stop everything.");
}
