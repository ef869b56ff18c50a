//! The service's one error type.
//!
//! Each variant maps to one HTTP status and one stable snake_case `error`
//! code that senders can match. Client mistakes are 4xx; only an unreachable
//! PostgREST or database is 5xx (503 with `Retry-After`), and never a 500 for
//! anything a client sent.
//!
//! When to use which: a handler returns `Result<_, IngestError>` for anything
//! it refuses before the lead reaches the store (`?` renders it). An outcome
//! that must also be kept for idempotent replays is rendered once into a
//! status and body, and sent with [`response`]. Either way `Retry-After` is
//! set here and nowhere else.

use actix_web::http::header::RETRY_AFTER;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use bloc_shared::ingest::ApiError;

/// Seconds a sender should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("missing or invalid webhook credentials")]
    Unauthorized,
    #[error("too many requests from this sender; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("send application/json or application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    #[error("{0}")]
    MalformedBody(String),
    #[error("{}", .0.message)]
    Invalid(ApiError),
    #[error("this Idempotency-Key was already used with a different body")]
    IdempotencyKeyReused,
    #[error("the lead store is unavailable; retry later")]
    Unavailable,
}

impl IngestError {
    pub fn code(&self) -> &str {
        match self {
            IngestError::PayloadTooLarge { .. } => "payload_too_large",
            IngestError::Unauthorized => "unauthorized",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::UnsupportedMediaType => "unsupported_media_type",
            IngestError::MalformedBody(_) => "malformed_body",
            IngestError::Invalid(e) => &e.error,
            IngestError::IdempotencyKeyReused => "idempotency_key_reused",
            IngestError::Unavailable => "unavailable",
        }
    }

    /// The JSON error body.
    pub fn body(&self) -> ApiError {
        match self {
            IngestError::Invalid(e) => e.clone(),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }

    /// `Retry-After` seconds, for 429 and 503.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            IngestError::RateLimited { retry_after } => Some(*retry_after),
            IngestError::Unavailable => Some(RETRY_AFTER_SECS),
            _ => None,
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Unauthorized => StatusCode::UNAUTHORIZED,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            IngestError::Invalid(_) | IngestError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            IngestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = response(self.status_code());
        if let Some(secs) = self.retry_after() {
            response.insert_header((RETRY_AFTER, secs.to_string()));
        }
        response.json(self.body())
    }
}

/// Starts a response with `status`. A 503 tells the sender when to come
/// back (`Retry-After: RETRY_AFTER_SECS`), whichever route sends it.
pub fn response(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header((RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
    }
    response
}
