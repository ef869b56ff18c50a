//! `/rest/v1` through postrust-rs's client (`postgrest`) and plain HTTP.

#![allow(clippy::unwrap_used)]

use crate::common::{create_user, http, rest, sign_in, start};
use serde_json::{json, Value};

#[tokio::test]
async fn select_with_filters_order_and_limit_returns_matching_rows() {
    let lb = start().await;

    let response = rest(&lb, lb.anon_key())
        .from("planets")
        .select("name,moons")
        .gte("moons", "2")
        .lt("moons", "100")
        .order("moons.desc")
        .limit(2)
        .execute()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let rows: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(rows, json!([{"name": "Jupiter", "moons": 95}, {"name": "Uranus", "moons": 28}]));
    lb.stop().await;
}

#[tokio::test]
async fn an_exact_count_comes_back_in_content_range() {
    let lb = start().await;

    let response = rest(&lb, lb.anon_key())
        .from("planets")
        .select("id")
        .in_("name", ["Earth", "Mars", "Pluto"])
        .order("id")
        .exact_count()
        .execute()
        .await
        .unwrap();

    // postgrest-rs asks for `Range: 0-0` with the count, so PostgREST
    // answers one row as partial content, with the total after the slash.
    assert_eq!(response.status(), 206);
    let range = response.headers().get("content-range").unwrap().to_str().unwrap().to_string();
    assert_eq!(range, "0-0/2");
    lb.stop().await;
}

#[tokio::test]
async fn rpc_results_come_back_unwrapped_and_setof_as_an_array() {
    let lb = start().await;
    let client = rest(&lb, lb.anon_key());

    let sum = client.rpc("add", r#"{"a": 2, "b": 40}"#).execute().await.unwrap();
    assert_eq!(sum.status(), 200);
    assert_eq!(sum.text().await.unwrap().trim(), "42");

    let planets = client.rpc("planets_with_moons", r#"{"min_moons": 100}"#).execute().await.unwrap();
    let planets: Value = serde_json::from_str(&planets.text().await.unwrap()).unwrap();
    assert_eq!(planets, json!([{"id": 6, "name": "Saturn", "moons": 146}]));
    lb.stop().await;
}

#[tokio::test]
async fn a_raised_exception_is_a_400_with_a_postgrest_error_body() {
    let lb = start().await;

    let response = rest(&lb, lb.anon_key()).rpc("refuse", r#"{"reason": "not today"}"#).execute().await.unwrap();

    assert_eq!(response.status(), 400);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], "P0001");
    assert_eq!(body["message"], "not today");
    assert!(body.get("details").is_some() && body.get("hint").is_some(), "{body}");
    lb.stop().await;
}

#[tokio::test]
async fn a_signed_in_user_inserts_updates_and_reads_only_their_own_rows() {
    let lb = start().await;
    create_user(&lb, "asha@example.com", "password-1").await;
    create_user(&lb, "ravi@example.com", "password-2").await;
    let asha = sign_in(&lb, "asha@example.com", "password-1").await;
    let ravi = sign_in(&lb, "ravi@example.com", "password-2").await;
    let asha_token = asha["access_token"].as_str().unwrap();
    let ravi_token = ravi["access_token"].as_str().unwrap();

    let inserted = rest(&lb, lb.anon_key())
        .from("notes")
        .auth(asha_token)
        .insert(r#"[{"title": "call back Mumbai lead"}]"#)
        .execute()
        .await
        .unwrap();
    assert_eq!(inserted.status(), 201);
    let inserted: Value = serde_json::from_str(&inserted.text().await.unwrap()).unwrap();
    assert_eq!(inserted[0]["owner"], asha["user"]["id"], "owner defaults to auth.uid()");
    let id = inserted[0]["id"].to_string();

    let updated = rest(&lb, lb.anon_key())
        .from("notes")
        .auth(asha_token)
        .eq("id", &id)
        .update(r#"{"score": 7}"#)
        .execute()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = serde_json::from_str(&updated.text().await.unwrap()).unwrap();
    assert_eq!(updated[0]["score"], 7);

    let as_ravi = rest(&lb, lb.anon_key()).from("notes").auth(ravi_token).select("*").execute().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&as_ravi.text().await.unwrap()).unwrap(), json!([]));

    let ravi_update = rest(&lb, lb.anon_key())
        .from("notes")
        .auth(ravi_token)
        .eq("id", &id)
        .update(r#"{"score": 0}"#)
        .execute()
        .await
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&ravi_update.text().await.unwrap()).unwrap(), json!([]));

    let as_anon = rest(&lb, lb.anon_key()).from("notes").select("*").execute().await.unwrap();
    assert_eq!(as_anon.status(), 401, "anon has no grant on notes");
    let as_service = rest(&lb, lb.service_role_key())
        .from("notes")
        .auth(lb.service_role_key())
        .select("score")
        .execute()
        .await
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&as_service.text().await.unwrap()).unwrap(), json!([{"score": 7}]));
    lb.stop().await;
}

#[tokio::test]
async fn the_token_sets_role_and_claims_for_auth_functions() {
    let lb = start().await;
    let user = create_user(&lb, "meera@example.com", "password-3").await;
    let session = sign_in(&lb, "meera@example.com", "password-3").await;

    let as_user = rest(&lb, lb.anon_key())
        .rpc("whoami", "{}")
        .auth(session["access_token"].as_str().unwrap())
        .execute()
        .await
        .unwrap();
    let as_user: Value = serde_json::from_str(&as_user.text().await.unwrap()).unwrap();
    assert_eq!(as_user, json!({"uid": user["id"], "role": "authenticated", "email": "meera@example.com"}));

    let as_anon = rest(&lb, lb.anon_key()).rpc("whoami", "{}").execute().await.unwrap();
    let as_anon: Value = serde_json::from_str(&as_anon.text().await.unwrap()).unwrap();
    assert_eq!(as_anon, json!({"uid": null, "role": "anon", "email": null}));
    lb.stop().await;
}

#[tokio::test]
async fn new_style_keys_act_as_anon_and_service_role() {
    let lb = start().await;

    let publishable = rest(&lb, lb.publishable_key()).rpc("whoami", "{}").execute().await.unwrap();
    let publishable: Value = serde_json::from_str(&publishable.text().await.unwrap()).unwrap();
    assert_eq!(publishable["role"], "anon");

    let secret = rest(&lb, lb.secret_key()).rpc("service_only", "{}").execute().await.unwrap();
    assert_eq!(secret.status(), 200);
    assert_eq!(secret.text().await.unwrap().trim(), "\"ok\"");

    let anon = rest(&lb, lb.publishable_key()).rpc("service_only", "{}").execute().await.unwrap();
    let status = anon.status();
    assert_eq!(status, 401, "anon may not execute service_only: {}", anon.text().await.unwrap());
    lb.stop().await;
}

#[tokio::test]
async fn a_signed_in_user_refused_a_privilege_gets_403() {
    let lb = start().await;
    create_user(&lb, "dev@example.com", "password-4").await;
    let session = sign_in(&lb, "dev@example.com", "password-4").await;

    let response = rest(&lb, lb.anon_key())
        .rpc("service_only", "{}")
        .auth(session["access_token"].as_str().unwrap())
        .execute()
        .await
        .unwrap();

    assert_eq!(response.status(), 403);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], "42501");
    lb.stop().await;
}

#[tokio::test]
async fn a_forged_token_is_refused_with_401() {
    let lb = start().await;
    let other = start().await;
    let forged = other.keys().sign_es256(&json!({"role": "service_role", "sub": "x"})).unwrap();
    let hs_forged = other.keys().sign_hs256(&json!({"role": "service_role"})).unwrap();

    for token in [forged.as_str(), hs_forged.as_str(), "not-a-jwt"] {
        let response = rest(&lb, lb.anon_key()).from("planets").auth(token).select("id").execute().await.unwrap();
        assert_eq!(response.status(), 401, "token {token}");
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert!(body["code"].as_str().unwrap().starts_with("PGRST30"), "{body}");
    }
    other.stop().await;
    lb.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_refused_with_401() {
    let lb = start().await;
    let now = chrono::Utc::now().timestamp();
    let expired = lb
        .keys()
        .sign_es256(&json!({"role": "authenticated", "sub": uuid::Uuid::new_v4(), "iat": now - 7200, "exp": now - 3600}))
        .unwrap();

    let response = rest(&lb, lb.anon_key()).from("planets").auth(&expired).select("id").execute().await.unwrap();

    assert_eq!(response.status(), 401);
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["code"], "PGRST303", "{body}");
    lb.stop().await;
}

#[tokio::test]
async fn a_well_signed_token_without_exp_is_refused_with_401() {
    let lb = start().await;
    let user = create_user(&lb, "dev@example.com", "password-4").await;
    let forever = lb.keys().sign_es256(&json!({"role": "authenticated", "sub": user["id"], "aud": "authenticated"})).unwrap();
    let legacy_forever = lb.keys().sign_hs256(&json!({"role": "service_role"})).unwrap();

    for token in [forever.as_str(), legacy_forever.as_str()] {
        let response = rest(&lb, lb.anon_key()).from("planets").auth(token).select("id").execute().await.unwrap();

        assert_eq!(response.status(), 401, "token {token}");
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(body["code"], "PGRST303", "{body}");
    }
    lb.stop().await;
}

#[tokio::test]
async fn a_request_without_an_apikey_is_refused_with_401_everywhere() {
    let lb = start().await;

    for path in ["/rest/v1/planets", "/auth/v1/user", "/auth/v1/settings", "/realtime/v1/websocket", "/nowhere"] {
        let response = http().get(format!("{}{path}", lb.api_url())).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "No API key found in request", "{path}");
    }
    let wrong = http().get(format!("{}/rest/v1/planets", lb.api_url())).header("apikey", "sb_publishable_guess").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.unwrap()["message"], "Invalid API key");
    lb.stop().await;
}

#[tokio::test]
async fn the_apikey_query_parameter_works_and_is_not_read_as_a_filter() {
    let lb = start().await;

    let response = http()
        .get(format!("{}/rest/v1/planets?select=name&id=eq.3&apikey={}", lb.api_url(), lb.publishable_key()))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!([{"name": "Earth"}]));
    lb.stop().await;
}

#[tokio::test]
async fn a_secret_key_sent_from_a_browser_is_refused() {
    let lb = start().await;

    let response = http()
        .get(format!("{}/rest/v1/planets", lb.api_url()))
        .header("apikey", lb.secret_key())
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/130")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    lb.stop().await;
}

#[tokio::test]
async fn a_browser_preflight_is_answered_with_the_headers_supabase_js_sends() {
    let lb = start().await;

    let response = http()
        .request(reqwest::Method::OPTIONS, format!("{}/rest/v1/planets", lb.api_url()))
        .header("origin", "http://localhost:8080")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "apikey,authorization,content-type,x-client-info,prefer,accept-profile,content-profile,x-supabase-api-version")
        .send()
        .await
        .unwrap();

    assert!(response.status().is_success());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    let allowed = headers["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    for h in ["apikey", "authorization", "x-client-info", "prefer", "x-supabase-api-version"] {
        assert!(allowed.contains(h), "{h} not in {allowed}");
    }
    let actual = http()
        .get(format!("{}/rest/v1/planets?select=id&limit=1", lb.api_url()))
        .header("apikey", lb.anon_key())
        .header("origin", "http://localhost:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(actual.headers().get_all("access-control-allow-origin").iter().count(), 1);
    lb.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_client_errors_and_the_server_keeps_serving() {
    let lb = start().await;
    let url = lb.api_url().to_string();
    let key = lb.anon_key().to_string();

    let cases: Vec<(reqwest::Method, String, &str)> = vec![
        (reqwest::Method::GET, format!("{url}/rest/v1/planets?id=zz.3"), ""),
        (reqwest::Method::GET, format!("{url}/rest/v1/planets?select=((("), ""),
        (reqwest::Method::GET, format!("{url}/rest/v1/no_such_table"), ""),
        (reqwest::Method::POST, format!("{url}/rest/v1/rpc/add"), "{not json"),
        (reqwest::Method::POST, format!("{url}/rest/v1/rpc/add"), r#"{"a": "x", "b": 1}"#),
        (reqwest::Method::POST, format!("{url}/auth/v1/token?grant_type=password"), "{not json"),
        (reqwest::Method::POST, format!("{url}/auth/v1/token?grant_type=nonsense"), "{}"),
        (reqwest::Method::POST, format!("{url}/auth/v1/token"), "[1,2]"),
        (reqwest::Method::GET, format!("{url}/auth/v1/user"), ""),
    ];
    for (method, target, body) in cases {
        let response = http()
            .request(method, &target)
            .header("apikey", &key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!((400..500).contains(&status), "{target} answered {status}");
    }
    let still = rest(&lb, &key).from("planets").select("id").eq("id", "1").execute().await.unwrap();
    assert_eq!(still.status(), 200);
    lb.stop().await;
}

#[tokio::test]
async fn a_publishable_key_with_a_user_token_acts_as_that_user() {
    let lb = start().await;
    let user = create_user(&lb, "pub@example.com", "password-15").await;
    let session = sign_in(&lb, "pub@example.com", "password-15").await;

    let response = rest(&lb, lb.publishable_key())
        .rpc("whoami", "{}")
        .auth(session["access_token"].as_str().unwrap())
        .execute()
        .await
        .unwrap();

    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["uid"], user["id"]);
    assert_eq!(body["role"], "authenticated");
    lb.stop().await;
}
