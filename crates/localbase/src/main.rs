//! `localbase`: Supabase's REST, Auth and Realtime on one port over a
//! project-local PostgreSQL, for development, tests and demos.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use localbase::{Config, LocalBase, MigrationRunner};

#[derive(Parser, Debug)]
#[command(name = "localbase", version, about = "A Supabase-compatible local backend (REST, Auth, Realtime on one port). Not for production.")]
struct Args {
    /// HTTP port for REST, Auth and Realtime.
    #[arg(long, default_value_t = 54321)]
    port: u16,
    /// Folder for the cluster (`db/`), `keys.json` and `status.json`.
    #[arg(long, default_value = ".localbase")]
    dir: PathBuf,
    /// Port of the project-local PostgreSQL (default: a free one).
    #[arg(long)]
    db_port: Option<u16>,
    /// Address to bind. Anything but loopback needs --allow-remote.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Allow binding a non-loopback address. localbase is not hardened for
    /// exposure beyond this machine.
    #[arg(long)]
    allow_remote: bool,
    /// Migrations folder.
    #[arg(long, default_value = "supabase/migrations")]
    migrations: PathBuf,
    /// Apply migrations with the built-in runner even when the Supabase CLI
    /// is installed.
    #[arg(long)]
    builtin_migrations: bool,
    /// Let `POST /auth/v1/signup` create users.
    #[arg(long)]
    enable_signup: bool,
    /// Password sign-ins allowed per client address per 5 minutes (0: no limit).
    #[arg(long, default_value_t = localbase::config::DEFAULT_SIGN_IN_RATE_LIMIT)]
    sign_in_rate_limit: u32,
    /// Use this database instead of a project-local cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// mimalloc rather than glibc's malloc, as bloc-api (Realtime's and
/// PostgREST's JSON handling allocate per row and per request).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "localbase=info,postrust_server=error,postrust_engine=off,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = Config {
        dir: args.dir,
        port: args.port,
        bind: args.bind,
        allow_remote: args.allow_remote,
        database_url: args.database_url.filter(|u| !u.is_empty()),
        db_port: args.db_port,
        migrations_dir: args.migrations,
        migrations: if args.builtin_migrations { MigrationRunner::Builtin } else { MigrationRunner::Auto },
        enable_signup: args.enable_signup,
        sign_in_rate_limit: args.sign_in_rate_limit,
        print_status: true,
        ..Config::default()
    };
    let base = LocalBase::start(config).await.context("starting localbase")?;
    wait_for_signal().await;
    eprintln!("localbase: stopping");
    base.stop().await;
    Ok(())
}

/// Ctrl-C or SIGTERM, so the cluster is always shut down cleanly.
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("localbase: cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
