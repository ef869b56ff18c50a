//! `POST /api/imports/preview` and `POST /api/imports`: a manager's CSV
//! import, parsed in the browser, normalized here with the webhook's own
//! code (the web bundle cannot carry libphonenumber), and stored through
//! the database's admin-only `import_leads` RPC.
//!
//! The manager's Supabase access token (`Authorization: Bearer <jwt>`) is
//! forwarded to PostgREST untouched, so the database decides who may
//! import (`my_role() = 'admin'`); this service never reads the token.

use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::{web, HttpRequest, HttpResponse};
use bloc_shared::fields::RawLead;
use bloc_shared::ingest::{normalize_lead, ApiError, IngestPayload};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::IngestError;
use crate::routes::ingest::read_body;
use crate::state::AppState;

/// Most rows in one request; the web app sends 500 at a time.
pub const MAX_ROWS: usize = 1000;

/// Source given to an imported lead whose file has no source column.
pub const DEFAULT_SOURCE: &str = "csv_import";

/// The body of both routes.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ImportRequest {
    /// Lowercase hex SHA-256 of the file's bytes: names the import, so the
    /// same file imported again creates nothing twice.
    import_ref: String,
    rows: Vec<ImportRow>,
}

/// One data row of the file: its number in the file (the header is row 1,
/// so data starts at 2) and its cells keyed by column name, after the
/// manager's overrides (a column mapped to the phone is sent as `phone`).
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ImportRow {
    row: u32,
    /// The row's cells by column name (`{"Full Name": "Asha", "phone": "98765 43210"}`).
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// One row's answer. `status` is `ok` (preview: would be stored), one of
/// the ingest outcomes (`assigned`, `duplicate`, `unassigned`) or `invalid`.
#[derive(Serialize, Default, utoipa::ToSchema)]
pub struct ImportRowAnswer {
    row: u32,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Preview: the lead this row would duplicate (inside the team's window).
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicate_of: Option<i64>,
    /// Preview: an earlier row of the request with the same phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    repeats_row: Option<i64>,
    /// Preview: this import already stored the row (its status then).
    #[serde(skip_serializing_if = "Option::is_none")]
    imported: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lead_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_name: Option<String>,
    /// Import: answered from this import's record; nothing happened now.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    replayed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// Both routes' answer: one item per row sent, in order.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportAnswer {
    rows: Vec<ImportRowAnswer>,
}

/// What both routes answer, for the OpenAPI document. Every refusal stores nothing.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ImportResponses {
    #[response(status = 200, description = "One answer per row, in order")]
    Answered(ImportAnswer),
    #[response(status = 400, description = "`malformed_body`: not the request's shape (`import_ref` not 64 lowercase hex digits, 0 or over 1000 rows, a row number 0 or twice), or the database refused the rows' data (22xxx, 23502 not null, 23514 check; its message after `the lead store refused the request: `); nothing stored")]
    Malformed(ApiError),
    #[response(status = 401, description = "`sign_in_required`: no bearer token, or Auth refused it (expired, forged)")]
    SignInRequired(ApiError),
    #[response(status = 403, description = "`forbidden`: the signed-in user is not an admin")]
    Forbidden(ApiError),
    #[response(status = 408, description = "`body_read_timeout`: the body did not arrive within `BODY_READ_TIMEOUT_MS`; nothing stored")]
    BodyReadTimeout(ApiError),
    #[response(status = 413, description = "`payload_too_large`: the body is over `MAX_BODY_BYTES`")]
    PayloadTooLarge(ApiError),
    #[response(status = 500, description = "`upstream_misconfigured` (PostgREST refuses the service: its key, a missing RPC or EXECUTE grant) or `internal_error` (PostgREST refused the request the service built, or an assertion of the engine raised P0001); nothing stored, logged")]
    ServerFault(ApiError),
    #[response(status = 503, description = "`unavailable`: PostgREST or the database is unreachable, timed out, or answered a transient error or a conflict with rows written at the same time (23505 unique, 23503 reference); retry after `Retry-After` (a stored row is answered from its record)")]
    Unavailable(ApiError),
}

/// A request's rows, each normalized or refused.
struct Normalized {
    import_ref: String,
    /// Each row's number, its name as sent (shown beside an error too), and
    /// the normalized lead or why not.
    rows: Vec<(u32, Option<String>, Result<IngestPayload, ApiError>)>,
}

/// What importing these rows would do; writes nothing.
#[utoipa::path(
    post,
    path = "/api/imports/preview",
    tag = "imports",
    request_body(content = ImportRequest, description = "The file's SHA-256 and 1 to 1000 of its rows, each by its number in the file; fields matched like a webhook body. Browsers call from an origin in `CORS_ALLOWED_ORIGINS` (a preflight from any other origin is 403)."),
    responses(ImportResponses),
    security(("supabase_access_token" = []))
)]
pub async fn preview(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, IngestError> {
    let (normalized, mut found) =
        through_rpc(&req, payload, &state, "import_preview", |row, lead| json!({"row": row, "phone": lead.phone})).await?;
    let mut rows = Vec::with_capacity(normalized.rows.len());
    for (row, name, lead) in normalized.rows {
        rows.push(match lead {
            Err(error) => invalid(row, name, error),
            Ok(lead) => {
                let item = found.next().ok_or_else(short_answer)?;
                let imported = item.get("imported").and_then(|i| i.get("status")).and_then(Value::as_str).map(str::to_owned);
                ImportRowAnswer {
                    row,
                    status: "ok".into(),
                    duplicate_of: item.get("duplicate_of").and_then(Value::as_i64),
                    repeats_row: item.get("repeats_row").and_then(Value::as_i64),
                    imported,
                    ..described(row, &lead)
                }
            }
        });
    }
    Ok(HttpResponse::Ok().json(ImportAnswer { rows }))
}

/// Imports the rows through `import_leads` (one transaction), answering
/// each row; a row this import already stored gets its first answer.
#[utoipa::path(
    post,
    path = "/api/imports",
    tag = "imports",
    request_body(content = ImportRequest, description = "As for the preview. The same file's rows again create nothing twice: each gets its first answer with `replayed: true`."),
    responses(ImportResponses),
    security(("supabase_access_token" = []))
)]
pub async fn import(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, IngestError> {
    let (normalized, mut stored) =
        through_rpc(&req, payload, &state, "import_leads", |row, lead| json!({"row": row, "lead": lead})).await?;
    let mut rows = Vec::with_capacity(normalized.rows.len());
    let mut counts = [0usize; 2];
    for (row, name, lead) in normalized.rows {
        rows.push(match lead {
            Err(error) => invalid(row, name, error),
            Ok(lead) => {
                let item = stored.next().ok_or_else(short_answer)?;
                let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
                let status = text("status").unwrap_or_else(|| "invalid".into());
                let replayed = item.get("replayed").and_then(Value::as_bool).unwrap_or(false);
                counts[usize::from(replayed)] += 1;
                let error = (status == "invalid").then(|| text("error").unwrap_or_else(|| "rejected".into()));
                ImportRowAnswer {
                    row,
                    message: error.as_ref().map(|_| "the lead store refused this row".to_owned()),
                    error,
                    status,
                    lead_id: item.get("lead_id").and_then(Value::as_i64),
                    caller_name: text("caller_name"),
                    replayed,
                    ..described(row, &lead)
                }
            }
        });
    }
    tracing::info!(import = %&normalized.import_ref[..12], rows = rows.len(), stored = counts[0], replayed = counts[1], "import batch");
    Ok(HttpResponse::Ok().json(ImportAnswer { rows }))
}

/// Both routes' first steps: the token (401 without one), the body read and
/// normalized, and the valid rows sent to `function`, each as `item(row,
/// lead)`, with the manager's token. The normalized rows, and the RPC's
/// answers, one per valid row.
async fn through_rpc(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    function: &str,
    item: impl Fn(u32, &IngestPayload) -> Value,
) -> Result<(Normalized, std::vec::IntoIter<Value>), IngestError> {
    let token = bearer(req.headers())?;
    let normalized = read(req, payload, state).await?;
    let valid: Vec<Value> =
        normalized.rows.iter().filter_map(|(row, _, lead)| lead.as_ref().ok().map(|lead| item(*row, lead))).collect();
    if valid.is_empty() {
        return Ok((normalized, Vec::new().into_iter()));
    }
    let params = json!({"p_import_ref": normalized.import_ref, "p_rows": valid});
    let answer = state.rest.call_as_user(function, &params, token).await.map_err(|e| IngestError::from_rpc(&e))?;
    Ok((normalized, as_array(answer)?.into_iter()))
}

/// The access token to forward; 401 without one.
fn bearer(headers: &HeaderMap) -> Result<&str, IngestError> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()))
        .ok_or(IngestError::SignInRequired)
}

/// Reads, parses and normalizes the body. 400 for a malformed request.
async fn read(req: &HttpRequest, payload: web::Payload, state: &AppState) -> Result<Normalized, IngestError> {
    let body = read_body(req, payload, state.settings.max_body_bytes, state.settings.body_read_timeout).await?;
    let request: ImportRequest = serde_json::from_slice(&body).map_err(|e| {
        IngestError::MalformedBody(format!("send {{\"import_ref\": hex SHA-256, \"rows\": [{{\"row\": n, \"fields\": {{…}}}}]}} ({e})"))
    })?;
    check(&request)?;
    let region = state.settings.default_phone_region;
    let rows = request
        .rows
        .into_iter()
        .map(|row| {
            let raw = RawLead::from_json_object(&row.fields);
            let name = raw.full_name();
            let lead = normalize_lead(raw, region).map(|mut lead| {
                lead.source.get_or_insert_with(|| DEFAULT_SOURCE.to_owned());
                lead
            });
            (row.row, name, lead)
        })
        .collect();
    Ok(Normalized { import_ref: request.import_ref, rows })
}

/// The request's shape, checked before anything reaches the database.
fn check(request: &ImportRequest) -> Result<(), IngestError> {
    let malformed = |why: &str| Err(IngestError::MalformedBody(why.to_owned()));
    if request.import_ref.len() != 64 || !request.import_ref.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return malformed("import_ref must be the file's SHA-256 as 64 lowercase hex digits");
    }
    if request.rows.is_empty() || request.rows.len() > MAX_ROWS {
        return malformed(&format!("rows must hold 1 to {MAX_ROWS} rows"));
    }
    let mut numbers: Vec<u32> = request.rows.iter().map(|r| r.row).collect();
    if numbers.iter().any(|n| *n == 0 || *n > 999_999_999) {
        return malformed("each row number must be from 1 to 999999999");
    }
    numbers.sort_unstable();
    if numbers.windows(2).any(|w| w[0] == w[1]) {
        return malformed("a row number appears twice");
    }
    Ok(())
}

fn described(row: u32, lead: &IngestPayload) -> ImportRowAnswer {
    ImportRowAnswer { row, phone: Some(lead.phone.clone()), state: lead.state.clone(), name: lead.name.clone(), ..ImportRowAnswer::default() }
}

fn invalid(row: u32, name: Option<String>, error: ApiError) -> ImportRowAnswer {
    ImportRowAnswer { row, status: "invalid".into(), name, error: Some(error.error), message: Some(error.message), ..ImportRowAnswer::default() }
}

/// The RPC's answer as one item per row sent; anything else is a bug of
/// ours (500 `internal_error`, logged), not an outage.
fn as_array(value: Value) -> Result<Vec<Value>, IngestError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => {
            tracing::error!("import RPC answered something other than an array");
            Err(IngestError::Internal)
        }
    }
}

fn short_answer() -> IngestError {
    tracing::error!("import RPC answered fewer items than rows sent");
    IngestError::Internal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::RpcError;

    fn request(import_ref: &str, rows: &[u32]) -> ImportRequest {
        ImportRequest {
            import_ref: import_ref.to_owned(),
            rows: rows.iter().map(|row| ImportRow { row: *row, fields: Map::new() }).collect(),
        }
    }

    const REF: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn a_request_needs_a_hex_sha256_and_distinct_row_numbers() {
        assert!(check(&request(REF, &[2, 3])).is_ok());
        assert!(check(&request(&REF.to_uppercase(), &[2])).is_err());
        assert!(check(&request("abc", &[2])).is_err());
        assert!(check(&request(REF, &[])).is_err());
        assert!(check(&request(REF, &[2, 2])).is_err());
        assert!(check(&request(REF, &[0])).is_err());
        let many: Vec<u32> = (1..=MAX_ROWS as u32 + 1).collect();
        assert!(check(&request(REF, &many)).is_err());
    }

    #[test]
    fn each_fault_of_an_import_rpc_gets_its_own_status() {
        let user = |status: u16, body: &str| {
            let error = RpcError::Refused { status, body: body.into() };
            actix_web::ResponseError::status_code(&IngestError::from_rpc(&error)).as_u16()
        };
        let service = |error: RpcError| actix_web::ResponseError::status_code(&IngestError::from_rpc(&error)).as_u16();
        assert_eq!(user(401, r#"{"code":"PGRST301","message":"JWT expired"}"#), 401);
        assert_eq!(user(401, r#"{"code":"42501","message":"only admins can import leads"}"#), 403);
        assert_eq!(user(403, "{}"), 403);
        assert_eq!(user(401, r#"{"code":"42501","message":"permission denied for function import_leads"}"#), 500);
        assert_eq!(user(400, r#"{"code":"22023","message":"a row number appears twice"}"#), 400);
        for code in ["22023", "22P02", "23502", "23514"] {
            assert_eq!(user(400, &format!(r#"{{"code":"{code}","message":"refused"}}"#)), 400, "{code}: the rows' data");
        }
        for code in ["23505", "23503", "23P01", "23001", "23000"] {
            assert_eq!(user(409, &format!(r#"{{"code":"{code}","message":"conflict"}}"#)), 503, "{code}: a race, not the rows");
        }
        assert_eq!(user(400, r#"{"code":"P0001","message":"engine.check_references_exist: no reference check"}"#), 500);
        assert_eq!(user(400, r#"{"code":"PGRST102","message":"Invalid body"}"#), 500);
        assert_eq!(user(400, r#"{"code":"42703","message":"column x does not exist"}"#), 500);
        assert_eq!(user(409, r#"{"code":"40001","message":"could not serialize"}"#), 503);
        for code in ["57014", "40P01", "53300", "08006", "57P01", "55P03"] {
            assert_eq!(service(RpcError::Status { status: 500, body: format!(r#"{{"code":"{code}"}}"#) }), 503, "{code}");
        }
        for (status, code) in [(400, "22023"), (400, "23514"), (409, "23505"), (409, "23503")] {
            let error = RpcError::Status { status, body: format!(r#"{{"code":"{code}"}}"#) };
            assert_eq!(service(error), 503, "{code} to the service's own call is not the sender's");
        }
        assert_eq!(service(RpcError::Status { status: 400, body: r#"{"code":"P0001"}"#.into() }), 500);
        assert_eq!(service(RpcError::Status { status: 300, body: r#"{"code":"PGRST203"}"#.into() }), 500);
        assert_eq!(service(RpcError::Status { status: 503, body: "no JSON".into() }), 503);
        assert_eq!(service(RpcError::Unreachable("timed out".into())), 503);
        assert_eq!(service(RpcError::Unexpected("not an array".into())), 500);
    }

    #[test]
    fn a_data_error_names_the_database_message_and_no_more() {
        let error = RpcError::Refused { status: 400, body: r#"{"code":"22023","message":"a row number appears twice","hint":null}"#.into() };
        let answer = IngestError::from_rpc(&error).body();
        assert_eq!(answer.error, "malformed_body");
        assert_eq!(answer.message, "the lead store refused the request: a row number appears twice");
    }
}
