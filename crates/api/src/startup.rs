//! Builds the server: binds its own listener (port 0 in tests), starts the
//! batch and maintenance tasks, and wires the routes.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, App, HttpServer};
use tracing::Instrument;

use crate::batching::Batcher;
use crate::configuration::Settings;
use crate::idempotency::IdempotencyStore;
use crate::maintenance;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::routes;
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
}

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `settings.bind_addr` and prepares the server. Must be called
    /// inside a Tokio runtime (the batch and maintenance tasks start here).
    pub fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.bind_addr)
            .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", settings.bind_addr))?;
        let port = listener.local_addr()?.port();
        let settings = Arc::new(settings);
        let rest = Rest::new(&settings);
        let metrics = Arc::new(Metrics::default());
        let batcher = settings
            .batching
            .then(|| Batcher::start(rest.clone(), settings.batch_window, settings.batch_max, metrics.clone()));
        let idempotency = IdempotencyStore::default();
        maintenance::start(&settings, rest.clone(), idempotency.clone());
        let state = web::Data::new(AppState {
            rate_limiter: settings.rate_limit_per_minute.map(RateLimiter::new),
            settings: settings.clone(),
            rest,
            batcher,
            idempotency,
            metrics,
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap(actix_web::middleware::from_fn(observe))
                .configure(routes::config)
        })
        // Generous under bursts on small machines; a proxy in front handles slow clients.
        .client_request_timeout(std::time::Duration::from_secs(15))
        .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        Ok(Application { port, server: server.run() })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is stopped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Per request: a request id (taken from `X-Request-Id` or made), a tracing
/// span carrying it, and the request metrics.
async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<AppState>>().map(|s| s.metrics.clone());
    let span = tracing::info_span!("request", %request_id, %method, %route);
    let mut response = next.call(req).instrument(span.clone()).await?;
    let status = response.status().as_u16();
    if let Some(metrics) = metrics {
        metrics.observe_request(&route, status, started.elapsed());
    }
    span.in_scope(|| tracing::info!(status, elapsed_ms = started.elapsed().as_millis() as u64, "done"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(response)
}
