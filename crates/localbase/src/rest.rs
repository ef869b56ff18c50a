//! `/rest/v1`: PostgREST's API from the `postrust-server` crate, embedded in
//! PostgREST compatibility mode (REST at the prefix root, unwrapped RPC
//! results, PostgREST error bodies).
//!
//! It verifies tokens with the project's keys (the ES256 key by `kid`, the
//! legacy HS256 secret otherwise), switches to the token's `role` and sets
//! `request.jwt.claims`, so `auth.uid()` and RLS behave as on Supabase.

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

use crate::keys::Keys;

/// Builds the REST router, to be nested at `/rest/v1`.
pub async fn router(db_url: &str, keys: &Keys) -> anyhow::Result<Router> {
    let vars = [
        ("PGRST_DB_URI", db_url.to_string()),
        ("PGRST_DB_SCHEMAS", "public".into()),
        ("PGRST_DB_EXTRA_SEARCH_PATH", "public,extensions".into()),
        ("PGRST_DB_ANON_ROLE", "anon".into()),
        ("PGRST_DB_MAX_ROWS", "1000".into()),
        ("PGRST_DB_POOL", "10".into()),
        ("PGRST_DB_CHANNEL_ENABLED", "true".into()),
        ("PGRST_JWT_SECRET", keys.postgrest_jwk_set()),
        ("PGRST_COMPAT_MODE", "true".into()),
        ("PGRST_LOG_LEVEL", "error".into()),
    ];
    let config = postrust_core::AppConfig::try_from_vars(vars)
        .map_err(|e| anyhow::anyhow!("configuring REST: {e}"))?;
    let app = postrust_server::Builder::new(config, postrust_server::Host::SERVER)
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("starting REST: {e}"))?;
    Ok(app.router.layer(axum::middleware::from_fn(forbidden_when_authenticated)))
}

/// PostgREST answers `42501` (insufficient privilege) with 403 when the
/// request carried a user's token and 401 for `anon`; postrust answers 401
/// in every case. This restores PostgREST's status.
async fn forbidden_when_authenticated(request: Request, next: Next) -> Response {
    let role = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.to_string()))
        .and_then(|token| unverified_role(&token));
    let response = next.run(request).await;
    if response.status() != StatusCode::UNAUTHORIZED || role.as_deref().is_none_or(|r| r == "anon") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let is_privilege_error = serde_json::from_slice::<serde_json::Value>(&bytes)
        .is_ok_and(|v| v["code"] == "42501");
    if is_privilege_error {
        parts.status = StatusCode::FORBIDDEN;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The `role` claim of a token, read without checking the signature. Only
/// used on a response REST already produced, which means REST verified it.
fn unverified_role(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["role"].as_str().map(str::to_string)
}
