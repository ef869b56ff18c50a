//! The service's one error type.
//!
//! Each variant maps to one HTTP status and one stable snake_case `error`
//! code that senders can match. Client mistakes are 4xx. An unreachable
//! PostgREST or database is 503 with `Retry-After` (`unavailable`). A
//! PostgREST that refuses the service itself (401, 403, 404: a wrong key, a
//! missing grant or RPC) is 500 `upstream_misconfigured`: still 5xx, so the
//! sender redelivers once someone has fixed it, but not dressed up as an
//! outage. Never a 500 for anything a client sent.
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

use crate::rpc::{likely_cause, Fault, RpcError};

/// Seconds a sender should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("missing or invalid webhook credentials")]
    Unauthorized,
    /// An import without a user's access token, or with one the database refused.
    #[error("sign in again: the access token is missing or was refused")]
    SignInRequired,
    /// A signed-in user whom the database refuses (an import by a non-admin).
    #[error("only an admin may do this")]
    Forbidden,
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
    #[error("the {header} header is longer than {max} characters")]
    IdempotencyKeyTooLong { header: &'static str, max: usize },
    #[error("the body did not arrive within {millis} ms; send it at once")]
    BodyReadTimeout { millis: u128 },
    #[error("the lead store is unavailable; retry later")]
    Unavailable,
    #[error("the lead store refuses this service's configuration; nothing was stored")]
    UpstreamMisconfigured,
    /// The lead store refused the request this service built, or answered
    /// what it cannot read: a bug of ours, logged; the body says no more.
    #[error("the service could not complete this request; nothing was stored")]
    Internal,
}

impl IngestError {
    pub fn code(&self) -> &str {
        match self {
            IngestError::PayloadTooLarge { .. } => "payload_too_large",
            IngestError::Unauthorized => "unauthorized",
            IngestError::Forbidden => "forbidden",
            IngestError::SignInRequired => "sign_in_required",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::UnsupportedMediaType => "unsupported_media_type",
            IngestError::MalformedBody(_) => "malformed_body",
            IngestError::Invalid(e) => &e.error,
            IngestError::IdempotencyKeyReused => "idempotency_key_reused",
            IngestError::IdempotencyKeyTooLong { .. } => "idempotency_key_too_long",
            IngestError::BodyReadTimeout { .. } => "body_read_timeout",
            IngestError::Unavailable => "unavailable",
            IngestError::UpstreamMisconfigured => "upstream_misconfigured",
            IngestError::Internal => "internal_error",
        }
    }

    /// The JSON error body.
    pub fn body(&self) -> ApiError {
        match self {
            IngestError::Invalid(e) => e.clone(),
            other => ApiError::new(other.code(), other.to_string()),
        }
    }

    /// What to answer for a PostgREST call that failed, by its one
    /// classification ([`RpcError::fault`]), logged here: transient 503,
    /// PostgREST refusing the service 500 `upstream_misconfigured`, our own
    /// request refused 500 `internal_error`, a user's refused token 401 or
    /// role 403, and the user's data refused by the RPC 400 `malformed_body`
    /// with the database's message (only a user's call has that fault).
    pub fn from_rpc(error: &RpcError) -> IngestError {
        match error.fault() {
            Fault::Transient => {
                tracing::warn!(%error, "not stored: lead store unavailable");
                IngestError::Unavailable
            }
            Fault::Misconfigured => {
                let status = match error {
                    RpcError::Misconfigured { status, .. } | RpcError::Refused { status, .. } => *status,
                    _ => 0,
                };
                tracing::error!(%error, "not stored: PostgREST refuses this service ({})", likely_cause(status));
                IngestError::UpstreamMisconfigured
            }
            Fault::OurRequest => {
                tracing::error!(%error, "not stored: PostgREST refused the request this service built");
                IngestError::Internal
            }
            Fault::SignIn => IngestError::SignInRequired,
            Fault::Forbidden => IngestError::Forbidden,
            Fault::Data => IngestError::MalformedBody(format!("the lead store refused the request: {}", error.data_message())),
        }
    }

    /// The rate limiter's `Retry-After` seconds (a 503 gets its own in [`response`]).
    fn retry_after(&self) -> Option<u64> {
        match self {
            IngestError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Unauthorized | IngestError::SignInRequired => StatusCode::UNAUTHORIZED,
            IngestError::Forbidden => StatusCode::FORBIDDEN,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::MalformedBody(_) | IngestError::IdempotencyKeyTooLong { .. } => StatusCode::BAD_REQUEST,
            IngestError::BodyReadTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            IngestError::Invalid(_) | IngestError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            IngestError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::UpstreamMisconfigured | IngestError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The only place besides [`response`] that sets `Retry-After`.
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
