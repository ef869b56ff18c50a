use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use bloc_api::auth::{hmac, to_hex};
use bloc_api::{Application, Settings};
use localbase::{Config, LocalBase};
use serde_json::{json, Value};

pub const SECRET: &str = "test-secret-one";
pub const OTHER_SECRET: &str = "test-secret-two";
pub const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub struct TestApp {
    pub address: String,
    /// The operators' listener, when `ADMIN_BIND_ADDR` was given.
    pub admin_address: Option<String>,
    pub client: reqwest::Client,
    pub db: tokio_postgres::Client,
    pub base: Option<LocalBase>,
}

/// The service with default settings (batching on) over a fresh localbase.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The service with extra environment variables (`("BATCHING", "off")`).
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let base = LocalBase::start(Config::for_tests()).await.expect("localbase starts");
    spawn_app_on(base, extra).await
}

/// The service over an already started localbase.
pub async fn spawn_app_on(base: LocalBase, extra: &[(&str, &str)]) -> TestApp {
    let settings = settings_for(&base, extra);
    let app = Application::start(settings).await.expect("app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = app.admin_port().map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    let (db, connection) = tokio_postgres::connect(base.db_url(), tokio_postgres::NoTls).await.expect("db connects");
    tokio::spawn(connection);
    TestApp { address, admin_address, client: reqwest::Client::new(), db, base: Some(base) }
}

/// The settings the service gets over `base`, with `extra` variables on top.
pub fn settings_for(base: &LocalBase, extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("SUPABASE_URL", base.api_url()),
        ("SUPABASE_SERVICE_ROLE_KEY", base.service_role_key()),
        ("WEBHOOK_SECRETS", &format!("{SECRET},{OTHER_SECRET},{WHSEC}")),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("MAINTENANCE_INTERVAL_SECS", "0"),
        ("RPC_TIMEOUT_MS", "3000"),
        ("WORKERS", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("valid settings")
}

/// Waits (bounded, 30 s) until PostgREST's schema cache agrees that `path`
/// (under `/rest/v1/`) exists (`present`) or not, after a `notify pgrst`: a
/// reload takes from milliseconds to seconds on a loaded machine. With a
/// `body` the probe is a POST (an RPC given a null argument, which the
/// ingest RPCs refuse without storing anything), else a GET.
pub async fn wait_for_schema(base: &LocalBase, path: &str, body: Option<&str>, present: bool) {
    let client = reqwest::Client::new();
    let url = format!("{}/rest/v1/{path}", base.api_url());
    let key = base.service_role_key();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let request = match body {
            Some(body) => client.post(&url).header("Content-Type", "application/json").body(body.to_owned()),
            None => client.get(&url),
        };
        let status = request
            .header("apikey", key)
            .header("Authorization", format!("Bearer {key}"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status != 0 && (status == 404) != present {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "PostgREST never saw {path} as present={present}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

impl TestApp {
    /// POSTs JSON `body` with the shared-secret header.
    pub async fn post_json(&self, body: &Value) -> reqwest::Response {
        self.post_raw(body.to_string(), "application/json", &[("X-Webhook-Secret", SECRET.to_string())]).await
    }

    pub async fn post_raw(&self, body: String, content_type: &str, headers: &[(&str, String)]) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/api/ingest", self.address))
            .header("Content-Type", content_type)
            .body(body);
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        request.send().await.expect("request sent")
    }

    /// A caller taking leads from `states`.
    pub async fn add_caller(&self, name: &str, states: &[&str]) -> i64 {
        let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
        self.db
            .query_one(
                "insert into public.callers (name, assigned_states, daily_lead_limit) values ($1, $2, 1000) returning id",
                &[&name, &states],
            )
            .await
            .expect("caller inserted")
            .get(0)
    }

    pub async fn lead_count(&self) -> i64 {
        self.db.query_one("select count(*) from public.leads", &[]).await.expect("count").get(0)
    }

    /// `(phone, state)` of lead `id`.
    pub async fn lead(&self, id: i64) -> Option<(String, Option<String>, Value)> {
        self.db
            .query_opt("select phone, state, metadata from public.leads where id = $1", &[&id])
            .await
            .expect("select lead")
            .map(|row| (row.get(0), row.get(1), row.get(2)))
    }
}

/// Signs up `email` as a team member with `role`; returns an access token.
pub async fn token_for(app: &TestApp, email: &str, role: &str) -> String {
    let base = app.base.as_ref().expect("localbase");
    let key = base.service_role_key();
    let created: Value = app
        .client
        .post(format!("{}/auth/v1/admin/users", base.api_url()))
        .header("apikey", key)
        .header("Authorization", format!("Bearer {key}"))
        .json(&json!({"email": email, "password": "import-pass-1", "email_confirm": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("a user id").to_owned();
    app.db
        .execute("insert into public.team_members (user_id, role) values ($1::text::uuid, $2)", &[&id, &role])
        .await
        .unwrap();
    let session: Value = app
        .client
        .post(format!("{}/auth/v1/token?grant_type=password", base.api_url()))
        .header("apikey", base.anon_key())
        .json(&json!({"email": email, "password": "import-pass-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["access_token"].as_str().expect("an access token").to_owned()
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// `X-Signature-256` for `body` with `secret`, as Make.com computes it.
pub fn signature_header(secret: &str, body: &str) -> String {
    format!("sha256={}", to_hex(&hmac(secret.as_bytes(), &[body.as_bytes()])))
}

/// `X-Signature-256` over `"<timestamp>.<body>"` and `X-Signature-Timestamp`,
/// as the Make.com recipe in docs/ingest.md builds them.
pub fn timestamped_headers(secret: &str, timestamp: &str, body: &str) -> Vec<(&'static str, String)> {
    let mac = hmac(secret.as_bytes(), &[timestamp.as_bytes(), b".", body.as_bytes()]);
    vec![("X-Signature-256", format!("sha256={}", to_hex(&mac))), ("X-Signature-Timestamp", timestamp.to_string())]
}

/// Standard Webhooks headers for `body`.
pub fn standard_headers(id: &str, timestamp: i64, body: &str) -> Vec<(&'static str, String)> {
    let key = base64::engine::general_purpose::STANDARD.decode(&WHSEC[6..]).unwrap();
    let mac = hmac(&key, &[id.as_bytes(), b".", timestamp.to_string().as_bytes(), b".", body.as_bytes()]);
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac))),
    ]
}

/// Everything the service logs from now on, in this test's process (each
/// test runs in its own process under nextest).
pub fn capture_logs() -> Logs {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .expect("the first subscriber of this process");
    logs
}

/// Log text written so far.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}
