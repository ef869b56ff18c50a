//! `/api/sources/{google-ads,meta,whatsapp}`: the platforms' own webhooks.
//!
//! Thin: check the source is configured (404 otherwise, like an unknown
//! path), read the raw body, authenticate it, read it into leads
//! ([`crate::sources`]), store them through `ingest_leads`, answer per lead.
//! See docs/sources.md for what each platform sees.

use std::time::Duration;

use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{web, HttpRequest, HttpResponse};
use bloc_shared::ingest::{mask_phone, DeliveryRef, LeadStatus};
use futures::StreamExt;

use crate::error::IngestError;
use crate::sources::graph::{GraphClient, GraphError};
use crate::sources::{
    google_ads, meta, verify_hub_signature, verify_subscription, whatsapp, HubQuery, RefusedItem, SourceAnswer,
    SourceError, SourceItem, SourceLead,
};
use crate::state::AppState;
use crate::store;

/// Google Ads lead form webhook: one lead, authenticated by `google_key`.
#[utoipa::path(
    post,
    path = "/api/sources/google-ads",
    tag = "sources",
    request_body(content = Object, description = "Google's lead form webhook JSON: `lead_id`, `user_column_data` (`{column_id, column_name, string_value}`), `form_id`, `campaign_id`, `adgroup_id`, `creative_id`, `gcl_id`, `google_key`, `is_test`, `api_version`. Unknown fields are ignored.", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (or already stored: `replayed`, or `duplicate` within the window)", body = SourceAnswer),
        (status = 400, description = "`malformed_body`: not a JSON object, or no `lead_id`; nothing stored", body = bloc_shared::ingest::ApiError),
        (status = 401, description = "`google_key` missing or not the configured key", body = bloc_shared::ingest::ApiError),
        (status = 404, description = "The source is not configured (`GOOGLE_ADS_WEBHOOK_KEY` unset)"),
        (status = 422, description = "The lead cannot be stored (e.g. `invalid_phone`); nothing stored", body = bloc_shared::ingest::ApiError),
        (status = 503, description = "The lead store is unavailable; retry after `Retry-After`", body = bloc_shared::ingest::ApiError),
    )
)]
pub async fn google_ads(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SourceError> {
    let settings = state.settings.sources.google_ads.as_ref().ok_or(SourceError::NotConfigured)?;
    let body = read_body(&req, payload, &state).await?;
    let lead = google_ads::read(&body, &settings.key, state.settings.default_phone_region).map_err(refused("google-ads"))?;
    let lead = lead.map_err(|refused| {
        tracing::info!(source = google_ads::SENDER, key = %refused.key, error = %refused.error.error, "lead refused");
        SourceError::Invalid(refused.error)
    })?;
    let results = store(&state, google_ads::SENDER, vec![Ok(lead)]).await?;
    if let Some(refused) = results.iter().find(|r| r.status == LeadStatus::Invalid) {
        let code = refused.error.clone().unwrap_or_else(|| "rejected".to_owned());
        let message = match code.as_str() {
            "idempotency_key_reused" => "this lead_id was already delivered with other content".to_owned(),
            _ => "the lead store refused this lead".to_owned(),
        };
        return Err(SourceError::Invalid(bloc_shared::ingest::ApiError::new(code, message)));
    }
    Ok(HttpResponse::Ok().json(SourceAnswer { results }))
}

/// Meta's subscription check for Lead Ads.
#[utoipa::path(
    get,
    path = "/api/sources/meta",
    tag = "sources",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "Must equal `META_VERIFY_TOKEN`"),
        ("hub.challenge" = String, Query, description = "Echoed back"),
    ),
    responses(
        (status = 200, description = "The challenge, as plain text", content_type = "text/plain"),
        (status = 403, description = "Wrong token or mode", body = bloc_shared::ingest::ApiError),
        (status = 404, description = "The source is not configured"),
    )
)]
pub async fn meta_verify(query: web::Query<HubQuery>, state: web::Data<AppState>) -> Result<HttpResponse, SourceError> {
    let settings = state.settings.sources.meta.as_ref().ok_or(SourceError::NotConfigured)?;
    challenge(&query, &settings.verify_token)
}

/// Meta Lead Ads deliveries: each `leadgen` change is read from the Graph API and stored.
#[utoipa::path(
    post,
    path = "/api/sources/meta",
    tag = "sources",
    request_body(content = Object, description = "`{\"object\":\"page\",\"entry\":[{\"id\",\"time\",\"changes\":[{\"field\":\"leadgen\",\"value\":{\"leadgen_id\",\"page_id\",\"form_id\",\"ad_id\",\"adgroup_id\",\"created_time\"}}]}]}`", content_type = "application/json"),
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=<hex HMAC-SHA256 of the raw body, keyed with META_APP_SECRET>`")),
    responses(
        (status = 200, description = "Every lead of the delivery stored (or refused as invalid, which no redelivery can fix)", body = SourceAnswer),
        (status = 400, description = "Not a JSON object", body = bloc_shared::ingest::ApiError),
        (status = 401, description = "Missing or wrong signature; nothing stored", body = bloc_shared::ingest::ApiError),
        (status = 404, description = "The source is not configured"),
        (status = 500, description = "`graph_refused`: the Graph API refused a lead (token, permission); leads it gave are stored, Meta redelivers and the rest are stored once fixed", body = bloc_shared::ingest::ApiError),
        (status = 503, description = "`graph_unavailable` (Graph API down, slow or rate-limiting) or `unavailable` (lead store); leads already read are stored, Meta redelivers the rest", body = bloc_shared::ingest::ApiError),
    )
)]
pub async fn meta(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, SourceError> {
    let settings = state.settings.sources.meta.as_ref().ok_or(SourceError::NotConfigured)?;
    let body = read_body(&req, payload, &state).await?;
    verify_hub_signature(req.headers(), &body, &settings.app_secret).map_err(refused("meta"))?;
    let references = meta::read(&body)?;
    let graph = GraphClient::new(settings);
    let region = state.settings.default_phone_region;
    let fetches = references.into_iter().map(|reference| {
        let graph = graph.clone();
        async move {
            let reference = reference?;
            match graph.lead(&reference.leadgen_id).await {
                Ok(lead) => Ok(Ok(meta::to_lead(&reference, &lead, region)?)),
                Err(error) => Ok(Err((reference.leadgen_id, error))),
            }
        }
    });
    let fetched: Vec<Fetched> = futures::future::join_all(fetches).await;

    let mut items = Vec::new();
    let mut failure = None;
    for item in fetched {
        match item {
            Err(refused) => items.push(Err(refused)),
            Ok(Ok(lead)) => items.push(Ok(lead)),
            Ok(Err((leadgen_id, error))) => {
                let answer = match &error {
                    GraphError::Unavailable(_) => {
                        tracing::warn!(source = meta::SENDER, %leadgen_id, %error, "lead not read: Graph API unavailable; Meta will redeliver");
                        SourceError::GraphUnavailable
                    }
                    GraphError::Refused { .. } => {
                        tracing::error!(source = meta::SENDER, %leadgen_id, %error, "lead not read: Graph API refused; check META_PAGE_ACCESS_TOKEN and its leads_retrieval permission");
                        SourceError::GraphRefused
                    }
                };
                // A refusal outranks unavailability: it needs someone to act.
                if !matches!(failure, Some(SourceError::GraphRefused)) {
                    failure = Some(answer);
                }
            }
        }
    }
    let results = store(&state, meta::SENDER, items).await?;
    match failure {
        Some(error) => Err(error),
        None => Ok(HttpResponse::Ok().json(SourceAnswer { results })),
    }
}

/// One `leadgen` change after its Graph API read: the lead, the read's
/// failure (with the `leadgen_id`), or the reason it cannot be a lead.
type Fetched = Result<Result<SourceLead, (String, GraphError)>, RefusedItem>;

/// Meta's subscription check for the WhatsApp Cloud API.
#[utoipa::path(
    get,
    path = "/api/sources/whatsapp",
    tag = "sources",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "Must equal `WHATSAPP_VERIFY_TOKEN`"),
        ("hub.challenge" = String, Query, description = "Echoed back"),
    ),
    responses(
        (status = 200, description = "The challenge, as plain text", content_type = "text/plain"),
        (status = 403, description = "Wrong token or mode", body = bloc_shared::ingest::ApiError),
        (status = 404, description = "The source is not configured"),
    )
)]
pub async fn whatsapp_verify(
    query: web::Query<HubQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SourceError> {
    let settings = state.settings.sources.whatsapp.as_ref().ok_or(SourceError::NotConfigured)?;
    challenge(&query, &settings.verify_token)
}

/// WhatsApp Cloud API deliveries: each inbound message is a lead; status callbacks and other fields are acknowledged and ignored.
#[utoipa::path(
    post,
    path = "/api/sources/whatsapp",
    tag = "sources",
    request_body(content = Object, description = "`{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\",\"changes\":[{\"field\":\"messages\",\"value\":{\"metadata\",\"contacts\":[{\"profile\":{\"name\"},\"wa_id\"}],\"messages\":[{\"from\",\"id\",\"timestamp\",\"type\",\"text\":{\"body\"}}]}}]}]}`", content_type = "application/json"),
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=<hex HMAC-SHA256 of the raw body, keyed with WHATSAPP_APP_SECRET>`")),
    responses(
        (status = 200, description = "Every message stored as a lead (or refused as invalid); `results` is empty for status callbacks and other fields", body = SourceAnswer),
        (status = 400, description = "Not a JSON object", body = bloc_shared::ingest::ApiError),
        (status = 401, description = "Missing or wrong signature; nothing stored", body = bloc_shared::ingest::ApiError),
        (status = 404, description = "The source is not configured"),
        (status = 503, description = "The lead store is unavailable; Meta redelivers", body = bloc_shared::ingest::ApiError),
    )
)]
pub async fn whatsapp(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, SourceError> {
    let settings = state.settings.sources.whatsapp.as_ref().ok_or(SourceError::NotConfigured)?;
    let body = read_body(&req, payload, &state).await?;
    verify_hub_signature(req.headers(), &body, &settings.app_secret).map_err(refused("whatsapp"))?;
    let items = whatsapp::read(&body, state.settings.default_phone_region)?;
    let results = store(&state, whatsapp::SENDER, items).await?;
    Ok(HttpResponse::Ok().json(SourceAnswer { results }))
}

fn challenge(query: &HubQuery, token: &secrecy::SecretString) -> Result<HttpResponse, SourceError> {
    let challenge = verify_subscription(query, token).inspect_err(|_| tracing::info!("verification refused"))?;
    Ok(HttpResponse::Ok().content_type("text/plain").body(challenge))
}

/// Logs an authentication failure of `source` (and passes other errors on).
fn refused(source: &'static str) -> impl Fn(SourceError) -> SourceError {
    move |error| {
        if matches!(error, SourceError::Unauthorized) {
            tracing::info!(source, "refused: unauthenticated");
        }
        error
    }
}

/// Stores the delivery's leads through the one store path
/// ([`store::ingest_payloads`]), each with its own delivery reference
/// (`sender`, the platform's id of the lead, item 0, the hash of the lead's
/// own part), and answers each item in order: a stored (or replayed) lead's
/// outcome, or `invalid` for a refused item.
async fn store(
    state: &AppState,
    sender: &'static str,
    items: Vec<Result<SourceLead, RefusedItem>>,
) -> Result<Vec<SourceItem>, SourceError> {
    let payloads: Vec<_> = items
        .iter()
        .filter_map(|i| i.as_ref().ok())
        .map(|lead| {
            let mut payload = lead.payload.clone();
            payload.delivery = Some(DeliveryRef {
                sender: sender.to_owned(),
                key: lead.key.clone(),
                item: 0,
                body_hash: lead.body_hash.clone(),
            });
            payload
        })
        .collect();
    let mut stored = store::ingest_payloads(state, payloads).await.map_err(|error| match error {
        IngestError::UpstreamMisconfigured => SourceError::UpstreamMisconfigured,
        _ => SourceError::Unavailable,
    })?.into_iter();
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        answers.push(match item {
            Err(refused) => {
                state.metrics.observe_lead("invalid");
                tracing::info!(source = sender, key = %refused.key, error = %refused.error.error, "lead refused");
                SourceItem { key: refused.key, status: LeadStatus::Invalid, lead_id: None, replayed: false, error: Some(refused.error.error) }
            }
            Ok(lead) => {
                let result = stored.next().ok_or(SourceError::Unavailable)?;
                let status = outcome(result.status);
                state.metrics.observe_lead(status);
                tracing::info!(source = sender, key = %lead.key, phone = %mask_phone(&lead.payload.phone), status, replayed = result.replayed, lead_id = result.lead_id, "lead ingested");
                SourceItem {
                    key: lead.key,
                    status: result.status,
                    lead_id: result.lead_id,
                    replayed: result.replayed,
                    error: (result.status == LeadStatus::Invalid)
                        .then(|| result.error.clone().unwrap_or_else(|| "rejected".to_owned())),
                }
            }
        });
    }
    Ok(answers)
}

fn outcome(status: LeadStatus) -> &'static str {
    match status {
        LeadStatus::Assigned => "assigned",
        LeadStatus::Duplicate => "duplicate",
        LeadStatus::Unassigned => "unassigned",
        LeadStatus::Invalid => "invalid",
    }
}

/// Reads the body, at most `MAX_BODY_BYTES`, all of it within `BODY_READ_TIMEOUT_MS`.
async fn read_body(req: &HttpRequest, mut payload: web::Payload, state: &AppState) -> Result<web::Bytes, SourceError> {
    let limit = state.settings.max_body_bytes;
    let deadline: Duration = state.settings.body_read_timeout;
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(SourceError::PayloadTooLarge { limit });
    }
    let read = async move {
        let mut body = web::BytesMut::with_capacity(4096.min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| SourceError::MalformedBody(format!("the body could not be read: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(SourceError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    actix_web::rt::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(SourceError::BodyReadTimeout { millis: deadline.as_millis() }))
}
