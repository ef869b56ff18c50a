//! Liveness and readiness.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error;
use crate::readiness::Readiness;
use crate::state::AppState;

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`; `unavailable` when PostgREST or the database does not answer
    /// (transient); `misconfigured` when PostgREST refuses the service
    /// (401/403/404: wrong service key, missing grant or RPC).
    pub status: &'static str,
    /// Why it is not ready, when it is `misconfigured`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok", reason: None })
}

/// PostgREST and the database answer the service (a one-row read with the
/// service key). The answer is reused for 3 seconds. Served on
/// `ADMIN_BIND_ADDR` when that is set.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "`unavailable` (transient) or `misconfigured` (with a `reason`)", body = Health)
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let unready = match state.readiness.check(&state.rest).await {
        Readiness::Ready => return HttpResponse::Ok().json(Health { status: "ok", reason: None }),
        Readiness::Unavailable => Health { status: "unavailable", reason: None },
        Readiness::Misconfigured { status, cause } => {
            Health { status: "misconfigured", reason: Some(format!("PostgREST answered {status}: {cause}")) }
        }
    };
    error::response(StatusCode::SERVICE_UNAVAILABLE).json(unready)
}
