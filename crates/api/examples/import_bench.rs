//! CSV import benchmark: 10,000 rows through `POST /api/imports` in batches
//! of 500 (as the web app sends them), against a throwaway localbase, then
//! the same file again (every row answered from the import's record).
//!
//! ```text
//! cargo run --release -p bloc-api --example import_bench -- 10000 500
//! ```
//!
//! Prints rows/s and the p50/max time per batch for the first import and
//! the re-import, and checks that the re-import created nothing.

use std::time::Instant;

use bloc_api::{Application, Settings};
use localbase::{Config, LocalBase};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u32 = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let batch: usize = args.next().map_or(Ok(500), |a| a.parse())?;

    let base = LocalBase::start(Config::for_tests()).await?;
    let vars = [
        ("SUPABASE_URL", base.api_url().to_owned()),
        ("SUPABASE_SERVICE_ROLE_KEY", base.service_role_key().to_owned()),
        ("WEBHOOK_SECRETS", "bench-secret".to_owned()),
        ("BIND_ADDR", "127.0.0.1:0".to_owned()),
        ("RPC_TIMEOUT_MS", "60000".to_owned()),
    ];
    let settings = Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = Application::start(settings).await?;
    let url = format!("http://127.0.0.1:{}/api/imports", app.port());
    tokio::spawn(app.run_until_stopped());
    let (db, connection) = tokio_postgres::connect(base.db_url(), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    for (name, states) in [("Mumbai", vec!["MH"]), ("Bengaluru", vec!["KA"]), ("Delhi", vec!["DL"]), ("Anyone", vec![])] {
        db.execute(
            "insert into public.callers (name, assigned_states, daily_lead_limit) values ($1, $2, 100000)",
            &[&name, &states.iter().map(|s| s.to_string()).collect::<Vec<_>>()],
        )
        .await?;
    }
    let token = admin_token(&base, &db).await?;

    let states = ["Maharashtra", "Karnataka", "Delhi", "Goa"];
    let file: Vec<Value> = (0..rows)
        .map(|n| {
            json!({"row": n + 2, "fields": {
                "Full Name": format!("Imported {n}"),
                "Phone Number": format!("98{:08}", 40_000_000 + n),
                "State": states[n as usize % states.len()],
                "Budget": (n * 7) % 1000,
            }})
        })
        .collect();
    let import_ref = "c0ffee".repeat(10) + "c0ff";
    let client = reqwest::Client::new();
    println!("CSV import: {rows} rows in batches of {batch}, one at a time (as the web app sends them)");
    for pass in ["first import", "same file again"] {
        let before: i64 = db.query_one("select count(*) from public.leads", &[]).await?.get(0);
        let mut times = Vec::new();
        let started = Instant::now();
        for chunk in file.chunks(batch) {
            let sent = Instant::now();
            let response = client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"import_ref": import_ref, "rows": chunk}))
                .send()
                .await?;
            anyhow::ensure!(response.status() == 200, "HTTP {}: {}", response.status(), response.text().await?);
            let answer: Value = response.json().await?;
            anyhow::ensure!(answer["rows"].as_array().map(Vec::len) == Some(chunk.len()), "one answer per row");
            times.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let after: i64 = db.query_one("select count(*) from public.leads", &[]).await?.get(0);
        times.sort_by(f64::total_cmp);
        println!(
            "  {pass:<16} {elapsed:>6.2} s  {:>7.0} rows/s  batch p50 {:>5.0} ms  max {:>5.0} ms  leads created {}",
            f64::from(rows) / elapsed,
            times[times.len() / 2],
            times[times.len() - 1],
            after - before
        );
    }
    Ok(())
}

/// An admin's access token, through Auth's password grant.
async fn admin_token(base: &LocalBase, db: &tokio_postgres::Client) -> anyhow::Result<String> {
    let client = reqwest::Client::new();
    let key = base.service_role_key();
    let user: Value = client
        .post(format!("{}/auth/v1/admin/users", base.api_url()))
        .header("apikey", key)
        .bearer_auth(key)
        .json(&json!({"email": "bench@import.test", "password": "bench-pass-1", "email_confirm": true}))
        .send()
        .await?
        .json()
        .await?;
    let id = user["id"].as_str().ok_or_else(|| anyhow::anyhow!("no user id: {user}"))?;
    db.execute("insert into public.team_members (user_id, role) values ($1::text::uuid, 'admin')", &[&id]).await?;
    let session: Value = client
        .post(format!("{}/auth/v1/token?grant_type=password", base.api_url()))
        .header("apikey", base.anon_key())
        .json(&json!({"email": "bench@import.test", "password": "bench-pass-1"}))
        .send()
        .await?
        .json()
        .await?;
    session["access_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no token: {session}"))
}
