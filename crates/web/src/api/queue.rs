//! The caller queue's calls: one page of open leads in SLA order
//! (`caller_queue`), one page of closed ones, and the dashboard's
//! per-caller conversion today (`caller_conversion_today()`).

use bloc_shared::records::Lead;
use serde_json::json;

use super::{Api, ApiResult};
use crate::query;
use crate::queue::PAGE_SIZE;
use crate::stats::CallerConversion;

impl Api {
    /// One page of the caller's open leads, awaiting contact first by SLA due
    /// time, then follow-ups; and how many there are. The `caller_queue`
    /// view's order is served by an index (migration 20261130002200).
    pub async fn caller_queue(&self, caller_id: i64, page: u32) -> ApiResult<(Vec<Lead>, u64)> {
        self.page_of(&format!(
            "caller_queue?select=*&caller_id=eq.{caller_id}&order=follow_up.asc,assigned_at.asc,id.asc&limit={PAGE_SIZE}&offset={}",
            u64::from(page) * u64::from(PAGE_SIZE)
        ))
        .await
    }

    /// One page of the caller's converted and lost leads, latest change first.
    pub async fn closed_leads(&self, caller_id: i64, page: u32) -> ApiResult<(Vec<Lead>, u64)> {
        self.page_of(&format!(
            "leads?select=*&caller_id=eq.{caller_id}&status=in.(converted,lost)&order=status_changed_at.desc.nullslast,id.desc&limit={PAGE_SIZE}&offset={}",
            u64::from(page) * u64::from(PAGE_SIZE)
        ))
        .await
    }

    async fn page_of(&self, path: &str) -> ApiResult<(Vec<Lead>, u64)> {
        let response = self.rest("GET", path, None, Some("count=exact")).await?;
        let total = response.headers().get("content-range").and_then(|h| query::total_from_content_range(&h));
        let rows: Vec<Lead> = Self::decode(response).await?;
        let total = total.unwrap_or(rows.len() as u64);
        Ok((rows, total))
    }

    /// Each caller's conversion today (admins only).
    pub async fn caller_conversion_today(&self) -> ApiResult<Vec<CallerConversion>> {
        Ok(CallerConversion::read_all(&self.rpc("caller_conversion_today", &json!({})).await?))
    }
}
