//! Background duties. Expired idempotency entries are purged from this
//! instance's store every ten minutes (or every `MAINTENANCE_INTERVAL_SECS`).
//!
//! Opt-in: with `MAINTENANCE_INTERVAL_SECS` set, every that many seconds the
//! service also reassigns leads whose caller missed the SLA and drains the
//! unassigned backlog, through the `reassign_stale_leads()` and
//! `assign_backlog()` RPCs, and forgets delivery records older than 24 hours
//! (`purge_deliveries()`). Off by default, because pg_cron runs these sweeps
//! in the database, whether or not any ingest service is up; the loop is the
//! fallback where pg_cron is not available. Several instances (and pg_cron)
//! may run them at once; the RPCs lock what they must.

use std::time::Duration;

use serde_json::Value;

use crate::configuration::Settings;
use crate::idempotency::IdempotencyStore;
use crate::rpc::Rest;

/// How often expired idempotency entries are purged when the sweeps are off.
const IDEMPOTENCY_PURGE_PERIOD: Duration = Duration::from_secs(600);

/// Starts the loop: the idempotency purge always, the sweeps only when
/// `settings.maintenance_interval` is set.
pub fn start(settings: &Settings, rest: Rest, idempotency: IdempotencyStore) {
    let interval = settings.maintenance_interval;
    tokio::spawn(async move {
        let period = interval.unwrap_or(IDEMPOTENCY_PURGE_PERIOD);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let purged = idempotency.purge_expired();
            if purged > 0 {
                tracing::debug!(purged, "expired idempotency keys dropped");
            }
            if interval.is_some() {
                run_once(&rest).await;
            }
        }
    });
}

/// One round of both RPCs, logging what each moved.
pub async fn run_once(rest: &Rest) {
    for function in ["reassign_stale_leads", "assign_backlog"] {
        match rest.maintenance(function).await {
            Ok(result) => {
                let moved = result.get("moved").and_then(Value::as_i64).unwrap_or(0);
                let leads = result.get("leads").cloned().unwrap_or(Value::Null);
                if moved > 0 {
                    tracing::info!(function, moved, %leads, "maintenance moved leads");
                } else {
                    tracing::debug!(function, "maintenance: nothing to move");
                }
            }
            Err(error) => tracing::warn!(function, %error, "maintenance call failed"),
        }
    }
    // Delivery records older than 24 hours (pg_cron does this hourly where
    // it runs; the ingest RPCs ignore expired records either way).
    match rest.maintenance("purge_deliveries").await {
        Ok(purged) => tracing::debug!(%purged, "expired delivery records purged"),
        Err(error) => tracing::warn!(function = "purge_deliveries", %error, "maintenance call failed"),
    }
}
