//! Prometheus scrape endpoint.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Prometheus text: requests by route and status, leads by outcome, batch sizes, latency.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}
