//! `/auth/v1`: the subset of GoTrue a single-page app and an admin script
//! use. Users live in `auth.users` with bcrypt hashes; access tokens are
//! signed ES256 with the key published at `/.well-known/jwks.json`.

mod admin;
mod common;
mod email_change;
pub mod error;
pub mod rate_limit;
mod routes;
pub mod sessions;
pub mod users;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;

use crate::keys::Keys;

/// What the auth routes share.
#[derive(Clone)]
pub struct AuthState {
    pub pool: PgPool,
    pub keys: Arc<Keys>,
    /// `iss` of access tokens: `<api_url>/auth/v1`.
    pub issuer: String,
    pub jwt_expiry_secs: u64,
    pub enable_signup: bool,
    /// Password sign-ins per client address (see [`rate_limit`]).
    pub sign_in_limiter: Arc<rate_limit::RateLimiter>,
}

/// The routes, to be nested at `/auth/v1`.
pub fn router(state: AuthState) -> Router {
    Router::new()
        .route("/token", post(routes::token))
        .route("/user", get(routes::get_user).put(routes::put_user))
        .route("/logout", post(routes::logout))
        .route("/signup", post(routes::signup))
        .route("/verify", post(email_change::verify))
        .route("/settings", get(routes::settings))
        .route("/health", get(routes::health))
        .route("/.well-known/jwks.json", get(routes::jwks))
        .route("/admin/users", get(admin::list).post(admin::create))
        .route(
            "/admin/users/{id}",
            get(admin::get).put(admin::update).delete(admin::delete),
        )
        .fallback(routes::not_found)
        .with_state(state)
}

