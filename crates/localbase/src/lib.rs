//! localbase: a Supabase-compatible local backend for development, tests
//! and demos. REST (`/rest/v1`, PostgREST via postrust), Auth (`/auth/v1`,
//! a GoTrue subset) and Realtime (`/realtime/v1`) on one port, over a
//! project-local PostgreSQL or `DATABASE_URL`. Not a production component.
//!
//! ```no_run
//! # async fn run() -> anyhow::Result<()> {
//! let base = localbase::LocalBase::start(localbase::Config::for_tests()).await?;
//! println!("{} {}", base.api_url(), base.anon_key());
//! base.stop().await;
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod config;
pub mod database;
pub mod gateway;
pub mod keys;
mod private;
pub mod realtime;
pub mod rest;
pub mod status;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Config, MigrationRunner};
pub use keys::Keys;
pub use status::Status;

/// A running localbase. Stops (server and the cluster it started) on
/// [`LocalBase::stop`] or on drop.
pub struct LocalBase {
    status: Status,
    dir: PathBuf,
    keys: Arc<Keys>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    realtime: Option<realtime::RealtimeState>,
    database: Option<database::Database>,
}

impl LocalBase {
    /// Gets the database ready (cluster, bootstrap, migrations), binds the
    /// port and serves. Returns once requests can be answered.
    pub async fn start(config: Config) -> anyhow::Result<LocalBase> {
        if !config.bind.is_loopback() && !config.allow_remote {
            bail!(
                "refusing to bind {}: localbase is a development backend and binds loopback only \
                 unless --allow-remote is given",
                config.bind
            );
        }
        private::make_private_dir(&config.dir, cluster_owner(&config)?.as_ref())?;
        // A status file left by a killed run would tell waiting scripts we
        // are up before we are.
        let _ = std::fs::remove_file(config.dir.join("status.json"));
        let keys = Arc::new(Keys::load_or_create(&config.dir)?);

        let listener = tokio::net::TcpListener::bind(SocketAddr::new(config.bind, config.port))
            .await
            .with_context(|| format!("binding {}:{}", config.bind, config.port))?;
        let port = listener.local_addr()?.port();
        let host = if config.bind.is_unspecified() || config.bind.is_loopback() {
            "127.0.0.1".to_string()
        } else {
            config.bind.to_string()
        };
        let api_url = format!("http://{host}:{port}");

        let prepare_config = config.clone();
        let mut database = tokio::task::spawn_blocking(move || database::prepare(&prepare_config))
            .await
            .context("preparing the database")??;
        let db_url = database.url.clone();

        let (app, realtime) = match build_app(&config, &db_url, &api_url, keys.clone()).await {
            Ok(built) => built,
            Err(e) => {
                tokio::task::spawn_blocking(move || database.stop()).await.ok();
                return Err(e);
            }
        };

        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(
                postrust_server::lenient_uri::LenientListener(listener),
                app.into_make_service_with_connect_info::<gateway::ClientAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = shutdown_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("localbase server stopped: {e}");
            }
        });

        let status = Status {
            api_url,
            db_url,
            anon_key: keys.anon_key().into(),
            service_role_key: keys.service_role_key().into(),
            publishable_key: keys.publishable_key().into(),
            secret_key: keys.secret_key().into(),
            jwt_secret: keys.jwt_secret().into(),
        };
        status.write(&config.dir)?;
        if config.print_status {
            println!("{}", status.block());
        }
        Ok(LocalBase {
            status,
            dir: config.dir.clone(),
            keys,
            shutdown: Some(shutdown),
            server: Some(server),
            realtime: Some(realtime),
            database: Some(database),
        })
    }

    /// `http://127.0.0.1:<port>`, the `SUPABASE_URL` of this instance.
    pub fn api_url(&self) -> &str {
        &self.status.api_url
    }
    /// The database, as the `postgres` superuser.
    pub fn db_url(&self) -> &str {
        &self.status.db_url
    }
    pub fn anon_key(&self) -> &str {
        &self.status.anon_key
    }
    pub fn service_role_key(&self) -> &str {
        &self.status.service_role_key
    }
    pub fn publishable_key(&self) -> &str {
        &self.status.publishable_key
    }
    pub fn secret_key(&self) -> &str {
        &self.status.secret_key
    }
    pub fn jwt_secret(&self) -> &str {
        &self.status.jwt_secret
    }
    /// Everything `status.json` holds.
    pub fn status(&self) -> &Status {
        &self.status
    }
    /// The project's keys, to mint tokens in tests.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }
    /// The folder holding `keys.json` and `status.json`.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Stops serving, waits for open requests, then stops the cluster this
    /// instance started (if any).
    pub async fn stop(mut self) {
        if let Some(realtime) = self.realtime.take() {
            realtime.shutdown().await;
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        }
        if let Some(mut db) = self.database.take() {
            let _ = tokio::task::spawn_blocking(move || db.stop()).await;
        }
        let _ = std::fs::remove_file(self.dir.join("status.json"));
        self.remove_test_dir();
    }

    /// The folder `Config::for_tests` made is removed with the instance;
    /// any other folder is kept.
    fn remove_test_dir(&self) {
        let made_for_tests = self.dir.parent() == Some(std::env::temp_dir().as_path())
            && self
                .dir
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(config::TEST_DIR_PREFIX));
        if made_for_tests {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for LocalBase {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(mut db) = self.database.take() {
            db.stop();
        }
        self.remove_test_dir();
    }
}

/// The user who must pass through `config.dir` to run the cluster under
/// `<dir>/db`: as root, pgcluster runs PostgreSQL as `postgres`. `None` when
/// no such cluster is started here or localbase does not run as root.
fn cluster_owner(config: &Config) -> anyhow::Result<Option<nix::unistd::User>> {
    if config.database_url.is_some() || config.temporary_database || !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    nix::unistd::User::from_name("postgres").context("looking up the postgres user")
}

async fn build_app(
    config: &Config,
    db_url: &str,
    api_url: &str,
    keys: Arc<Keys>,
) -> anyhow::Result<(Router, realtime::RealtimeState)> {
    let rest = rest::router(db_url, &keys).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(db_url)
        .await
        .context("connecting the auth server to the database")?;
    let auth = auth::router(auth::AuthState {
        pool,
        keys: keys.clone(),
        issuer: format!("{api_url}/auth/v1"),
        jwt_expiry_secs: config.jwt_expiry_secs,
        enable_signup: config.enable_signup,
        sign_in_limiter: Arc::new(auth::rate_limit::RateLimiter::new(config.sign_in_rate_limit)),
    });
    let app = Router::new().nest("/rest/v1", rest).nest("/auth/v1", auth);
    let (app, realtime) = with_realtime(app, db_url, keys.clone()).await?;
    let app = app
        .fallback(|| async {
            (StatusCode::NOT_FOUND, Json(serde_json::json!({ "message": "no Route matched with those values" })))
                .into_response()
        })
        .layer(axum::middleware::from_fn_with_state(keys, gateway::require_apikey))
        .layer(gateway::cors());
    Ok((app, realtime))
}

/// Realtime at `/realtime/v1`, checking keys and tokens with the project's keys.
async fn with_realtime(
    app: Router,
    db_url: &str,
    keys: Arc<Keys>,
) -> anyhow::Result<(Router, realtime::RealtimeState)> {
    let verifier: Arc<dyn realtime::TokenVerifier> = keys;
    let state = realtime::RealtimeState::start(db_url.to_string(), verifier)
        .await
        .context("starting Realtime")?;
    Ok((app.nest("/realtime/v1", realtime::router(state.clone())), state))
}
