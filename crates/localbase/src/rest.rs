//! `/rest/v1`: PostgREST's API from the `postrust-server` crate, embedded in
//! PostgREST compatibility mode (REST at the prefix root, unwrapped RPC
//! results, PostgREST error bodies).
//!
//! It verifies tokens with the project's keys (the ES256 key by `kid`, the
//! legacy HS256 secret otherwise), switches to the token's `role` and sets
//! `request.jwt.claims`, so `auth.uid()` and RLS behave as on Supabase.
//! A token without `exp` is refused before it reaches REST.

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
    Ok(app
        .router
        .layer(axum::middleware::from_fn(forbidden_when_authenticated))
        .layer(axum::middleware::from_fn(refuse_tokens_without_exp)))
}

/// PostgREST accepts a well-signed JWT that has no `exp`, which would then be
/// valid forever. Auth and Realtime refuse one; so does REST, with
/// PostgREST's 401 for a token whose claims fail validation.
async fn refuse_tokens_without_exp(request: Request, next: Next) -> Response {
    let claims = bearer(&request).and_then(|token| unverified_claims(&token));
    if claims.is_some_and(|c| !c["exp"].is_number()) {
        let message = "JWT claims validation failed: the token has no exp claim";
        let body = serde_json::json!({ "code": "PGRST303", "details": null, "hint": null, "message": message });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.insert("content-type", axum::http::HeaderValue::from_static("application/json; charset=utf-8"));
        headers.insert(
            "www-authenticate",
            axum::http::HeaderValue::from_static(r#"Bearer error="invalid_token", error_description="JWT has no exp claim""#),
        );
        return response;
    }
    next.run(request).await
}

fn bearer(request: &Request) -> Option<String> {
    request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_string()))
}

/// PostgREST answers `42501` (insufficient privilege) with 403 when the
/// request carried a user's token and 401 for `anon`; postrust answers 401
/// in every case. This restores PostgREST's status.
async fn forbidden_when_authenticated(request: Request, next: Next) -> Response {
    let role = bearer(&request).and_then(|token| unverified_claims(&token)).and_then(|c| c["role"].as_str().map(str::to_string));
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

/// The claims of a JWT, read without checking the signature: REST checks it.
/// `None` when the token is not a JWT with a claims object.
fn unverified_claims(token: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok().filter(serde_json::Value::is_object)
}
