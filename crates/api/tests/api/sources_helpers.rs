//! For the platform source tests: a local Graph API stub (the real one is a
//! third-party service that cannot be reached here), the service with every
//! source configured, and Meta's signing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use bloc_api::auth::{hmac, to_hex};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

pub const GOOGLE_KEY: &str = "google-form-key-1";
pub const META_SECRET: &str = "meta-app-secret-1";
pub const META_TOKEN: &str = "meta-verify-token-1";
pub const PAGE_TOKEN: &str = "page-access-token-1";
pub const WHATSAPP_SECRET: &str = "whatsapp-app-secret-1";
pub const WHATSAPP_TOKEN: &str = "whatsapp-verify-token-1";

/// How the stub answers lead reads.
#[derive(Clone, Debug)]
pub enum Graph {
    /// The lead's `field_data`, as stored with [`GraphStub::put_lead`].
    Up,
    /// `500` with a Graph error body.
    Down,
    /// Throttled: this HTTP status with this Graph error code (4, 17, 32, …).
    RateLimited { status: u16, code: i64 },
    /// Answers, but only after this long.
    Slow(Duration),
}

#[derive(Default)]
struct StubState {
    mode: Option<Graph>,
    leads: HashMap<String, Value>,
    requests: usize,
}

/// A local Graph API serving the documented shapes:
/// `GET /<version>/<id>` → `{"id","created_time","field_data":[{"name","values"}]}`,
/// errors as `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
#[derive(Clone)]
pub struct GraphStub {
    pub url: String,
    state: Arc<Mutex<StubState>>,
}

impl GraphStub {
    pub fn start() -> GraphStub {
        let state = Arc::new(Mutex::new(StubState { mode: Some(Graph::Up), ..StubState::default() }));
        let shared = web::Data::new(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).route("/{version}/{id}", web::get().to(answer))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        GraphStub { url, state }
    }

    pub fn set(&self, mode: Graph) {
        self.state.lock().unwrap().mode = Some(mode);
    }

    /// The lead `id` answers these `(name, value)` pairs.
    pub fn put_lead(&self, id: &str, fields: &[(&str, &str)]) {
        let field_data: Vec<Value> = fields.iter().map(|(n, v)| json!({"name": n, "values": [v]})).collect();
        let lead = json!({"id": id, "created_time": "2026-11-30T10:00:00+0000", "field_data": field_data, "ad_id": "6000", "form_id": "7000", "a_field_meta_added_later": {"x": 1}});
        self.state.lock().unwrap().leads.insert(id.to_owned(), lead);
    }

    /// Lead reads received so far.
    pub fn requests(&self) -> usize {
        self.state.lock().unwrap().requests
    }
}

#[derive(serde::Deserialize)]
struct Query {
    access_token: Option<String>,
}

fn graph_error(status: u16, message: &str, code: i64, subcode: Option<i64>) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).json(json!({
        "error": {"message": message, "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "AbCdEf123"}
    }))
}

async fn answer(
    path: web::Path<(String, String)>,
    query: web::Query<Query>,
    state: web::Data<Arc<Mutex<StubState>>>,
) -> HttpResponse {
    let (_version, id) = path.into_inner();
    let (mode, lead) = {
        let mut s = state.lock().unwrap();
        s.requests += 1;
        (s.mode.clone().unwrap_or(Graph::Up), s.leads.get(&id).cloned())
    };
    if query.access_token.as_deref() != Some(PAGE_TOKEN) {
        return graph_error(400, "Invalid OAuth access token - Cannot parse access token", 190, None);
    }
    match mode {
        Graph::Down => graph_error(500, "An unknown error has occurred.", 1, None),
        Graph::RateLimited { status, code } => graph_error(status, "(#4) Application request limit reached", code, None),
        Graph::Slow(delay) => {
            tokio::time::sleep(delay).await;
            lead_or_missing(lead, &id)
        }
        Graph::Up => lead_or_missing(lead, &id),
    }
}

fn lead_or_missing(lead: Option<Value>, id: &str) -> HttpResponse {
    match lead {
        Some(lead) => HttpResponse::Ok().json(lead),
        None => graph_error(
            400,
            &format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
            100,
            Some(33),
        ),
    }
}

/// The service with all three sources configured, Meta's Graph API at `graph`.
pub async fn spawn_sources_app(graph: &GraphStub, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("GOOGLE_ADS_WEBHOOK_KEY", GOOGLE_KEY),
        ("META_APP_SECRET", META_SECRET),
        ("META_VERIFY_TOKEN", META_TOKEN),
        ("META_PAGE_ACCESS_TOKEN", PAGE_TOKEN),
        ("META_GRAPH_URL", graph.url.as_str()),
        ("META_GRAPH_TIMEOUT_MS", "3000"),
        ("WHATSAPP_APP_SECRET", WHATSAPP_SECRET),
        ("WHATSAPP_VERIFY_TOKEN", WHATSAPP_TOKEN),
        // A cold PostgREST on a loaded machine can take seconds for the first call.
        ("RPC_TIMEOUT_MS", "10000"),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

/// `X-Hub-Signature-256` over `body`, as Meta signs.
pub fn hub_signature(secret: &str, body: &str) -> String {
    format!("sha256={}", to_hex(&hmac(secret.as_bytes(), &[body.as_bytes()])))
}

impl TestApp {
    /// POSTs `body` as sent, with `headers`, to `/api/sources/<source>`.
    pub async fn post_source(&self, source: &str, body: &str, headers: &[(&str, String)]) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/api/sources/{source}", self.address))
            .header("Content-Type", "application/json")
            .body(body.to_owned());
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        request.send().await.expect("request sent")
    }

    /// POSTs `body` signed with `secret` the way Meta signs.
    pub async fn post_signed(&self, source: &str, secret: &str, body: &str) -> reqwest::Response {
        self.post_source(source, body, &[("X-Hub-Signature-256", hub_signature(secret, body))]).await
    }

    /// `GET /api/sources/<source>` with Meta's verification query.
    pub async fn verify_subscription(&self, source: &str, token: &str, challenge: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/sources/{source}", self.address))
            .query(&[("hub.mode", "subscribe"), ("hub.verify_token", token), ("hub.challenge", challenge)])
            .send()
            .await
            .expect("request sent")
    }

    /// `(phone, name, state, source, metadata)` of every lead, oldest first.
    pub async fn leads(&self) -> Vec<(String, Option<String>, Option<String>, Option<String>, Value)> {
        self.db
            .query("select phone, name, state, source, metadata from public.leads order by id", &[])
            .await
            .expect("select leads")
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect()
    }
}
