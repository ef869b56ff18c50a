//! What every auth route needs: reading a JSON body, answering with the
//! API version header, and reading the bearer token's claims.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{AuthError, API_VERSION};
use super::AuthState;
use crate::keys::TokenError;

/// A JSON body, or GoTrue's `bad_json` refusal. An empty body reads as `{}`.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, AuthError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    serde_json::from_slice(text).map_err(AuthError::bad_json)
}

/// A successful answer, with the API version header supabase-js looks for.
pub fn ok(body: Value) -> Response {
    let mut response = (StatusCode::OK, Json(body)).into_response();
    response
        .headers_mut()
        .insert("x-supabase-api-version", axum::http::HeaderValue::from_static(API_VERSION));
    response
}

/// The bearer token, if the request carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// Verifies the bearer token and returns its claims.
pub fn claims(state: &AuthState, headers: &HeaderMap) -> Result<Value, AuthError> {
    let token = bearer(headers).ok_or_else(AuthError::no_authorization)?;
    state.keys.verify(token).map_err(|e| match e {
        TokenError::Expired => AuthError::bad_jwt(
            "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired",
        ),
        TokenError::Invalid(why) => AuthError::bad_jwt(format!("invalid JWT: {why}")),
    })
}
