//! The caller queue's calls: one page of open leads in SLA order
//! (`caller_queue`), one page of closed ones, with the caller's exact open
//! and closed counts (`caller_queue_counts()`), and the dashboard's
//! per-caller conversion today (`caller_conversion_today()`).

use bloc_shared::records::Lead;
use serde_json::{json, Value};

use super::{Api, ApiResult};
use crate::queue::PAGE_SIZE;
use crate::stats::CallerConversion;

impl Api {
    /// One page of the caller's open leads, awaiting contact first by SLA due
    /// time, then follow-ups; and how many there are. The `caller_queue`
    /// view's order is served by an index (migration 20261130002200).
    pub async fn caller_queue(&self, caller_id: i64, page: u32) -> ApiResult<(Vec<Lead>, u64)> {
        self.page_of(
            &format!(
                "caller_queue?select=*&caller_id=eq.{caller_id}&order=follow_up.asc,assigned_at.asc,id.asc&limit={PAGE_SIZE}&offset={}",
                u64::from(page) * u64::from(PAGE_SIZE)
            ),
            "open",
        )
        .await
    }

    /// One page of the caller's converted and lost leads, latest change first
    /// (served by leads_caller_closed_idx, migration 20261130003000).
    pub async fn closed_leads(&self, caller_id: i64, page: u32) -> ApiResult<(Vec<Lead>, u64)> {
        self.page_of(
            &format!(
                "leads?select=*&caller_id=eq.{caller_id}&status=in.(converted,lost)&order=status_changed_at.desc.nullslast,id.desc&limit={PAGE_SIZE}&offset={}",
                u64::from(page) * u64::from(PAGE_SIZE)
            ),
            "closed",
        )
        .await
    }

    /// The page's rows, then the exact total from `caller_queue_counts()`
    /// (`count`: `open` or `closed`). Not REST's `count=exact`: it counts a
    /// page's query with its order and every column, which read each of a
    /// caller's ~11,000 open leads from the heap (docs/benchmarks.md); the
    /// function counts from an index. One after the other, not joined:
    /// `futures::join!` cost 220 B gz more of the bundle for a few ms.
    async fn page_of(&self, path: &str, count: &str) -> ApiResult<(Vec<Lead>, u64)> {
        let rows: Vec<Lead> = self.rows(path).await?;
        let counts = self.rpc("caller_queue_counts", &json!({})).await?;
        let total = counts.get(count).and_then(Value::as_u64).unwrap_or(rows.len() as u64);
        Ok((rows, total))
    }

    /// Each caller's conversion today (admins only).
    pub async fn caller_conversion_today(&self) -> ApiResult<Vec<CallerConversion>> {
        Ok(CallerConversion::read_all(&self.rpc("caller_conversion_today", &json!({})).await?))
    }
}
