//! The OpenAPI document, generated from the handlers and shared types.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use bloc_shared::ingest::{ApiError, BatchItem, BatchResponse, CallerRef, LeadResponse, LeadStatus};

use super::imports::{ImportAnswer, ImportRequest, ImportRow, ImportRowAnswer};
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
        super::imports::preview,
        super::imports::import,
        super::sources::google_ads,
        super::sources::meta_verify,
        super::sources::meta,
        super::sources::whatsapp_verify,
        super::sources::whatsapp,
        super::health::healthz, super::health::readyz, super::metrics::metrics, openapi_json),
    components(schemas(
        LeadResponse, LeadStatus, CallerRef, BatchResponse, BatchItem, ApiError, SourceAnswer, SourceItem, super::health::Health,
        ImportRequest, ImportRow, ImportAnswer, ImportRowAnswer
    )),
    modifiers(&AccessToken),
    tags(
        (name = "ingest", description = "Lead intake"),
        (name = "imports", description = "The web app's CSV import: an admin's rows normalized like webhook leads and stored by the admin-only import RPCs, with the admin's own Supabase access token"),
        (name = "sources", description = "Platform webhooks: Google Ads lead forms, Meta Lead Ads, WhatsApp Cloud API (each 404 unless configured)"),
        (name = "operations", description = "Health, readiness, metrics, this document")
    )
)]
pub struct ApiDoc;

/// The import routes' credential: a signed-in user's Supabase access token,
/// forwarded to PostgREST (the database decides who may import).
struct AccessToken;

impl Modify for AccessToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some("A signed-in admin's Supabase access token (`Authorization: Bearer <jwt>`)"))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("supabase_access_token", SecurityScheme::Http(scheme));
    }
}

/// The document as pretty JSON (the form committed at `crates/api/openapi.json`).
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".into()) + "\n"
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document())
}
