use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_answer_ok_when_the_database_is_up() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(json(response).await["status"], "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_leads_batches_and_latency() {
    let app = spawn_app().await;
    app.post_json(&json!({"phone": "9876543210"})).await;
    app.post_json(&json!({"phone": "12"})).await;
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("bloc_http_requests_total{route=\"/api/ingest\",status=\"202\"} 1"), "{text}");
    assert!(text.contains("bloc_http_requests_total{route=\"/api/ingest\",status=\"422\"} 1"), "{text}");
    assert!(text.contains("bloc_leads_total{outcome=\"unassigned\"} 1"), "{text}");
    assert!(text.contains("bloc_leads_total{outcome=\"invalid\"} 1"), "{text}");
    assert!(text.contains("bloc_ingest_batch_size_count 1"), "{text}");
    assert!(text.contains("bloc_http_request_duration_seconds_count{route=\"/api/ingest\"} 2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_address_metrics_and_readiness_are_served_there_and_not_on_the_public_port() {
    let app = spawn_app_with(&[("ADMIN_BIND_ADDR", "127.0.0.1:0")]).await;
    let admin = app.admin_address.clone().expect("an admin listener");
    assert_ne!(admin, app.address);
    assert_eq!(app.post_json(&json!({"phone": "9876543210"})).await.status().as_u16(), 202);

    let status = |address: String, path: &'static str| {
        let client = app.client.clone();
        async move { client.get(format!("{address}{path}")).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(app.address.clone(), "/metrics").await, 404);
    assert_eq!(status(app.address.clone(), "/readyz").await, 404);
    assert_eq!(status(app.address.clone(), "/healthz").await, 200);
    assert_eq!(status(app.address.clone(), "/api/openapi.json").await, 200);
    assert_eq!(status(admin.clone(), "/readyz").await, 200);
    assert_eq!(status(admin.clone(), "/healthz").await, 200);
    assert_eq!(status(admin.clone(), "/api/openapi.json").await, 404);
    let ingest_on_admin = app.client.post(format!("{admin}/api/ingest")).body("{}").send().await.unwrap();
    assert_eq!(ingest_on_admin.status().as_u16(), 404);
    let metrics = app.client.get(format!("{admin}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("bloc_http_requests_total{route=\"/api/ingest\",status=\"202\"} 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_matches_the_committed_file() {
    let app = spawn_app().await;
    let served = app.client.get(format!("{}/api/openapi.json", app.address)).send().await.unwrap().text().await.unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(path).expect("crates/api/openapi.json exists (UPDATE_OPENAPI=1 writes it)");
    assert_eq!(served, committed, "run UPDATE_OPENAPI=1 cargo nextest run -p bloc-api openapi, and commit the file");
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert!(doc["paths"]["/api/ingest"]["post"].is_object());
    assert!(doc["components"]["schemas"]["ApiError"].is_object());
}

/// Every `(METHOD, path)` that `src/routes/mod.rs` mounts with
/// `.route("<path>", web::<method>()…)`, prefixed by the `web::scope("…")`
/// it is chained on. CORS preflights (`web::method(OPTIONS)`) are left out:
/// the POST they precede documents them.
fn mounted_routes() -> std::collections::BTreeSet<(String, String)> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes/mod.rs")).unwrap();
    enum Pending {
        Scope(usize),
        Route(usize),
    }
    let mut routes = std::collections::BTreeSet::new();
    // Each open scope: the paren depth of the chain it starts, its prefix.
    let mut scopes: Vec<(usize, String)> = Vec::new();
    let mut pending = None;
    let mut depth = 0usize;
    let mut i = 0;
    while i < source.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("web::scope(") {
            pending = Some(Pending::Scope(depth));
            i += "web::scope".len();
        } else if rest.starts_with(".route(") {
            pending = Some(Pending::Route(depth));
            i += ".route".len();
        } else if let Some(quoted) = rest.strip_prefix('"') {
            let end = 1 + quoted.find('"').unwrap();
            let literal = quoted[..end - 1].to_owned();
            match pending.take() {
                Some(Pending::Scope(at)) => scopes.push((at, literal)),
                Some(Pending::Route(at)) => {
                    let method = rest[end + 1..].trim_start_matches([',', ' ', '\n']).strip_prefix("web::").unwrap_or("");
                    let method = &method[..method.find('(').unwrap_or(0)];
                    let prefix = scopes.iter().rev().find(|(d, _)| *d == at).map(|(_, p)| p.as_str()).unwrap_or("");
                    if method != "method" {
                        routes.insert((method.to_uppercase(), format!("{prefix}{literal}")));
                    }
                }
                None => {}
            }
            i += end + 1;
        } else {
            let c = rest.chars().next().unwrap();
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    scopes.retain(|(d, _)| *d <= depth);
                }
                _ => {}
            }
            i += c.len_utf8();
        }
    }
    routes
}

#[test]
fn every_route_the_service_mounts_is_in_the_openapi_document_and_nothing_else_is() {
    let doc: serde_json::Value = serde_json::from_str(&bloc_api::routes::openapi::document()).unwrap();
    let documented: std::collections::BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |method| (method.to_uppercase(), path.clone())))
        .collect();

    let mounted = mounted_routes();

    assert!(mounted.contains(&("POST".to_owned(), "/api/imports/preview".to_owned())), "the reader sees scopes: {mounted:?}");
    assert!(mounted.contains(&("GET".to_owned(), "/readyz".to_owned())), "{mounted:?}");
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&mounted).collect();
    assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
    assert!(stale.is_empty(), "documented but not mounted: {stale:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_over_the_rate_limit_gets_429_with_retry_after() {
    let app = spawn_app_with(&[("RATE_LIMIT_PER_MINUTE", "2")]).await;
    for phone in ["9876543210", "9876543211"] {
        assert!(app.post_json(&json!({"phone": phone})).await.status().is_success());
    }
    let limited = app.post_json(&json!({"phone": "9876543212"})).await;
    assert_eq!(limited.status().as_u16(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    assert_eq!(json(limited).await["error"], "rate_limited");
    assert_eq!(app.lead_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maintenance_rpcs_answer_through_postgrest() {
    let app = spawn_app().await;
    let rest = service_rest(&app);
    for function in ["reassign_stale_leads", "assign_backlog"] {
        let result = rest.maintenance(function).await.unwrap_or_else(|e| panic!("{function}: {e}"));
        assert_eq!(result["moved"], 0, "{function}: {result}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_backlog_assigns_a_lead_left_unassigned_when_its_callers_pause_simply_expires() {
    let app = spawn_app().await;
    let rest = service_rest(&app);
    // Paused for a few more seconds: the insert trigger does not drain the
    // backlog for a paused caller, and nothing fires when a pause expires.
    let caller: i64 = app
        .db
        .query_one(
            "insert into public.callers (name, assigned_states, daily_lead_limit, paused_until) \
             values ('Back soon', '{}', 1000, now() + interval '5 seconds') returning id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let response = app.post_json(&json!({"phone": "9876543210"})).await;
    assert_eq!(response.status().as_u16(), 202, "nobody is eligible while the only caller is paused");
    let id = json(response).await["lead_id"].as_i64().unwrap();
    app.db
        .execute("select pg_sleep(extract(epoch from paused_until - clock_timestamp()) + 0.2) from public.callers", &[])
        .await
        .unwrap();
    assert_eq!(lead_caller(&app, id).await, None, "the pause expired without anything assigning the lead");

    let result = rest.maintenance("assign_backlog").await.unwrap();

    assert_eq!(result["moved"], 1, "{result}");
    assert_eq!(result["leads"], json!([id]), "{result}");
    assert_eq!(lead_caller(&app, id).await, Some(caller));
    let reason: String = app
        .db
        .query_one("select reason from public.assignment_logs where lead_id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(reason, "backlog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_created_active_takes_the_backlog_at_once_without_a_maintenance_run() {
    let app = spawn_app().await;
    let id = json(app.post_json(&json!({"phone": "9876543210"})).await).await["lead_id"].as_i64().unwrap();

    let caller = app.add_caller("Late", &[]).await;

    assert_eq!(lead_caller(&app, id).await, Some(caller));
}

/// A PostgREST client with the service key, as the maintenance job uses.
fn service_rest(app: &TestApp) -> bloc_api::rpc::Rest {
    let base = app.base.as_ref().unwrap();
    let settings = bloc_api::Settings::from_lookup(|name| match name {
        "SUPABASE_URL" => Some(base.api_url().to_string()),
        "SUPABASE_SERVICE_ROLE_KEY" => Some(base.service_role_key().to_string()),
        "WEBHOOK_SECRETS" => Some(SECRET.into()),
        _ => None,
    })
    .unwrap();
    bloc_api::rpc::Rest::new(&settings)
}

async fn lead_caller(app: &TestApp, id: i64) -> Option<i64> {
    app.db.query_one("select caller_id from public.leads where id = $1", &[&id]).await.unwrap().get(0)
}
