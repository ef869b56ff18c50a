//! Reading a delivery's verified bytes as one lead or a batch of leads.
//!
//! Only the shape is checked here: a JSON object or form is one lead, a JSON
//! array is a batch of at most [`MAX_BATCH`]. Normalization (phone, state,
//! languages) happens afterwards, per lead, in `bloc_shared`.

use actix_web::http::header::{HeaderMap, CONTENT_TYPE};
use bloc_shared::fields::RawLead;
use bloc_shared::ingest::ApiError;
use serde_json::Value;

use crate::error::IngestError;

/// Most leads in one JSON array.
pub const MAX_BATCH: usize = 1000;

/// A body read as one lead, or as a batch whose items are each a lead or the
/// reason that item is not one.
#[derive(Debug)]
pub enum Parsed {
    One(Box<RawLead>),
    Many(Vec<Result<RawLead, ApiError>>),
}

/// Reads `body` by its `Content-Type`: `application/x-www-form-urlencoded` is
/// one lead; `application/json` (or any `+json` type) is one lead or a batch.
/// Anything else is 415; a body that does not read is 400; an empty or
/// oversized batch is 422.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Parsed, IngestError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    if content_type == "application/x-www-form-urlencoded" {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| IngestError::MalformedBody(format!("the form body could not be read: {e}")))?;
        return Ok(Parsed::One(Box::new(RawLead::from_pairs(pairs))));
    }
    if content_type != "application/json" && !content_type.ends_with("+json") {
        return Err(IngestError::UnsupportedMediaType);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| IngestError::MalformedBody(format!("the body is not valid JSON: {e}")))?;
    match value {
        Value::Object(object) => Ok(Parsed::One(Box::new(RawLead::from_json_object(&object)))),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(IngestError::Invalid(ApiError::new("empty_batch", "the array holds no leads")));
            }
            if items.len() > MAX_BATCH {
                return Err(IngestError::Invalid(ApiError::new(
                    "too_many_leads",
                    format!("a batch holds at most {MAX_BATCH} leads, got {}", items.len()),
                )));
            }
            Ok(Parsed::Many(
                items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(object) => Ok(RawLead::from_json_object(&object)),
                        _ => Err(ApiError::new("not_an_object", "each lead must be a JSON object")),
                    })
                    .collect(),
            ))
        }
        _ => Err(IngestError::MalformedBody("the body must be a JSON object or an array of objects".into())),
    }
}
