//! Supabase Realtime's `postgres_changes`, served over Phoenix channels at
//! `/websocket` (mounted at `/realtime/v1`).
//!
//! - [`phoenix`]: the two frame formats (`vsn=1.0.0` objects, `vsn=2.0.0` arrays).
//! - [`socket`]: one connection: joins, heartbeats, token refresh, leave.
//! - [`wal`]: change capture from a temporary wal2json logical slot, streamed
//!   over the replication protocol for the tables of publication
//!   `supabase_realtime` (each WAL record is decoded once).
//! - [`demand`]: the slot streams only while someone subscribes, and for a
//!   while after the last one leaves.
//! - [`poller`]: the single task that takes the streamed changes and fans them out.
//! - [`visibility`]: row level security, checked per subscriber identity with
//!   one batched query per identity and table.
//!
//! It is a development backend: one process, one slot, no clustering.

mod binding;
mod catalog;
mod demand;
mod hub;
mod identity;
pub mod phoenix;
mod poller;
mod socket;
mod values;
mod visibility;
mod wal;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;

use self::demand::Demand;
use self::hub::Hub;
use self::identity::Identity;
use self::phoenix::Vsn;

pub use self::wal::SLOT_PREFIX;

/// Checks the keys and tokens clients present. Implemented by localbase's
/// key store; tests use an HS256 verifier of their own.
pub trait TokenVerifier: Send + Sync {
    /// The role of an API key (`anon`, `service_role`, …), or `None` if it is not one of ours.
    fn api_key_role(&self, apikey: &str) -> Option<String>;
    /// The claims of a valid access token or legacy JWT key, or why it is not valid.
    fn verify(&self, token: &str) -> Result<serde_json::Value, String>;
}

/// Connections used for RLS checks and catalog reads.
const POOL_SIZE: u32 = 4;

/// State shared by every socket and the polling task.
pub(crate) struct Shared {
    hub: Hub,
    /// RLS checks, join validation and catalog reads. The slot has a
    /// session of its own (see [`wal::Slot`]).
    pool: sqlx::PgPool,
    verifier: Arc<dyn TokenVerifier>,
    next_socket: AtomicU64,
    /// Whether the slot should stream; joins wait on it.
    demand: Arc<Demand>,
}

/// A running Realtime service. Cheap to clone; the polling task stops (and
/// its replication slot, if one streams, is dropped) when the last clone is
/// dropped or on [`RealtimeState::shutdown`].
#[derive(Clone)]
pub struct RealtimeState {
    shared: Arc<Shared>,
    control: Arc<Control>,
}

struct Control {
    shutdown: watch::Sender<bool>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Control {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl RealtimeState {
    /// Checks that the database can stream changes and starts the polling
    /// task. A slot streams from the first join on, and stops 10 s after the
    /// last subscriber leaves; every change committed after a join's reply
    /// reaches that subscriber.
    pub async fn start(db_url: String, verifier: Arc<dyn TokenVerifier>) -> anyhow::Result<RealtimeState> {
        RealtimeState::start_with_idle_stop(db_url, verifier, demand::DEFAULT_IDLE_STOP).await
    }

    /// [`RealtimeState::start`], with the slot stopping `idle_stop` after
    /// the last subscriber leaves.
    pub async fn start_with_idle_stop(
        db_url: String,
        verifier: Arc<dyn TokenVerifier>,
        idle_stop: std::time::Duration,
    ) -> anyhow::Result<RealtimeState> {
        let shared = Arc::new(Shared {
            hub: Hub::default(),
            pool: visibility::pool(&db_url, POOL_SIZE)?,
            verifier,
            next_socket: AtomicU64::new(1),
            demand: Arc::new(Demand::new(idle_stop)),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let poller = poller::Poller::start(&db_url, &shared, shutdown_rx).await?;
        let handle = tokio::spawn(poller.run());
        Ok(RealtimeState {
            shared,
            control: Arc::new(Control { shutdown, poller: Mutex::new(Some(handle)) }),
        })
    }

    /// Stops polling and drops the replication slot.
    pub async fn shutdown(&self) {
        let _ = self.control.shutdown.send(true);
        let handle = match self.control.poller.lock() {
            Ok(mut h) => h.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }

    /// How many joined channels currently have `postgres_changes` bindings.
    pub fn subscriber_count(&self) -> usize {
        self.shared.hub.len()
    }
}

/// The Realtime routes: `GET /websocket?apikey=…&vsn=…`.
pub fn router(state: RealtimeState) -> Router {
    Router::new().route("/websocket", get(upgrade)).with_state(state)
}

async fn upgrade(
    State(state): State<RealtimeState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let apikey = params
        .get("apikey")
        .cloned()
        .or_else(|| headers.get("apikey").and_then(|v| v.to_str().ok()).map(str::to_owned));
    let Some(apikey) = apikey.filter(|k| !k.is_empty()) else {
        return refuse(StatusCode::UNAUTHORIZED, "No API key found in request");
    };
    let Some(role) = state.shared.verifier.api_key_role(&apikey) else {
        return refuse(StatusCode::UNAUTHORIZED, "Invalid API key");
    };
    let vsn = match Vsn::parse(params.get("vsn").map(String::as_str)) {
        Ok(vsn) => vsn,
        Err(reason) => return refuse(StatusCode::BAD_REQUEST, &reason),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let (role, claims) = match identity::resolve(state.shared.verifier.as_ref(), &apikey) {
        Ok(found) => found,
        Err(_) => (role.clone(), json!({ "role": role })),
    };
    let bypass = match socket::role_bypasses_rls(&state.shared, &role).await {
        Ok(bypass) => bypass,
        Err(reason) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &reason),
    };
    let identity = Identity::new(role, &claims, bypass);
    let shared = state.shared.clone();
    ws.on_upgrade(move |socket| socket::serve(socket, shared, vsn, identity))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}
