//! HTTP routes, wired in one place.

pub mod health;
pub mod ingest;
pub mod metrics;
pub mod openapi;

use actix_web::web;

/// Every route of the service.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/ingest", web::post().to(ingest::ingest))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/api/openapi.json", web::get().to(openapi::openapi_json));
}
