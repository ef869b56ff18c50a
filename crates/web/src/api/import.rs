//! The CSV import's calls to the ingest service (`ingest_url` in
//! config.json), which normalizes phones and states with the webhook's own
//! code, and the CSV export's paging through the leads table.

use bloc_shared::records::Lead;
use gloo_net::http::Request;
use leptos::prelude::GetUntracked;
use serde_json::Value;

use super::{Api, ApiResult};
use crate::error::{ApiError, Service};
use crate::query::{LeadQuery, SEARCH_MAX};

/// Leads per export request.
pub const EXPORT_PAGE: usize = 1000;

/// Most leads one export writes; narrower filters export the rest.
pub const EXPORT_MAX: usize = 50_000;

/// Leads per `lead_search` call when exporting a search: a call reads the
/// leads before its page again, so the export's last call costs about what
/// the table's 40th page does plus 250 rows, within the 50 ms a request
/// has, where one call of all 1,000 did not (docs/benchmarks.md).
pub const SEARCH_EXPORT_PAGE: u32 = 250;

impl Api {
    /// The ingest service's base URL, if config.json names one.
    pub fn ingest_url(&self) -> Option<String> {
        self.config().ingest_url
    }

    /// `POST /api/imports/preview`: each row as it would be stored.
    pub async fn preview_import(&self, body: String) -> ApiResult<Vec<Value>> {
        self.import_call("/api/imports/preview", body).await
    }

    /// `POST /api/imports`: stores the rows; one answer per row.
    pub async fn import_rows(&self, body: String) -> ApiResult<Vec<Value>> {
        self.import_call("/api/imports", body).await
    }

    /// Posts `body` with the session's token, refreshing and retrying once
    /// when the token was refused; returns the answer's `rows`.
    async fn import_call(&self, path: &str, body: String) -> ApiResult<Vec<Value>> {
        let base = self.ingest_url().ok_or_else(|| ApiError::Unexpected("config.json has no ingest_url.".to_owned()))?;
        self.refresh_if_due().await;
        let mut retried = false;
        loop {
            let token = self.session.get_untracked().map(|s| s.access_token).ok_or(ApiError::NotSignedIn)?;
            let response = Request::post(&format!("{base}{path}"))
                .header("Authorization", &format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .body(body.clone())
                .map_err(|e| ApiError::Unexpected(e.to_string()))?
                .send()
                .await
                .map_err(|_| ApiError::Network)?;
            let status = response.status();
            if status == 401 && !retried {
                retried = true;
                self.refresh().await?;
                continue;
            }
            let text = response.text().await.map_err(|_| ApiError::Network)?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let message = value.get("message").and_then(Value::as_str).map(str::to_owned);
            return match status {
                200 => match value.get("rows") {
                    Some(Value::Array(rows)) => Ok(rows.clone()),
                    _ => Err(ApiError::UnreadableResponse("The ingest service sent an unreadable answer.".to_owned())),
                },
                401 => Err(ApiError::SessionExpired),
                403 => Err(ApiError::Forbidden),
                400 | 413 | 422 => Err(ApiError::InvalidInput(message.unwrap_or_else(|| format!("The import was refused (HTTP {status})")))),
                500..=599 => Err(ApiError::Server { status, service: Service::Data }),
                _ => Err(ApiError::Rejected { status, message }),
            };
        }
    }

    /// Every lead the leads table's filters match, in its order, at most
    /// [`EXPORT_MAX`], fetched up to [`EXPORT_PAGE`] at a time; `progress` gets
    /// the count so far after each page. With a search, the search's first
    /// [`SEARCH_MAX`] matches, as far as the table reaches, in `lead_search`
    /// calls of [`SEARCH_EXPORT_PAGE`] (under row level security REST's
    /// `ilike` would read every lead).
    pub async fn export_leads(&self, query: &LeadQuery, offset_minutes: i32, progress: impl Fn(usize)) -> ApiResult<Vec<Lead>> {
        let mut query = query.clone();
        query.page = 0;
        if !query.search.trim().is_empty() {
            // Pages of the table's own request, which asks one row more
            // than a page: that row says whether another page follows.
            query.page_size = SEARCH_EXPORT_PAGE;
            let mut leads: Vec<Lead> = Vec::new();
            loop {
                let (path, body) = query.to_request(offset_minutes);
                let mut page: Vec<Lead> = Self::decode(self.rest("POST", &path, body, None).await?).await?;
                let more = page.len() > SEARCH_EXPORT_PAGE as usize;
                page.truncate(SEARCH_EXPORT_PAGE as usize);
                leads.extend(page);
                progress(leads.len());
                if !more || leads.len() >= SEARCH_MAX as usize {
                    return Ok(leads);
                }
                query.page += 1;
            }
        }
        query.page_size = EXPORT_PAGE as u32;
        let first = query.to_query_string(offset_minutes);
        // The table's own filters and order; the offset is the export's.
        let base = first.rsplit_once("&offset=").map_or(first.as_str(), |(base, _)| base).to_owned();
        let mut leads: Vec<Lead> = Vec::new();
        loop {
            let path = format!("leads?{base}&offset={}", leads.len());
            let page: Vec<Lead> = Self::decode(self.rest("GET", &path, None, None).await?).await?;
            // Only an empty page ends it: a server whose row cap is below
            // EXPORT_PAGE answers short pages that are not the last.
            let done = page.is_empty();
            leads.extend(page);
            progress(leads.len());
            if done || leads.len() >= EXPORT_MAX {
                leads.truncate(EXPORT_MAX);
                return Ok(leads);
            }
        }
    }
}
