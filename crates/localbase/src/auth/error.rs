//! GoTrue's error shape: `{"code","message"}` (plus the older `error_code` /
//! `msg` names) with the status GoTrue answers, and the
//! `X-Supabase-Api-Version` header that tells supabase-js to read `code`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The API version this server speaks; supabase-js reads `code` from error
/// bodies only when a response carries it.
pub const API_VERSION: &str = "2024-01-01";

/// A refusal, with GoTrue's stable error code.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AuthError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AuthError { status, code, message: message.into() }
    }
    pub fn invalid_credentials() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_credentials", "Invalid login credentials")
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "validation_failed", message)
    }
    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("Could not parse request body as JSON: {detail}"),
        )
    }
    pub fn no_authorization() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "no_authorization",
            "This endpoint requires a valid Bearer token",
        )
    }
    pub fn bad_jwt(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "bad_jwt", message)
    }
    pub fn not_admin() -> Self {
        Self::new(StatusCode::FORBIDDEN, "not_admin", "User not allowed")
    }
    pub fn user_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "user_not_found", "User not found")
    }
    pub fn email_exists() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "email_exists",
            "A user with this email address has already been registered",
        )
    }
    pub fn weak_password() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            "Password should be at least 6 characters.",
        )
    }
    /// Too many requests from one address (GoTrue's 429).
    pub fn over_request_rate_limit() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "over_request_rate_limit", "Request rate limit reached")
    }
    /// Something on the server's side failed; logged, and answered without
    /// detail.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!("auth: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected_failure", "Unexpected failure, please check server logs for more information")
    }
}

impl From<sqlx::Error> for AuthError {
    fn from(e: sqlx::Error) -> Self {
        AuthError::internal(e)
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = json!({
            "code": self.code,
            "message": self.message,
            "error_code": self.code,
            "msg": self.message,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("x-supabase-api-version", HeaderValue::from_static(API_VERSION));
        response
    }
}
