//! `POST /api/imports/preview` and `POST /api/imports`: the manager's CSV
//! rows, normalized like webhook leads and stored through the database's
//! admin-only `import_leads`, with the manager's own token.

use serde_json::{json, Value};

use crate::helpers::{json, spawn_app_with, token_for, TestApp};

const FILE: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const WEB_ORIGIN: &str = "http://127.0.0.1:8123";

async fn spawn() -> TestApp {
    spawn_app_with(&[("CORS_ALLOWED_ORIGINS", WEB_ORIGIN)]).await
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = app.client.post(format!("{}/api/imports{path}", app.address)).json(body);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    request.send().await.unwrap()
}

fn rows() -> Value {
    json!({"import_ref": FILE, "rows": [
        {"row": 2, "fields": {"Full Name": "Asha", "Phone Number": "98765 43210", "State": "Maharashtra"}},
        {"row": 3, "fields": {"Full Name": "No phone", "State": "Goa"}},
        {"row": 4, "fields": {"name": "Ravi", "phone": "+91 98111 22233", "Region": "KA"}},
    ]})
}

#[tokio::test]
async fn a_preview_normalizes_each_row_names_errors_and_duplicates_and_stores_nothing() {
    let app = spawn().await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    let existing = json(app.post_json(&json!({"phone": "+919811122233"})).await).await["lead_id"].as_i64().unwrap();
    let before = app.lead_count().await;

    let response = post(&app, "/preview", Some(&token), &rows()).await;

    assert_eq!(response.status().as_u16(), 200);
    let body = json(response).await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows[0]["row"], 2);
    assert_eq!(rows[0]["status"], "ok");
    assert_eq!(rows[0]["phone"], "+919876543210");
    assert_eq!(rows[0]["state"], "MH");
    assert_eq!(rows[0].get("duplicate_of"), None);
    assert_eq!(rows[1]["status"], "invalid");
    assert_eq!(rows[1]["error"], "missing_phone");
    assert_eq!(rows[1]["name"], "No phone", "an invalid row still names its lead");
    assert_eq!(rows[2]["duplicate_of"], existing);
    assert_eq!(rows[2]["state"], "KA");
    assert_eq!(app.lead_count().await, before, "a preview stores nothing");
}

#[tokio::test]
async fn an_import_stores_each_valid_row_and_the_same_file_again_creates_nothing_twice() {
    let app = spawn().await;
    app.add_caller("Mumbai", &["MH"]).await;
    let token = token_for(&app, "admin@example.com", "admin").await;

    let first = json(post(&app, "", Some(&token), &rows()).await).await;
    let after_first = app.lead_count().await;
    let again = post(&app, "", Some(&token), &rows()).await;

    assert_eq!(first["rows"][0]["status"], "assigned", "{first}");
    assert_eq!(first["rows"][0]["caller_name"], "Mumbai");
    assert_eq!(first["rows"][1]["status"], "invalid");
    assert_eq!(first["rows"][2]["status"], "assigned", "the global tier takes KA");
    assert_eq!(after_first, 2);
    let (phone, state, metadata) = app.lead(first["rows"][0]["lead_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!((phone.as_str(), state.as_deref()), ("+919876543210", Some("MH")));
    assert_eq!(metadata, json!({}));
    assert_eq!(again.status().as_u16(), 200);
    let again = json(again).await;
    assert_eq!(again["rows"][0]["replayed"], true);
    assert_eq!(again["rows"][0]["lead_id"], first["rows"][0]["lead_id"]);
    assert_eq!(again["rows"][0]["status"], "assigned", "the first answer, not duplicate");
    assert_eq!(app.lead_count().await, after_first, "nothing created twice");
    let source: String =
        app.db.query_one("select source from public.leads order by id limit 1", &[]).await.unwrap().get(0);
    assert_eq!(source, "csv_import");
}

#[tokio::test]
async fn an_import_without_a_token_is_401_by_a_caller_403_and_stores_nothing() {
    let app = spawn().await;
    let caller = token_for(&app, "caller@example.com", "caller").await;

    let none = post(&app, "", None, &rows()).await;
    let forged = post(&app, "", Some("eyJhbGciOiJIUzI1NiJ9.e30.bad"), &rows()).await;
    let by_caller = post(&app, "", Some(&caller), &rows()).await;
    let preview_by_caller = post(&app, "/preview", Some(&caller), &rows()).await;

    assert_eq!(none.status().as_u16(), 401);
    assert_eq!(json(none).await["error"], "sign_in_required");
    assert_eq!(forged.status().as_u16(), 401);
    assert_eq!(by_caller.status().as_u16(), 403);
    assert_eq!(json(by_caller).await["error"], "forbidden");
    assert_eq!(preview_by_caller.status().as_u16(), 403);
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test]
async fn a_malformed_import_is_400_and_stores_nothing() {
    let app = spawn().await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    let row = json!({"row": 2, "fields": {"phone": "9876543210"}});

    for body in [
        json!({"import_ref": "abc", "rows": [row]}),
        json!({"import_ref": FILE, "rows": []}),
        json!({"import_ref": FILE, "rows": [row, row]}),
        json!({"import_ref": FILE, "rows": [{"row": 0, "fields": {}}]}),
        json!({"rows": [row]}),
        json!([row]),
    ] {
        let response = post(&app, "", Some(&token), &body).await;
        assert_eq!(response.status().as_u16(), 400, "{body}");
        assert_eq!(json(response).await["error"], "malformed_body");
    }
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test]
async fn only_the_configured_web_origin_gets_cors_headers() {
    let app = spawn().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/api/imports", app.address))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type")
            .send()
    };

    let allowed = preflight(WEB_ORIGIN).await.unwrap();
    let other = preflight("https://evil.example").await.unwrap();
    let answer = app
        .client
        .post(format!("{}/api/imports/preview", app.address))
        .header("Origin", WEB_ORIGIN)
        .json(&rows())
        .send()
        .await
        .unwrap();

    assert_eq!(allowed.status().as_u16(), 204);
    assert_eq!(allowed.headers()["access-control-allow-origin"], WEB_ORIGIN);
    assert!(allowed.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    assert_eq!(other.status().as_u16(), 403);
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert_eq!(answer.status().as_u16(), 401, "no token");
    assert_eq!(answer.headers()["access-control-allow-origin"], WEB_ORIGIN, "errors are readable by the web app too");
}

#[tokio::test]
async fn an_unreachable_store_is_503_with_retry_after() {
    let mut app = spawn().await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    drop(app.base.take());

    let response = post(&app, "", Some(&token), &rows()).await;

    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
    assert_eq!(json(response).await["error"], "unavailable");
}

/// A second connection to the test's database, for a transaction of its own.
async fn connect(app: &TestApp) -> tokio_postgres::Client {
    let url = app.base.as_ref().expect("localbase").db_url().to_owned();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Holds this file's import lock (the one `import_leads` takes first) until
/// the returned connection ends its transaction.
async fn hold_the_import_lock(app: &TestApp) -> tokio_postgres::Client {
    let holder = connect(app).await;
    holder
        .batch_execute(&format!("begin; select pg_advisory_xact_lock(1112297286, hashtext('{FILE}'))"))
        .await
        .unwrap();
    holder
}

/// Posts `path` until it answers `status` (a schema reload takes from
/// milliseconds to seconds), at most 30 s; the last answer.
async fn post_until(app: &TestApp, path: &str, token: &str, status: u16) -> reqwest::Response {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let response = post(app, path, Some(token), &rows()).await;
        if response.status().as_u16() == status || std::time::Instant::now() > deadline {
            return response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_import_that_waits_past_the_rpc_timeout_is_503_with_retry_after() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", WEB_ORIGIN), ("RPC_TIMEOUT_MS", "1000")]).await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    let holder = hold_the_import_lock(&app).await;

    let response = post(&app, "", Some(&token), &rows()).await;

    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
    assert_eq!(json(response).await["error"], "unavailable");
    assert_eq!(app.lead_count().await, 0);
    holder.batch_execute("rollback").await.unwrap();
}

#[tokio::test]
async fn an_import_whose_statement_the_database_cancels_is_503_and_stores_nothing() {
    let app = spawn_app_with(&[("CORS_ALLOWED_ORIGINS", WEB_ORIGIN), ("RPC_TIMEOUT_MS", "30000")]).await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    let holder = hold_the_import_lock(&app).await;
    let request = tokio::spawn({
        let client = app.client.clone();
        let url = format!("{}/api/imports", app.address);
        let token = token.clone();
        async move { client.post(url).bearer_auth(token).json(&rows()).send().await.unwrap() }
    });
    // The import waits for the lock; cancel its statement (57014), as a
    // statement_timeout would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let cancelled: i64 = app
            .db
            .query_one(
                "select count(*) from (select pg_cancel_backend(pid) from pg_stat_activity \
                  where wait_event_type = 'Lock' and query like '%import_leads%' and pid <> pg_backend_pid()) c",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if cancelled > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the import never waited for the lock");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let response = request.await.unwrap();

    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json(response).await["error"], "unavailable");
    holder.batch_execute("rollback").await.unwrap();
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test]
async fn an_import_rpc_postgrest_cannot_choose_is_500_internal_error_and_stores_nothing() {
    let logs = crate::helpers::capture_logs();
    let app = spawn().await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    // A second import_leads with the same argument names: PostgREST cannot
    // tell which one the service's request means (PGRST203), a fault in the
    // request this service builds, not in the manager's file.
    app.db
        .batch_execute(
            "create function public.import_leads(p_import_ref text, p_rows json) returns jsonb language sql as 'select null::jsonb'; \
             create function public.import_preview(p_import_ref text, p_rows json) returns jsonb language sql as 'select null::jsonb'; \
             grant execute on function public.import_leads(text, json), public.import_preview(text, json) to authenticated; \
             notify pgrst, 'reload schema';",
        )
        .await
        .unwrap();

    let preview = post_until(&app, "/preview", &token, 500).await;
    let import = post(&app, "", Some(&token), &rows()).await;

    assert_eq!(preview.status().as_u16(), 500);
    assert!(preview.headers().get("retry-after").is_none(), "not an outage to wait out");
    assert_eq!(import.status().as_u16(), 500);
    let body = json(import).await;
    assert_eq!(body["error"], "internal_error");
    assert!(!body["message"].as_str().unwrap().contains("PGRST"), "a generic body: {body}");
    assert_eq!(app.lead_count().await, 0);
    let text = logs.text();
    assert!(text.contains("ERROR") && text.contains("PGRST203"), "the cause is logged: {text}");
}

#[tokio::test]
async fn an_import_rpc_without_its_execute_grant_is_500_upstream_misconfigured_not_403() {
    let app = spawn().await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    app.db
        .batch_execute("revoke execute on function public.import_leads(text, jsonb) from authenticated")
        .await
        .unwrap();

    let response = post(&app, "", Some(&token), &rows()).await;

    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(json(response).await["error"], "upstream_misconfigured");
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test]
async fn rows_the_import_rpc_refuses_as_data_are_400_with_its_message_and_nothing_is_stored() {
    let app = spawn().await;
    app.add_caller("Mumbai", &["MH"]).await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    // The database refuses row 4 when it records the import (23514), after
    // the leads were written in the same transaction.
    app.db
        .batch_execute("alter table engine.lead_imports add constraint rows_before_four check (row_number < 4)")
        .await
        .unwrap();

    let response = post(&app, "", Some(&token), &rows()).await;

    assert_eq!(response.status().as_u16(), 400);
    let body = json(response).await;
    assert_eq!(body["error"], "malformed_body");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("the lead store refused the request: ") && message.contains("rows_before_four"), "{message}");
    assert!(!message.contains("9811122233"), "no full phone in the answer: {message}");
    assert_eq!(app.lead_count().await, 0, "the transaction rolled back");
}

/// SQL that makes the database do `raise` when `import_leads` records row
/// 4 (after the rows' leads were written in the same transaction): a
/// test-only trigger on `engine.lead_imports`; and the SQL that drops it.
fn fault_on_row_four(raise: &str) -> (String, String) {
    let create = format!(
        "create function engine.test_fault() returns trigger language plpgsql security definer set search_path = '' as $$
         begin
           if new.row_number = 4 then {raise}; end if;
           return new;
         end $$;
         create trigger test_fault before insert on engine.lead_imports for each row execute function engine.test_fault();"
    );
    (create, "drop trigger test_fault on engine.lead_imports; drop function engine.test_fault();".to_owned())
}

#[tokio::test]
async fn rows_the_database_refuses_as_data_22xxx_or_23502_are_400_with_its_message_and_nothing_is_stored() {
    let app = spawn().await;
    app.add_caller("Mumbai", &["MH"]).await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    let faults = [
        // 22P02: a value the database cannot read as its type.
        ("22P02", fault_on_row_four("perform (new.result ->> 'status')::int")),
        // 23502: a not-null column left null.
        ("23502", fault_on_row_four("new.result := null")),
    ];

    for (code, (create, drop)) in faults {
        app.db.batch_execute(&create).await.unwrap();
        let response = post(&app, "", Some(&token), &rows()).await;
        app.db.batch_execute(&drop).await.unwrap();

        assert_eq!(response.status().as_u16(), 400, "{code}");
        assert!(response.headers().get("retry-after").is_none(), "{code}: the sender's data, not to be retried");
        let body = json(response).await;
        assert_eq!(body["error"], "malformed_body", "{code}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("the lead store refused the request: "), "{code}: {message}");
        assert_eq!(app.lead_count().await, 0, "{code}: the transaction rolled back");
    }
}

#[tokio::test]
async fn a_unique_or_reference_conflict_is_503_with_retry_after_stores_nothing_and_the_retry_imports() {
    let app = spawn().await;
    app.add_caller("Mumbai", &["MH"]).await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    let faults = [
        // 23505: a unique violation, as a row another transaction wrote at
        // the same time would raise (here a test-only unique index on the
        // file: its second row's record conflicts with its first).
        (
            "23505",
            (
                "create unique index test_one_row_per_import on engine.lead_imports (import_ref)".to_owned(),
                "drop index engine.test_one_row_per_import".to_owned(),
            ),
        ),
        // 23503: the engine's own reference check, as it raises for a caller
        // deleted under it, in the dropped foreign key's name.
        (
            "23503",
            fault_on_row_four(
                "perform engine.check_references_exist('callers', array[-1::bigint], 'leads', 'caller_id', 'leads_caller_id_fkey')",
            ),
        ),
    ];

    for (code, (create, drop)) in faults {
        app.db.batch_execute(&create).await.unwrap();
        let response = post(&app, "", Some(&token), &rows()).await;
        app.db.batch_execute(&drop).await.unwrap();

        assert_eq!(response.status().as_u16(), 503, "{code}: not the sender's data");
        assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"), "{code}");
        assert_eq!(json(response).await["error"], "unavailable", "{code}");
        assert_eq!(app.lead_count().await, 0, "{code}: the transaction rolled back");
    }

    let retry = post(&app, "", Some(&token), &rows()).await;

    assert_eq!(retry.status().as_u16(), 200, "the retry after the conflict imports the file");
    let retry = json(retry).await;
    assert_eq!(retry["rows"][0]["status"], "assigned", "{retry}");
    assert_eq!(app.lead_count().await, 2);
}

#[tokio::test]
async fn an_assertion_of_the_engine_p0001_is_500_internal_error_and_stores_nothing() {
    let app = spawn().await;
    let token = token_for(&app, "admin@example.com", "admin").await;
    // The engine's own bare `raise exception` (P0001): a bug of ours.
    let (create, _) =
        fault_on_row_four("perform engine.check_references_exist('nothing', array[1::bigint], 'leads', 'caller_id', 'x')");
    app.db.batch_execute(&create).await.unwrap();

    let response = post(&app, "", Some(&token), &rows()).await;

    assert_eq!(response.status().as_u16(), 500);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(json(response).await["error"], "internal_error");
    assert_eq!(app.lead_count().await, 0);
}
