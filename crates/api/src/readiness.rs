//! Readiness: can the service store a lead right now?
//!
//! One PostgREST read answers it, and the answer is kept for
//! [`READINESS_TTL`], so a probe every second (or several probes at once)
//! cost PostgREST at most one call per period. A 401/403/404 is reported
//! apart from an outage: it is the service's configuration that is wrong,
//! and it is logged at error level with its likely cause.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::rpc::{likely_cause, Rest, RpcError};

/// How long one readiness answer is reused.
pub const READINESS_TTL: Duration = Duration::from_secs(3);

/// One readiness answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// PostgREST or the database does not answer: transient.
    Unavailable,
    /// PostgREST refuses the service (401, 403, 404), with the likely cause.
    Misconfigured { status: u16, cause: &'static str },
}

/// The cached readiness answer.
#[derive(Default)]
pub struct ReadinessCheck {
    last: Mutex<Option<(Instant, Readiness)>>,
}

impl ReadinessCheck {
    /// The answer of at most [`READINESS_TTL`] ago, or a fresh one. Callers
    /// arriving during a check wait for it instead of starting their own.
    pub async fn check(&self, rest: &Rest) -> Readiness {
        let mut last = self.last.lock().await;
        if let Some((at, readiness)) = last.as_ref() {
            if at.elapsed() < READINESS_TTL {
                return readiness.clone();
            }
        }
        let readiness = match rest.ping().await {
            Ok(()) => Readiness::Ready,
            Err(RpcError::Misconfigured { status, body }) => {
                let cause = likely_cause(status);
                tracing::error!(status, %body, "not ready: PostgREST refuses this service: {cause}");
                Readiness::Misconfigured { status, cause }
            }
            Err(error) => {
                tracing::warn!(%error, "not ready");
                Readiness::Unavailable
            }
        };
        *last = Some((Instant::now(), readiness.clone()));
        readiness
    }
}
