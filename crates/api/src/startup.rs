//! Builds the server: binds its own listener (port 0 in tests), starts the
//! batch and maintenance tasks, and wires the routes. Nothing here is
//! imported by a route.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::batching::Batcher;
use crate::configuration::Settings;
use crate::idempotency::IdempotencyStore;
use crate::maintenance;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::routes;
use crate::rpc::Rest;
use crate::state::AppState;
use crate::telemetry;

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
                .wrap(actix_web::middleware::from_fn(telemetry::observe))
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
