//! What every request shares. Routes import this, never `startup`.

use std::sync::Arc;

use crate::batching::Batcher;
use crate::configuration::Settings;
use crate::idempotency::IdempotencyStore;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::readiness::ReadinessCheck;
use crate::rpc::Rest;

/// Shared by every request.
pub struct AppState {
    pub settings: Arc<Settings>,
    pub rest: Rest,
    /// `None` when batching is off: each lead is its own `ingest_lead` call.
    pub batcher: Option<Batcher>,
    pub idempotency: IdempotencyStore,
    pub metrics: Arc<Metrics>,
    pub rate_limiter: Option<RateLimiter>,
    pub readiness: ReadinessCheck,
}
