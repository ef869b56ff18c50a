//! Builds the server: binds its own listeners (port 0 in tests), starts the
//! batch and maintenance tasks, and wires the routes. Nothing here is
//! imported by a route.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::KeepAlive;
use actix_web::{web, App, HttpServer};

use crate::batching::Batcher;
use crate::configuration::Settings;
use crate::idempotency::IdempotencyStore;
use crate::maintenance;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;
use crate::readiness::ReadinessCheck;
use crate::routes;
use crate::rpc::{likely_cause, Rest, RpcError};
use crate::state::AppState;
use crate::telemetry;

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    server: Server,
    /// The operators' listener, when `ADMIN_BIND_ADDR` is set.
    admin: Option<(u16, Server)>,
}

impl Application {
    /// Probes PostgREST once, then builds. Refuses to start when PostgREST
    /// answers 401, 403 or 404 (a wrong service key, a missing grant or
    /// table: no retry helps); starts normally when PostgREST merely does
    /// not answer, which is transient (`/readyz` says so until it does).
    pub async fn start(settings: Settings) -> anyhow::Result<Application> {
        match Rest::new(&settings).ping().await {
            Ok(()) => {}
            Err(RpcError::Misconfigured { status, body }) => {
                anyhow::bail!(
                    "PostgREST at {} answered {status} to the service: {}. Not starting. ({body})",
                    settings.rest_url(),
                    likely_cause(status)
                )
            }
            Err(error) => tracing::warn!(%error, "PostgREST does not answer yet; starting anyway"),
        }
        Application::build(settings)
    }

    /// Binds `settings.bind_addr` (and `admin_bind_addr`) and prepares the
    /// server, without probing PostgREST. Must be called inside a Tokio
    /// runtime (the batch and maintenance tasks start here).
    pub fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = bind(&settings.bind_addr, "BIND_ADDR")?;
        let port = listener.local_addr()?.port();
        let admin_listener = settings.admin_bind_addr.map(|addr| bind(&addr, "ADMIN_BIND_ADDR")).transpose()?;
        let settings = Arc::new(settings);
        warm_phone_metadata(&settings);
        let rest = Rest::new(&settings);
        let metrics = Arc::new(Metrics::default());
        let batcher = settings
            .batching
            .then(|| Batcher::start(rest.clone(), settings.batch_policy(), metrics.clone()));
        let idempotency = IdempotencyStore::default();
        maintenance::start(&settings, rest.clone(), idempotency.clone());
        let state = web::Data::new(AppState {
            rate_limiter: settings.rate_limit_per_minute.map(RateLimiter::new),
            settings: settings.clone(),
            rest,
            batcher,
            idempotency,
            metrics,
            readiness: ReadinessCheck::default(),
        });

        let workers = settings.workers.unwrap_or_else(default_workers);
        let per_worker = connections_per_worker(settings.max_connections, workers);
        tracing::info!(
            workers,
            per_worker,
            total = per_worker * workers,
            "connection cap (MAX_CONNECTIONS split across workers)"
        );
        let keep_alive = settings.keep_alive.map_or(KeepAlive::Disabled, KeepAlive::Timeout);

        let separate_admin = admin_listener.is_some();
        let public_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(public_state.clone())
                .wrap(actix_web::middleware::from_fn(telemetry::observe))
                .configure(routes::public)
                .configure(|cfg| {
                    if !separate_admin {
                        routes::admin(cfg);
                    }
                })
        })
        .workers(workers)
        // Per worker in actix: past it a worker stops accepting, and new
        // connections wait in the listen backlog until one closes.
        .max_connections(per_worker)
        .keep_alive(keep_alive)
        .client_request_timeout(settings.client_request_timeout)
        .listen(listener)?;

        let admin = match admin_listener {
            None => None,
            Some(listener) => {
                let admin_port = listener.local_addr()?.port();
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .wrap(actix_web::middleware::from_fn(telemetry::observe))
                        .configure(routes::admin_only)
                })
                .workers(1)
                .listen(listener)?;
                Some((admin_port, server.run()))
            }
        };
        Ok(Application { port, server: server.run(), admin })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The operators' port, when `ADMIN_BIND_ADDR` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(port, _)| *port)
    }

    /// Serves until the process is stopped (or either listener fails).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.admin {
            None => self.server.await,
            Some((_, admin)) => futures::future::try_join(self.server, admin).await.map(|_| ()),
        }
    }
}

/// Loads libphonenumber's metadata and compiles the default region's
/// patterns (the crate's, and `bloc_shared::phone`'s own for validity) now,
/// not on the first lead: that load takes 0.1–0.3 s of CPU
/// (`normalize_bench`), and on the first lead it stalled every connection
/// of the HTTP worker that drew it (issue 14, seen in `loadgen`'s profile).
fn warm_phone_metadata(settings: &Settings) {
    let started = std::time::Instant::now();
    for sample in ["+919876543210", "9876543210", "+16502530000"] {
        let _ = bloc_shared::phone::normalize(sample, settings.default_phone_region);
    }
    tracing::debug!(millis = started.elapsed().as_millis(), "phone metadata loaded");
}

/// actix's own default: one worker per core.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `MAX_CONNECTIONS` is for the whole service; actix caps each worker. The
/// total is split evenly, rounded down so the cap is never exceeded, but at
/// least one connection per worker.
pub fn connections_per_worker(total: usize, workers: usize) -> usize {
    (total / workers.max(1)).max(1)
}

/// Connections the kernel completes and queues while the workers are busy
/// or at their cap (`MAX_CONNECTIONS`): actix's own default. The standard
/// library's `TcpListener::bind` asks for 128, and a burst of more new
/// connections than that (256 senders opening theirs at once in `loadgen`)
/// overflowed it: the kernel drops a SYN it cannot queue and the client
/// resends it after a second, so those leads took 1.1 s instead of 50 ms.
/// Linux caps it at `net.core.somaxconn` (4096 by default).
pub const LISTEN_BACKLOG: i32 = 2048;

fn bind(addr: &std::net::SocketAddr, name: &str) -> anyhow::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let listen = || -> std::io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(*addr), Type::STREAM, Some(Protocol::TCP))?;
        // As the standard library's bind does on Unix: a restarted service
        // can bind while its old connections linger in TIME_WAIT.
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
        socket.bind(&(*addr).into())?;
        socket.listen(LISTEN_BACKLOG)?;
        Ok(socket.into())
    };
    listen().map_err(|e| anyhow::anyhow!("cannot bind {name} {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::connections_per_worker;

    #[test]
    fn the_connection_cap_is_split_across_workers_without_exceeding_it() {
        assert_eq!(connections_per_worker(512, 2), 256);
        assert_eq!(connections_per_worker(513, 2), 256);
        assert_eq!(connections_per_worker(10, 4), 2);
        assert_eq!(connections_per_worker(1, 4), 1, "at least one per worker");
        assert_eq!(connections_per_worker(7, 0), 7);
    }
}
