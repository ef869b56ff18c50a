//! Shared set-up for localbase's integration tests: a real localbase on a
//! throwaway cluster with the conformance fixture schema.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use localbase::{Config, LocalBase};
use serde_json::{json, Value};

pub fn fixture_migrations() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/supabase/migrations"))
}

/// A fresh localbase with the fixture schema.
pub async fn start() -> LocalBase {
    start_with(|_| {}).await
}

pub async fn start_with(change: impl FnOnce(&mut Config)) -> LocalBase {
    let mut config = Config { migrations_dir: fixture_migrations(), ..Config::for_tests() };
    change(&mut config);
    LocalBase::start(config).await.expect("localbase starts")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Creates a confirmed user through the admin API.
pub async fn create_user(lb: &LocalBase, email: &str, password: &str) -> Value {
    let response = http()
        .post(format!("{}/auth/v1/admin/users", lb.api_url()))
        .header("apikey", lb.service_role_key())
        .header("authorization", format!("Bearer {}", lb.service_role_key()))
        .json(&json!({ "email": email, "password": password, "email_confirm": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "creating {email}");
    response.json().await.unwrap()
}

/// Signs in with a password; returns the raw response.
pub async fn password_grant(lb: &LocalBase, email: &str, password: &str) -> reqwest::Response {
    http()
        .post(format!("{}/auth/v1/token?grant_type=password", lb.api_url()))
        .header("apikey", lb.anon_key())
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

/// Signs in and returns the session JSON.
pub async fn sign_in(lb: &LocalBase, email: &str, password: &str) -> Value {
    let response = password_grant(lb, email, password).await;
    assert_eq!(response.status(), 200, "signing in {email}");
    response.json().await.unwrap()
}

pub async fn refresh(lb: &LocalBase, refresh_token: &str) -> reqwest::Response {
    http()
        .post(format!("{}/auth/v1/token?grant_type=refresh_token", lb.api_url()))
        .header("apikey", lb.anon_key())
        .json(&json!({ "refresh_token": refresh_token }))
        .send()
        .await
        .unwrap()
}

/// A postgrest-rs client for `/rest/v1` with `apikey`.
pub fn rest(lb: &LocalBase, apikey: &str) -> postgrest::Postgrest {
    postgrest::Postgrest::new(format!("{}/rest/v1", lb.api_url())).insert_header("apikey", apikey)
}
