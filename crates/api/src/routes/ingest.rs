//! `POST /api/ingest`: verify, de-duplicate deliveries, parse, normalize, store.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{ContentType, HeaderMap, CONTENT_LENGTH};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use bloc_shared::fields::RawLead;
use bloc_shared::ingest::{
    mask_phone, normalize_lead, ApiError, BatchItem, BatchResponse, DeliveryRef, IngestPayload, IngestResult,
    LeadResponse, LeadStatus,
};
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::auth::{self, to_hex, AuthMethod, Authenticated};
use crate::body::{parse, Parsed};
use crate::client_addr;
use crate::error::{self, IngestError};
use crate::idempotency::{Begin, StoredResponse};
use crate::state::AppState;
use crate::store;

/// Ingest one lead (JSON object or form) or a batch (JSON array).
#[utoipa::path(
    post,
    path = "/api/ingest",
    tag = "ingest",
    request_body(
        content = Object,
        description = "One lead as a JSON object or `application/x-www-form-urlencoded`, or a JSON array of at most 1000 leads. \
                       Keys are matched case-, space- and underscore-insensitively (`Phone Number`, `mobile`, `State`, `utm_source`, …); \
                       others go to `metadata`.",
        content_type = "application/json"
    ),
    params(
        ("X-Webhook-Secret" = Option<String>, Header, description = "A configured secret"),
        ("X-Signature-256" = Option<String>, Header, description = "`sha256=<hex HMAC-SHA256>` of `<X-Signature-Timestamp>.<raw body>` when that header is sent, else of the raw body alone (refused when the service requires a signed timestamp)"),
        ("X-Signature-Timestamp" = Option<String>, Header, description = "Unix seconds, signed with the body by `X-Signature-256`; at most 5 minutes from the server's clock either way, so a captured request stops working after 5 minutes. With it, the signature is the delivery's idempotency key: the same timestamp and body again get the first answer whatever `Idempotency-Key` they carry"),
        ("webhook-id" = Option<String>, Header, description = "Standard Webhooks message id; for a Standard Webhooks delivery always the idempotency key (at most 255 characters)"),
        ("webhook-timestamp" = Option<String>, Header, description = "Standard Webhooks Unix timestamp, within 5 minutes"),
        ("webhook-signature" = Option<String>, Header, description = "Standard Webhooks `v1,<base64>` signatures"),
        ("Idempotency-Key" = Option<String>, Header, description = "Repeated deliveries get the first response for 24 h (at most 255 characters). Ignored for signed deliveries, whose key is what the signature covers: `webhook-id` for Standard Webhooks, the signature for `X-Signature-256` over `X-Signature-Timestamp`"),
    ),
    responses(
        (status = 201, description = "Stored and assigned", body = LeadResponse),
        (status = 200, description = "A duplicate (with the original lead's id), or a batch's per-item results", body = BatchResponse),
        (status = 202, description = "Stored, unassigned (nobody eligible now)", body = LeadResponse),
        (status = 400, description = "`malformed_body`, or `idempotency_key_too_long` (an `Idempotency-Key` or `webhook-id` over 255 characters); nothing was stored", body = ApiError),
        (status = 401, description = "Missing or invalid credentials", body = ApiError),
        (status = 408, description = "`body_read_timeout`: the body did not arrive within `BODY_READ_TIMEOUT_MS`; nothing was stored", body = ApiError),
        (status = 413, description = "Body over the size limit", body = ApiError),
        (status = 415, description = "Unsupported content type", body = ApiError),
        (status = 422, description = "Invalid lead, or an Idempotency-Key reused with another body", body = ApiError),
        (status = 429, description = "Over the per-address rate limit, counted before authentication; retry after `Retry-After`", body = ApiError),
        (status = 500, description = "`upstream_misconfigured`: PostgREST refuses the service (401/403/404: wrong service key, missing grant or RPC). Nothing was stored; redeliver once it is fixed", body = ApiError),
        (status = 503, description = "PostgREST or the database is unreachable, or the idempotency store cannot be read; retry after `Retry-After`", body = ApiError),
    )
)]
pub async fn ingest(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, IngestError> {
    if let (Some(limiter), Some(peer)) = (&state.rate_limiter, req.peer_addr()) {
        let client = client_addr::client_ip(peer.ip(), req.headers(), &state.settings.trusted_proxies);
        limiter.check(client).map_err(|retry_after| IngestError::RateLimited { retry_after })?;
    }
    let body = read_body(&req, payload, state.settings.max_body_bytes, state.settings.body_read_timeout).await?;
    let authenticated = authenticate(&req, &body, &state)?;
    let (answer, replayed) = match idempotency_key(req.headers(), &authenticated)? {
        None => process_detached(state.into_inner(), req.headers().clone(), body).await?,
        Some(key) => {
            process_once(state.into_inner(), authenticated.sender, key, req.headers().clone(), body).await?
        }
    };
    Ok(respond(answer, replayed))
}

/// The one way an ingest outcome is sent, first time or replayed.
fn respond(answer: StoredResponse, replayed: bool) -> HttpResponse {
    let mut response = error::response(answer.status);
    response.content_type(ContentType::json());
    if replayed {
        response.insert_header(("Idempotent-Replayed", "true"));
    }
    response.body(answer.body)
}

fn authenticate(req: &HttpRequest, body: &[u8], state: &AppState) -> Result<Authenticated, IngestError> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let authenticated = auth::verify(req.headers(), body, &state.settings.webhook_secrets, now, state.settings.require_signed_timestamp).map_err(|_| {
        tracing::info!("refused: unauthenticated");
        IngestError::Unauthorized
    })?;
    tracing::debug!(method = ?authenticated.method, sender = %authenticated.sender, "authenticated");
    Ok(authenticated)
}

/// A keyed delivery: who sent it (the id of the secret that verified it),
/// its idempotency key (keys are scoped to the sender) and the hex SHA-256
/// of its body, hashed once for the whole delivery.
struct Delivery {
    sender: String,
    key: String,
    body_hash: String,
}

/// What [`process`] produced: the answer, whether the database gave it as a
/// replay, and whether the database recorded the delivery (so any instance
/// would give the same answer, and this one may cache it).
struct Processed {
    answer: StoredResponse,
    replayed: bool,
    recorded: bool,
}

/// A delivery without a key: processed on its own task, so a sender that
/// disconnects does not cancel a half-done store.
async fn process_detached(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: web::Bytes,
) -> Result<(StoredResponse, bool), IngestError> {
    let task = actix_web::rt::spawn(async move { process(&state, &headers, body, None).await });
    task.await.map(|done| (done.answer, false)).map_err(|_| IngestError::Unavailable)
}

/// A keyed delivery. The database answers a repeat from its record
/// (`engine.deliveries`), on any instance; this instance's front only makes
/// a repeat that arrives while the first is in flight wait for its answer,
/// and replays answers it has cached. Returns the answer and whether it is
/// a replay.
async fn process_once(
    state: Arc<AppState>,
    sender: String,
    key: String,
    headers: HeaderMap,
    body: web::Bytes,
) -> Result<(StoredResponse, bool), IngestError> {
    let fingerprint: [u8; 32] = Sha256::digest(&body).into();
    let delivery = Arc::new(Delivery { sender, key, body_hash: to_hex(&fingerprint) });
    loop {
        match state.idempotency.begin(&delivery.sender, &delivery.key, fingerprint) {
            Begin::Replay(stored) => return Ok((stored, true)),
            refused @ (Begin::Mismatch | Begin::Unavailable) => {
                return Err(refusal(&refused).unwrap_or(IngestError::Unavailable))
            }
            Begin::Wait(mut done) => {
                if let Ok(answer) = done.wait_for(Option::is_some).await {
                    if let Some(stored) = answer.clone() {
                        return Ok((stored, true));
                    }
                }
                // The first attempt was cancelled: try to take the key over.
            }
            Begin::Process(claim) => {
                let state = state.clone();
                let delivery = delivery.clone();
                // Runs to the end even if this sender disconnects, so the
                // claim is always settled and waiters always get an answer.
                let task = actix_web::rt::spawn(async move {
                    let done = process(&state, &headers, body, Some(&delivery)).await;
                    claim.finish(done.answer.clone(), done.recorded);
                    (done.answer, done.replayed)
                });
                return task.await.map_err(|_| IngestError::Unavailable);
            }
        }
    }
}

/// What a key lookup that refuses the delivery answers: 422 for a key reused
/// with another body, 503 (with `Retry-After`) for a store that cannot be read.
pub(crate) fn refusal(begin: &Begin) -> Option<IngestError> {
    match begin {
        Begin::Mismatch => Some(IngestError::IdempotencyKeyReused),
        Begin::Unavailable => Some(IngestError::Unavailable),
        Begin::Process(_) | Begin::Replay(_) | Begin::Wait(_) => None,
    }
}

/// Parses, normalizes and stores; returns the status and JSON body to send.
///
/// The answer is built only from the body and the database's results, so a
/// delivery the database replays gets, byte for byte, the answer it got the
/// first time (the `replayed` flag travels beside it, not in it).
async fn process(state: &AppState, headers: &HeaderMap, body: web::Bytes, delivery: Option<&Delivery>) -> Processed {
    let reference = |item: u32| delivery.map(|d| store::delivery_ref(&d.sender, &d.key, item, &d.body_hash));
    let outcome = match parse(headers, &body) {
        Err(e) => Err(e),
        Ok(Parsed::One(raw)) => ingest_one(state, *raw, reference(0)).await.map(|(status, lead, stored)| Processed {
            answer: answer(status, &lead),
            replayed: stored.replayed,
            recorded: stored.recorded,
        }),
        Ok(Parsed::Many(items)) => {
            let references: Vec<Option<DeliveryRef>> = (0..items.len()).map(|i| reference(i as u32)).collect();
            ingest_many(state, items, references).await.map(|(batch, stored)| Processed {
                answer: answer(StatusCode::OK, &batch),
                replayed: stored.replayed,
                recorded: stored.recorded,
            })
        }
    };
    outcome.unwrap_or_else(|e| {
        // A key reused with another body is the database's answer for
        // every item of the delivery: the record says so on any instance.
        let recorded = delivery.is_some() && matches!(e, IngestError::IdempotencyKeyReused);
        Processed { answer: answer(e.status_code(), &e.body()), replayed: false, recorded }
    })
}

/// A status and its JSON body, as sent and as kept for replays.
fn answer(status: StatusCode, body: &impl Serialize) -> StoredResponse {
    StoredResponse { status, body: serde_json::to_vec(body).unwrap_or_default() }
}

/// How the database answered the leads of a keyed delivery.
#[derive(Default)]
struct Stored {
    /// Every lead that reached the database was answered from its record.
    replayed: bool,
    /// The database recorded the delivery's answer (some lead reached it
    /// with a delivery reference).
    recorded: bool,
}

impl Stored {
    fn of(results: &[IngestResult], keyed: bool) -> Stored {
        Stored {
            replayed: !results.is_empty() && results.iter().all(|r| r.replayed),
            recorded: keyed && !results.is_empty(),
        }
    }
}

async fn ingest_one(
    state: &AppState,
    raw: RawLead,
    delivery: Option<DeliveryRef>,
) -> Result<(StatusCode, LeadResponse, Stored), IngestError> {
    let mut payload = normalize_lead(raw, state.settings.default_phone_region).map_err(|e| {
        state.metrics.observe_lead("invalid");
        tracing::info!(error = %e.error, "lead refused");
        IngestError::Invalid(e)
    })?;
    let keyed = delivery.is_some();
    payload.delivery = delivery;
    let phone = mask_phone(&payload.phone);
    let results = store::ingest_payloads(state, vec![payload]).instrument(tracing::info_span!("lead", %phone)).await?;
    let stored = Stored::of(&results, keyed);
    let result = results.into_iter().next().ok_or(IngestError::Unavailable)?;
    state.metrics.observe_lead(outcome(&result));
    tracing::info!(%phone, status = outcome(&result), replayed = result.replayed, lead_id = result.lead_id, caller_id = result.caller_id, "lead ingested");
    match result.status {
        LeadStatus::Invalid => Err(refused_by_store(&result)),
        status => Ok((status_code(status), LeadResponse::from(&result), stored)),
    }
}

/// A JSON array: every valid item in one `ingest_leads` call. A key reused
/// with another body is refused as a whole (422 `idempotency_key_reused`):
/// the database binds a key to one body and refuses every item under it.
async fn ingest_many(
    state: &AppState,
    items: Vec<Result<RawLead, ApiError>>,
    references: Vec<Option<DeliveryRef>>,
) -> Result<(BatchResponse, Stored), IngestError> {
    let region = state.settings.default_phone_region;
    let keyed = references.iter().any(Option::is_some);
    let normalized: Vec<Result<IngestPayload, ApiError>> = items
        .into_iter()
        .zip(references)
        .map(|(item, delivery)| {
            item.and_then(|raw| normalize_lead(raw, region)).map(|mut payload| {
                payload.delivery = delivery;
                payload
            })
        })
        .collect();
    let valid: Vec<IngestPayload> = normalized.iter().filter_map(|n| n.as_ref().ok().cloned()).collect();
    let results = store::ingest_payloads(state, valid).await?;
    if results.iter().any(is_key_reused) {
        tracing::info!("refused: idempotency key reused with another body");
        return Err(IngestError::IdempotencyKeyReused);
    }
    let stored = Stored::of(&results, keyed);
    let mut results = results.into_iter();
    let mut answers = Vec::with_capacity(normalized.len());
    for (index, item) in normalized.into_iter().enumerate() {
        let entry = match item {
            Err(error) => {
                state.metrics.observe_lead("invalid");
                BatchItem::from_error(index, error)
            }
            Ok(payload) => {
                let result = results.next().ok_or(IngestError::Unavailable)?;
                state.metrics.observe_lead(outcome(&result));
                tracing::info!(phone = %mask_phone(&payload.phone), status = outcome(&result), replayed = result.replayed, lead_id = result.lead_id, "lead ingested");
                if result.status == LeadStatus::Invalid {
                    BatchItem::from_error(index, refused_by_store(&result).body())
                } else {
                    BatchItem::from_lead(index, LeadResponse::from(&result))
                }
            }
        };
        answers.push(entry);
    }
    Ok((BatchResponse { results: answers }, stored))
}

fn is_key_reused(result: &IngestResult) -> bool {
    result.status == LeadStatus::Invalid && result.error.as_deref() == Some("idempotency_key_reused")
}

/// The answer to a lead the database refused, with a stable code and a
/// fixed message: never the database's own text.
fn refused_by_store(result: &IngestResult) -> IngestError {
    let (code, message) = match result.error.as_deref() {
        Some("idempotency_key_reused") => return IngestError::IdempotencyKeyReused,
        Some("invalid_lead_value") => ("invalid_lead_value", "a value of this lead is not valid for the lead store"),
        Some("lead_violates_constraint") => ("lead_violates_constraint", "this lead breaks a rule of the lead store"),
        _ => ("rejected", "the lead store refused this lead"),
    };
    IngestError::Invalid(ApiError::new(code, message))
}

fn status_code(status: LeadStatus) -> StatusCode {
    match status {
        LeadStatus::Assigned => StatusCode::CREATED,
        LeadStatus::Duplicate => StatusCode::OK,
        LeadStatus::Unassigned => StatusCode::ACCEPTED,
        LeadStatus::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

fn outcome(result: &IngestResult) -> &'static str {
    match (result.replayed, result.status) {
        (true, _) => "replayed",
        (false, LeadStatus::Assigned) => "assigned",
        (false, LeadStatus::Duplicate) => "duplicate",
        (false, LeadStatus::Unassigned) => "unassigned",
        (false, LeadStatus::Invalid) => "invalid",
    }
}

/// Longest idempotency key, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// Initial body buffer; it grows as chunks arrive, never sized from the
/// sender's own `Content-Length`.
pub const INITIAL_BODY_BUFFER: usize = 4 * 1024;

/// The delivery's idempotency key. A signed delivery's key is what its
/// signature covers, so an unsigned `Idempotency-Key` cannot make a replay
/// look new: an `X-Signature-256` over a timestamp is keyed on the
/// signature ([`Authenticated::signed_key`]), a Standard Webhooks delivery
/// on its `webhook-id`. Otherwise `Idempotency-Key`, else `webhook-id`. A
/// key over [`MAX_KEY_CHARS`] is refused (400) rather than ignored.
fn idempotency_key(headers: &HeaderMap, authenticated: &Authenticated) -> Result<Option<String>, IngestError> {
    if let Some(key) = &authenticated.signed_key {
        return Ok(Some(key.clone()));
    }
    let names: &[&'static str] = match authenticated.method {
        AuthMethod::StandardWebhooks => &["webhook-id"],
        AuthMethod::SharedSecret | AuthMethod::HmacSignature => &["idempotency-key", "webhook-id"],
    };
    for name in names {
        let Some(value) = headers.get(*name).and_then(|v| v.to_str().ok()).map(str::trim) else { continue };
        if value.is_empty() {
            continue;
        }
        if value.chars().count() > MAX_KEY_CHARS {
            return Err(IngestError::IdempotencyKeyTooLong { header: name, max: MAX_KEY_CHARS });
        }
        return Ok(Some(value.to_owned()));
    }
    Ok(None)
}

/// Reads the body, at most `limit` bytes, all of it within `deadline`.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    deadline: Duration,
) -> Result<web::Bytes, IngestError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(IngestError::PayloadTooLarge { limit });
    }
    let read = async move {
        let mut body = web::BytesMut::with_capacity(INITIAL_BODY_BUFFER.min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| IngestError::MalformedBody(format!("the body could not be read: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(IngestError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    actix_web::rt::time::timeout(deadline, read).await.unwrap_or_else(|_| {
        tracing::info!(millis = deadline.as_millis(), "refused: body not received in time");
        Err(IngestError::BodyReadTimeout { millis: deadline.as_millis() })
    })
}

#[cfg(test)]
mod tests {
    use actix_web::http::{header::RETRY_AFTER, StatusCode};
    use actix_web::ResponseError;

    use super::refusal;
    use crate::idempotency::Begin;

    #[test]
    fn an_unavailable_idempotency_store_answers_503_with_retry_after() {
        let response = refusal(&Begin::Unavailable).expect("a refusal").error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(RETRY_AFTER));
    }

    #[test]
    fn a_reused_key_with_another_body_answers_422() {
        let response = refusal(&Begin::Mismatch).expect("a refusal").error_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
