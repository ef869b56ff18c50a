//! The OpenAPI document, generated from the handlers and shared types.

use actix_web::HttpResponse;
use utoipa::OpenApi;

use bloc_shared::ingest::{ApiError, BatchItem, BatchResponse, CallerRef, LeadResponse, LeadStatus};

use crate::sources::{SourceAnswer, SourceItem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bloc CRM ingest API",
        description = "Authenticated webhook for new leads: normalized, de-duplicated and assigned to a caller.",
        license(name = "MIT")
    ),
    paths(
        super::ingest::ingest,
        super::sources::google_ads,
        super::sources::meta_verify,
        super::sources::meta,
        super::sources::whatsapp_verify,
        super::sources::whatsapp,
        super::health::healthz, super::health::readyz, super::metrics::metrics, openapi_json),
    components(schemas(LeadResponse, LeadStatus, CallerRef, BatchResponse, BatchItem, ApiError, SourceAnswer, SourceItem, super::health::Health)),
    tags(
        (name = "ingest", description = "Lead intake"),
        (name = "sources", description = "Platform webhooks: Google Ads lead forms, Meta Lead Ads, WhatsApp Cloud API (each 404 unless configured)"),
        (name = "operations", description = "Health, readiness, metrics, this document")
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON (the form committed at `crates/api/openapi.json`).
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into()) + "\n"
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}
