//! Getting a database ready: a project-local cluster (or `DATABASE_URL`),
//! Supabase's bootstrap (which includes the GoTrue tables the auth server
//! uses: `auth.users`, `auth.sessions`, `auth.refresh_tokens`), and the
//! migrations.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use pgcluster::testing::{self, TestDatabase};
use pgcluster::{Cluster, ClusterOptions};

use crate::config::{Config, MigrationRunner};

/// The Supabase CLI version the project pins.
pub const SUPABASE_CLI_VERSION: &str = "2.117.0";

/// A database localbase serves, and what to stop with it.
pub struct Database {
    pub url: String,
    server: Server,
}

enum Server {
    /// `database_url`: someone else's server, left running.
    Given,
    /// The project-local cluster under `<dir>/db`.
    ProjectLocal(Cluster),
    /// `temporary_database`: dropped from a shared server, or a throwaway
    /// cluster that stops.
    Test(TestDatabase),
}

impl Database {
    /// Stops the cluster this process started, or drops the database it made
    /// on a shared server. Idempotent.
    pub fn stop(&mut self) {
        match std::mem::replace(&mut self.server, Server::Given) {
            Server::ProjectLocal(mut cluster) => cluster.stop(),
            Server::Test(database) => drop(database),
            Server::Given => {}
        }
    }
}

/// Starts or connects to the database, then bootstraps and migrates it.
/// Blocking: call it from `spawn_blocking`.
pub fn prepare(config: &Config) -> anyhow::Result<Database> {
    let mut db = open(config)?;
    if let Err(e) = schema(config, &db.url) {
        db.stop();
        return Err(e);
    }
    Ok(db)
}

fn open(config: &Config) -> anyhow::Result<Database> {
    if config.temporary_database {
        let shared_server = config.database_url.clone().or_else(testing::shared_server);
        let database = TestDatabase::empty_on(shared_server.as_deref())
            .context("creating a database for the test")?;
        return Ok(Database { url: database.url.clone(), server: Server::Test(database) });
    }
    if let Some(url) = &config.database_url {
        return Ok(Database { url: url.clone(), server: Server::Given });
    }
    let cluster = Cluster::start(&ClusterOptions {
        dir: config.dir.join("db"),
        port: config.db_port,
        durable: true,
    })
    .context("starting the project-local PostgreSQL cluster")?;
    Ok(Database { url: cluster.url("postgres"), server: Server::ProjectLocal(cluster) })
}

fn schema(config: &Config, url: &str) -> anyhow::Result<()> {
    pgcluster::bootstrap(url).context("applying supabase/bootstrap.sql")?;
    migrate(config, url)
}

fn migrate(config: &Config, url: &str) -> anyhow::Result<()> {
    let dir = &config.migrations_dir;
    let runner = match config.migrations {
        MigrationRunner::Skip => return Ok(()),
        MigrationRunner::Auto if !dir.exists() => {
            tracing::warn!("no migrations folder at {}; none applied", dir.display());
            return Ok(());
        }
        MigrationRunner::Auto => supabase_cli(dir),
        MigrationRunner::Builtin => None,
        MigrationRunner::SupabaseCli => match supabase_cli(dir) {
            Some(cli) => Some(cli),
            None => bail!(
                "the Supabase CLI {SUPABASE_CLI_VERSION} was asked for and not found \
                 (tests/node_modules/.bin/supabase or `supabase` on PATH); run `npm ci` in tests/"
            ),
        },
    };
    match runner {
        Some(cli) => push_with_cli(&cli, dir, url),
        None => {
            let applied = pgcluster::migrations::apply(url, dir)
                .with_context(|| format!("applying the migrations in {}", dir.display()))?;
            if !applied.is_empty() {
                tracing::info!("applied migrations {applied:?}");
            }
            Ok(())
        }
    }
}

/// The Supabase CLI, if it is installed at the pinned version and the
/// migrations sit in a `supabase/migrations` folder it can be pointed at.
fn supabase_cli(migrations_dir: &Path) -> Option<PathBuf> {
    let workdir = cli_workdir(migrations_dir)?;
    // The repository pins the CLI in `tests/package.json`; look for it from
    // the migrations' project and the working directory upwards.
    let mut roots = vec![workdir];
    roots.extend(std::env::current_dir().ok());
    let mut candidates: Vec<PathBuf> = roots
        .iter()
        .flat_map(|root| root.ancestors())
        .flat_map(|dir| {
            [dir.join("tests/node_modules/.bin/supabase"), dir.join("node_modules/.bin/supabase")]
        })
        .filter(|path| path.exists())
        .collect();
    candidates.push(PathBuf::from("supabase"));
    candidates.into_iter().find(|cli| {
        Command::new(cli)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == SUPABASE_CLI_VERSION)
    })
}

/// The folder holding `supabase/`, which is what the CLI's `--workdir` names.
fn cli_workdir(migrations_dir: &Path) -> Option<PathBuf> {
    let dir = std::fs::canonicalize(migrations_dir).ok()?;
    let supabase = dir.parent()?;
    if dir.file_name()? != "migrations" || supabase.file_name()? != "supabase" {
        return None;
    }
    Some(supabase.parent()?.to_path_buf())
}

fn push_with_cli(cli: &Path, migrations_dir: &Path, url: &str) -> anyhow::Result<()> {
    let workdir = cli_workdir(migrations_dir).context("locating the folder holding supabase/")?;
    // The CLI tries TLS first and gives up when the server has none, which a
    // local cluster does not.
    let url = if url.contains("sslmode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    };
    let out = Command::new(cli)
        .args(["db", "push", "--db-url", &url, "--yes", "--workdir"])
        .arg(&workdir)
        .env("DO_NOT_TRACK", "1")
        .env("SUPABASE_TELEMETRY_DISABLED", "1")
        .output()
        .with_context(|| format!("running {}", cli.display()))?;
    if !out.status.success() {
        bail!(
            "`supabase db push` failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    tracing::info!("migrations applied with the Supabase CLI {SUPABASE_CLI_VERSION}");
    Ok(())
}
