//! HTTP routes, wired in one place: what senders reach, and what operators
//! reach (on `ADMIN_BIND_ADDR` when that is set).

pub mod health;
pub mod imports;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod sources;

use actix_web::{web, HttpResponse};

/// The public routes: intake, the web app's CSV import (with CORS for its
/// origins), liveness and this API's document.
pub fn public(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/imports")
            .wrap(actix_web::middleware::from_fn(crate::cors::allowed_origins))
            .route("", web::post().to(imports::import))
            .route("/preview", web::post().to(imports::preview))
            .route("", web::method(actix_web::http::Method::OPTIONS).to(HttpResponse::NoContent))
            .route("/preview", web::method(actix_web::http::Method::OPTIONS).to(HttpResponse::NoContent)),
    )
    .route("/api/ingest", web::post().to(ingest::ingest))
        .route("/healthz", web::get().to(health::healthz))
        .route("/api/openapi.json", web::get().to(openapi::openapi_json))
        .route("/api/sources/google-ads", web::post().to(sources::google_ads))
        .route("/api/sources/meta", web::get().to(sources::meta_verify))
        .route("/api/sources/meta", web::post().to(sources::meta))
        .route("/api/sources/whatsapp", web::get().to(sources::whatsapp_verify))
        .route("/api/sources/whatsapp", web::post().to(sources::whatsapp));
}

/// The operators' routes: readiness and metrics.
pub fn admin(cfg: &mut web::ServiceConfig) {
    cfg.route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics));
}

/// The admin listener: the operators' routes plus liveness.
pub fn admin_only(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz)).configure(admin);
}
