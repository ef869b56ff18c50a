//! `/auth/v1`: the GoTrue subset, over plain HTTP.

#![allow(clippy::unwrap_used)]

use crate::common::{create_user, http, password_grant, refresh, sign_in, start, start_with};
use serde_json::{json, Value};

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn signing_in_returns_a_session_with_gotrue_claims() {
    let lb = start().await;
    let user = create_user(&lb, "Asha@Example.com", "password-1").await;

    let session = sign_in(&lb, "asha@example.com", "password-1").await;

    assert_eq!(session["token_type"], "bearer");
    assert_eq!(session["expires_in"], 3600);
    assert_eq!(session["user"]["id"], user["id"]);
    assert_eq!(session["user"]["email"], "asha@example.com");
    assert!(session["refresh_token"].as_str().unwrap().len() >= 12);
    let claims = claims_of(session["access_token"].as_str().unwrap());
    for claim in ["iss", "sub", "aud", "exp", "iat", "email", "phone", "app_metadata", "user_metadata", "role", "aal", "amr", "session_id", "is_anonymous"] {
        assert!(claims.get(claim).is_some(), "missing claim {claim}: {claims}");
    }
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["role"], "authenticated");
    assert_eq!(claims["aud"], "authenticated");
    assert_eq!(claims["iss"], format!("{}/auth/v1", lb.api_url()));
    assert_eq!(session["expires_at"], claims["exp"]);
    assert_eq!(lb.keys().verify(session["access_token"].as_str().unwrap()).unwrap()["sub"], user["id"]);
    lb.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_a_400_invalid_credentials() {
    let lb = start().await;
    create_user(&lb, "ravi@example.com", "password-2").await;

    for (email, password) in [("ravi@example.com", "wrong-password"), ("nobody@example.com", "password-2")] {
        let response = password_grant(&lb, email, password).await;
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["x-supabase-api-version"], "2024-01-01");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "invalid_credentials");
        assert_eq!(body["message"], "Invalid login credentials");
    }
    lb.stop().await;
}

#[tokio::test]
async fn a_refresh_rotates_the_token_and_reuse_of_an_old_one_ends_the_session() {
    let lb = start().await;
    create_user(&lb, "meera@example.com", "password-3").await;
    let first = sign_in(&lb, "meera@example.com", "password-3").await;
    let first_token = first["refresh_token"].as_str().unwrap();

    let second = refresh(&lb, first_token).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    let second_token = second["refresh_token"].as_str().unwrap();
    assert_ne!(second_token, first_token);
    assert_eq!(claims_of(second["access_token"].as_str().unwrap())["session_id"], claims_of(first["access_token"].as_str().unwrap())["session_id"]);

    // Within the reuse interval the old token answers with the current one
    // (two tabs refreshing at once).
    let again: Value = refresh(&lb, first_token).await.json().await.unwrap();
    assert_eq!(again["refresh_token"], second_token);

    // Later, reuse is theft: the session ends, and its tokens with it.
    sqlx::query("update auth.refresh_tokens set updated_at = now() - interval '1 minute' where token = $1")
        .bind(first_token)
        .execute(&sqlx::PgPool::connect(lb.db_url()).await.unwrap())
        .await
        .unwrap();
    let reused = refresh(&lb, first_token).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(reused.json::<Value>().await.unwrap()["code"], "refresh_token_already_used");
    let after = refresh(&lb, second_token).await;
    assert_eq!(after.status(), 400);
    assert_eq!(after.json::<Value>().await.unwrap()["code"], "refresh_token_not_found");

    let unknown = refresh(&lb, "no-such-token").await;
    assert_eq!(unknown.status(), 400);
    assert_eq!(unknown.json::<Value>().await.unwrap()["code"], "refresh_token_not_found");
    lb.stop().await;
}

#[tokio::test]
async fn get_and_put_user_read_and_change_the_signed_in_user() {
    let lb = start().await;
    create_user(&lb, "dev@example.com", "password-4").await;
    let session = sign_in(&lb, "dev@example.com", "password-4").await;
    let bearer = format!("Bearer {}", session["access_token"].as_str().unwrap());

    let me: Value = http()
        .get(format!("{}/auth/v1/user", lb.api_url()))
        .header("apikey", lb.anon_key())
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "dev@example.com");

    let changed = http()
        .put(format!("{}/auth/v1/user", lb.api_url()))
        .header("apikey", lb.anon_key())
        .header("authorization", &bearer)
        .json(&json!({"password": "password-5", "data": {"display_name": "Dev"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.json::<Value>().await.unwrap()["user_metadata"]["display_name"], "Dev");
    assert_eq!(password_grant(&lb, "dev@example.com", "password-4").await.status(), 400);
    assert_eq!(password_grant(&lb, "dev@example.com", "password-5").await.status(), 200);

    let anonymous = http()
        .get(format!("{}/auth/v1/user", lb.api_url()))
        .header("apikey", lb.anon_key())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403, "the anon key names no user");
    lb.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session_so_its_tokens_stop_working() {
    let lb = start().await;
    create_user(&lb, "leela@example.com", "password-6").await;
    let session = sign_in(&lb, "leela@example.com", "password-6").await;
    let bearer = format!("Bearer {}", session["access_token"].as_str().unwrap());

    let logout = http()
        .post(format!("{}/auth/v1/logout?scope=local", lb.api_url()))
        .header("apikey", lb.anon_key())
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);

    let me = http()
        .get(format!("{}/auth/v1/user", lb.api_url()))
        .header("apikey", lb.anon_key())
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 403);
    assert_eq!(me.json::<Value>().await.unwrap()["code"], "session_not_found");
    assert_eq!(refresh(&lb, session["refresh_token"].as_str().unwrap()).await.status(), 400);
    lb.stop().await;
}

#[tokio::test]
async fn admin_users_can_be_created_listed_changed_and_deleted_with_the_service_key() {
    let lb = start().await;
    let admin = |method: reqwest::Method, path: &str| {
        http()
            .request(method, format!("{}/auth/v1/admin/users{path}", lb.api_url()))
            .header("apikey", lb.secret_key())
    };

    let created: Value = admin(reqwest::Method::POST, "")
        .json(&json!({"email": "new@example.com", "password": "password-7", "email_confirm": true, "user_metadata": {"name": "New"}, "app_metadata": {"team": "north"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["user_metadata"]["name"], "New");
    assert_eq!(created["app_metadata"]["team"], "north");
    assert_eq!(created["app_metadata"]["provider"], "email");

    let duplicate = admin(reqwest::Method::POST, "").json(&json!({"email": "NEW@example.com", "password": "password-7"})).send().await.unwrap();
    assert_eq!(duplicate.status(), 422);
    assert_eq!(duplicate.json::<Value>().await.unwrap()["code"], "email_exists");

    let weak = admin(reqwest::Method::POST, "").json(&json!({"email": "weak@example.com", "password": "123"})).send().await.unwrap();
    assert_eq!(weak.status(), 422);
    assert_eq!(weak.json::<Value>().await.unwrap()["code"], "weak_password");

    let listed = admin(reqwest::Method::GET, "?page=1&per_page=10").send().await.unwrap();
    assert_eq!(listed.headers()["x-total-count"], "1");
    assert_eq!(listed.headers()["link"], "</admin/users?page=1&per_page=10>; rel=\"last\"");
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["users"][0]["id"], id.as_str());

    let far: Value = admin(reqwest::Method::GET, "?page=9223372036854775807&per_page=1000").send().await.unwrap().json().await.unwrap();
    assert_eq!(far["users"], json!([]), "a page past the end is empty");

    let fetched: Value = admin(reqwest::Method::GET, &format!("/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(fetched["email"], "new@example.com");

    let updated: Value = admin(reqwest::Method::PUT, &format!("/{id}"))
        .json(&json!({"user_metadata": {"city": "Pune"}, "password": "password-8"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["user_metadata"], json!({"name": "New", "city": "Pune"}));
    assert_eq!(password_grant(&lb, "new@example.com", "password-8").await.status(), 200);

    let banned = admin(reqwest::Method::PUT, &format!("/{id}")).json(&json!({"ban_duration": "24h"})).send().await.unwrap();
    assert_eq!(banned.status(), 200);
    let refused = password_grant(&lb, "new@example.com", "password-8").await;
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "user_banned");

    let deleted = admin(reqwest::Method::DELETE, &format!("/{id}")).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    let gone = admin(reqwest::Method::GET, &format!("/{id}")).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    assert_eq!(gone.json::<Value>().await.unwrap()["code"], "user_not_found");
    let bad_id = admin(reqwest::Method::GET, "/not-a-uuid").send().await.unwrap();
    assert_eq!(bad_id.status(), 400);
    lb.stop().await;
}

#[tokio::test]
async fn admin_routes_refuse_the_anon_key_and_user_tokens() {
    let lb = start().await;
    create_user(&lb, "caller@example.com", "password-9").await;
    let session = sign_in(&lb, "caller@example.com", "password-9").await;

    for bearer in [lb.anon_key(), session["access_token"].as_str().unwrap()] {
        let response = http()
            .get(format!("{}/auth/v1/admin/users", lb.api_url()))
            .header("apikey", lb.anon_key())
            .header("authorization", format!("Bearer {bearer}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(response.json::<Value>().await.unwrap()["code"], "not_admin");
    }
    lb.stop().await;
}

#[tokio::test]
async fn an_unconfirmed_user_cannot_sign_in() {
    let lb = start().await;
    http()
        .post(format!("{}/auth/v1/admin/users", lb.api_url()))
        .header("apikey", lb.service_role_key())
        .json(&json!({"email": "pending@example.com", "password": "password-10"}))
        .send()
        .await
        .unwrap();

    let response = password_grant(&lb, "pending@example.com", "password-10").await;

    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "email_not_confirmed");
    lb.stop().await;
}

#[tokio::test]
async fn signup_is_off_unless_enabled() {
    let lb = start().await;
    let body = json!({"email": "walkin@example.com", "password": "password-11"});

    let refused = http().post(format!("{}/auth/v1/signup", lb.api_url())).header("apikey", lb.anon_key()).json(&body).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "signup_disabled");
    let settings: Value = http().get(format!("{}/auth/v1/settings", lb.api_url())).header("apikey", lb.anon_key()).send().await.unwrap().json().await.unwrap();
    assert_eq!(settings["disable_signup"], true);
    lb.stop().await;

    let open = start_with(|c| c.enable_signup = true).await;
    let session: Value = http().post(format!("{}/auth/v1/signup", open.api_url())).header("apikey", open.anon_key()).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(session["user"]["email"], "walkin@example.com");
    assert!(session["access_token"].is_string());
    open.stop().await;
}

#[tokio::test]
async fn the_jwks_publishes_the_key_that_verifies_access_tokens() {
    let lb = start().await;
    create_user(&lb, "kiran@example.com", "password-12").await;
    let session = sign_in(&lb, "kiran@example.com", "password-12").await;

    let jwks: Value = http().get(format!("{}/auth/v1/.well-known/jwks.json", lb.api_url())).send().await.unwrap().json().await.unwrap();

    let key = &jwks["keys"][0];
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "the HMAC secret is never listed");
    assert_eq!((key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()), (Some("EC"), Some("P-256"), Some("ES256")));
    let token = session["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["authenticated"]);
    let verified = jsonwebtoken::decode::<Value>(token, &decoding, &validation).unwrap();
    assert_eq!(verified.claims["email"], "kiran@example.com");
    lb.stop().await;
}

#[tokio::test]
async fn keys_persist_across_restarts_of_the_same_folder() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_with(|c| c.dir = dir.path().to_path_buf()).await;
    let (anon, secret) = (first.anon_key().to_string(), first.secret_key().to_string());
    let status: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("status.json")).unwrap()).unwrap();
    assert_eq!(status["anon_key"], anon.as_str());
    for field in ["api_url", "db_url", "anon_key", "service_role_key", "publishable_key", "secret_key", "jwt_secret"] {
        assert!(status[field].as_str().is_some_and(|v| !v.is_empty()), "status.json lacks {field}");
    }
    first.stop().await;

    let second = start_with(|c| c.dir = dir.path().to_path_buf()).await;
    assert_eq!(second.anon_key(), anon);
    assert_eq!(second.secret_key(), secret);
    second.stop().await;
}

#[tokio::test]
async fn a_user_inserted_with_sql_and_pgcrypto_can_sign_in() {
    let lb = start().await;
    let pool = sqlx::PgPool::connect(lb.db_url()).await.unwrap();
    sqlx::query(
        "insert into auth.users (id, aud, role, email, encrypted_password, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at) \
         values (gen_random_uuid(), 'authenticated', 'authenticated', 'seeded@example.com', \
                 extensions.crypt('password-13', extensions.gen_salt('bf')), now(), '{}', '{}', now(), now())",
    )
    .execute(&pool)
    .await
    .unwrap();

    let session = sign_in(&lb, "seeded@example.com", "password-13").await;

    assert_eq!(session["user"]["email"], "seeded@example.com");
    lb.stop().await;
}

#[tokio::test]
async fn two_tabs_refreshing_the_same_token_at_once_both_get_the_same_new_session() {
    let lb = start().await;
    create_user(&lb, "tabs@example.com", "password-14").await;
    let session = sign_in(&lb, "tabs@example.com", "password-14").await;
    let token = session["refresh_token"].as_str().unwrap();

    let (a, b) = tokio::join!(refresh(&lb, token), refresh(&lb, token));

    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["refresh_token"], b["refresh_token"]);
    assert_ne!(a["refresh_token"], token);
    lb.stop().await;
}

/// The median time `/token` takes to refuse `email` / `password`.
async fn median_refusal(lb: &localbase::LocalBase, email: &str, password: &str) -> std::time::Duration {
    let mut times = Vec::new();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let response = password_grant(lb, email, password).await;
        times.push(started.elapsed());
        assert_eq!(response.status(), 400);
    }
    times.sort();
    times[1]
}

#[tokio::test]
async fn an_unknown_email_takes_as_long_to_refuse_as_a_wrong_password() {
    let lb = start().await;
    create_user(&lb, "ravi@example.com", "password-2").await;
    // The first unknown email also makes the dummy hash; do not time it.
    assert_eq!(password_grant(&lb, "warmup@example.com", "password-2").await.status(), 400);

    let wrong_password = median_refusal(&lb, "ravi@example.com", "wrong-password").await;
    let unknown_email = median_refusal(&lb, "nobody@example.com", "wrong-password").await;

    assert!(
        unknown_email.as_secs_f64() >= 0.6 * wrong_password.as_secs_f64(),
        "an unknown email answered in {unknown_email:?}, a wrong password in {wrong_password:?}"
    );
    lb.stop().await;
}

#[tokio::test]
async fn password_sign_ins_beyond_the_limit_from_one_address_get_429() {
    let lb = start_with(|c| c.sign_in_rate_limit = 3).await;
    create_user(&lb, "ravi@example.com", "password-2").await;
    for _ in 0..3 {
        assert_eq!(password_grant(&lb, "ravi@example.com", "wrong-password").await.status(), 400);
    }

    let limited = password_grant(&lb, "ravi@example.com", "password-2").await;

    assert_eq!(limited.status(), 429);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["code"], "over_request_rate_limit", "{body}");
    assert_eq!(body["message"], "Request rate limit reached");
    lb.stop().await;
}

#[tokio::test]
async fn the_default_limit_lets_a_test_suite_sign_in_a_dozen_times() {
    let lb = start().await;
    create_user(&lb, "ravi@example.com", "password-2").await;

    for _ in 0..12 {
        sign_in(&lb, "ravi@example.com", "password-2").await;
    }
    lb.stop().await;
}

#[tokio::test]
async fn a_token_without_exp_is_refused() {
    let lb = start().await;
    let user = create_user(&lb, "dev@example.com", "password-4").await;
    let forever = lb.keys().sign_es256(&json!({"sub": user["id"], "role": "authenticated", "aud": "authenticated"})).unwrap();

    let response = http()
        .get(format!("{}/auth/v1/user", lb.api_url()))
        .header("apikey", lb.anon_key())
        .bearer_auth(&forever)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "bad_jwt", "{body}");
    assert!(body["message"].as_str().unwrap().contains("exp"), "{body}");
    lb.stop().await;
}

async fn email_of(pool: &sqlx::PgPool, id: &Value) -> (Option<String>, Option<chrono::DateTime<chrono::Utc>>) {
    sqlx::query_as("select email::text, email_confirmed_at from auth.users where id = $1::uuid")
        .bind(id.as_str().unwrap())
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn put_email(lb: &localbase::LocalBase, access_token: &str, email: &str) -> reqwest::Response {
    http()
        .put(format!("{}/auth/v1/user", lb.api_url()))
        .header("apikey", lb.anon_key())
        .bearer_auth(access_token)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap()
}

async fn verify(lb: &localbase::LocalBase, body: Value) -> reqwest::Response {
    http()
        .post(format!("{}/auth/v1/verify", lb.api_url()))
        .header("apikey", lb.anon_key())
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_email_applies_only_once_confirmed_through_verify() {
    let lb = start().await;
    let user = create_user(&lb, "dev@example.com", "password-4").await;
    let session = sign_in(&lb, "dev@example.com", "password-4").await;
    let pool = sqlx::PgPool::connect(lb.db_url()).await.unwrap();
    let before = email_of(&pool, &user["id"]).await;

    let requested = put_email(&lb, session["access_token"].as_str().unwrap(), "Priya@Example.com").await;

    assert_eq!(requested.status(), 200);
    let answered: Value = requested.json().await.unwrap();
    assert_eq!(answered["email"], "dev@example.com");
    assert_eq!(answered["new_email"], "priya@example.com");
    assert_eq!(email_of(&pool, &user["id"]).await, before, "email and email_confirmed_at unchanged until confirmed");
    assert_eq!(password_grant(&lb, "priya@example.com", "password-4").await.status(), 400);
    let wrong = verify(&lb, json!({"type": "email_change", "token_hash": "0".repeat(56)})).await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(wrong.json::<Value>().await.unwrap()["code"], "otp_expired");
    assert_eq!(email_of(&pool, &user["id"]).await, before);

    // The "mail": the token hash localbase logs, stored like GoTrue's.
    let token_hash: String = sqlx::query_scalar("select email_change_token_new::text from auth.users where id = $1::uuid")
        .bind(user["id"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    let confirmed = verify(&lb, json!({"type": "email_change", "token_hash": token_hash})).await;

    assert_eq!(confirmed.status(), 200);
    let new_session: Value = confirmed.json().await.unwrap();
    assert_eq!(new_session["user"]["email"], "priya@example.com");
    assert!(new_session["user"].get("new_email").is_none(), "{new_session}");
    let (email, confirmed_at) = email_of(&pool, &user["id"]).await;
    assert_eq!(email.as_deref(), Some("priya@example.com"));
    assert!(confirmed_at > before.1, "the new address is confirmed now");
    assert_eq!(password_grant(&lb, "priya@example.com", "password-4").await.status(), 200);
    assert_eq!(password_grant(&lb, "dev@example.com", "password-4").await.status(), 400);
    let reused = verify(&lb, json!({"type": "email_change", "token_hash": token_hash})).await;
    assert_eq!(reused.status(), 403, "a token confirms once");
    lb.stop().await;
}

#[tokio::test]
async fn an_email_change_to_a_taken_address_is_refused_and_records_nothing() {
    let lb = start().await;
    let user = create_user(&lb, "dev@example.com", "password-4").await;
    create_user(&lb, "priya@example.com", "password-5").await;
    let session = sign_in(&lb, "dev@example.com", "password-4").await;

    let response = put_email(&lb, session["access_token"].as_str().unwrap(), "priya@example.com").await;

    assert_eq!(response.status(), 422);
    assert_eq!(response.json::<Value>().await.unwrap()["code"], "email_exists");
    let pool = sqlx::PgPool::connect(lb.db_url()).await.unwrap();
    let pending: Option<String> = sqlx::query_scalar("select nullif(email_change, '') from auth.users where id = $1::uuid")
        .bind(user["id"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, None);
    lb.stop().await;
}
