//! How a localbase instance is set up: where it keeps its files, which port
//! it serves, which database it uses and which migrations it applies.

use std::net::IpAddr;
use std::path::PathBuf;

/// How to apply `supabase/migrations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationRunner {
    /// The Supabase CLI (`supabase db push`) when it is installed, else the
    /// built-in runner. What the binary does.
    #[default]
    Auto,
    /// Always the built-in runner (`pgcluster::migrations::apply`), which
    /// records each file exactly as the CLI does. Faster for tests.
    Builtin,
    /// Always the Supabase CLI; fails naming it when it is missing.
    SupabaseCli,
    /// Apply nothing.
    Skip,
}

/// Everything [`crate::LocalBase::start`] needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds `db/` (the project-local cluster), `keys.json` and `status.json`.
    pub dir: PathBuf,
    /// HTTP port; 0 picks a free one.
    pub port: u16,
    /// Address to bind. Loopback unless `allow_remote` is set.
    pub bind: IpAddr,
    /// Must be true to bind anything but a loopback address.
    pub allow_remote: bool,
    /// Use this database instead of a project-local cluster. The binary
    /// fills it from `DATABASE_URL`; the library never reads the
    /// environment for it. With `temporary_database`, a new database is
    /// created on this server instead.
    pub database_url: Option<String>,
    /// Port of the project-local cluster; `None` picks a free one.
    pub db_port: Option<u16>,
    /// The `supabase/migrations` folder.
    pub migrations_dir: PathBuf,
    /// How to apply the migrations.
    pub migrations: MigrationRunner,
    /// Whether `POST /auth/v1/signup` creates users (off, like a project
    /// with sign-ups disabled).
    pub enable_signup: bool,
    /// Lifetime of access tokens, in seconds (GoTrue's `JWT_EXP`).
    pub jwt_expiry_secs: u64,
    /// Password sign-ins (`/auth/v1/token?grant_type=password`) allowed per
    /// client address per 5 minutes, as Supabase's `sign_in_sign_ups` rate
    /// limit; more answer 429 `over_request_rate_limit`. 0 turns it off.
    pub sign_in_rate_limit: u32,
    /// Use a throwaway cluster in a temp dir (see [`Config::for_tests`]).
    pub temporary_database: bool,
    /// Print the status block to stdout on start.
    pub print_status: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dir: PathBuf::from(".localbase"),
            port: 54321,
            bind: IpAddr::from([127, 0, 0, 1]),
            allow_remote: false,
            database_url: None,
            db_port: None,
            migrations_dir: PathBuf::from("supabase/migrations"),
            migrations: MigrationRunner::Auto,
            enable_signup: false,
            jwt_expiry_secs: 3600,
            sign_in_rate_limit: DEFAULT_SIGN_IN_RATE_LIMIT,
            temporary_database: false,
            print_status: false,
        }
    }
}

impl Config {
    /// For tests in-process: a free port, a fresh temp dir for keys and
    /// status (removed on stop), a throwaway cluster (or a new database on `DATABASE_URL`),
    /// the repository's migrations applied by the built-in runner.
    pub fn for_tests() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "{TEST_DIR_PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        Config {
            dir,
            port: 0,
            database_url: None,
            migrations_dir: repo_migrations_dir(),
            migrations: MigrationRunner::Builtin,
            temporary_database: true,
            ..Config::default()
        }
    }
}

/// Supabase's default for `auth.rate_limit.sign_in_sign_ups` (per 5 minutes
/// per address). The test suites sign in a handful of times per instance.
pub const DEFAULT_SIGN_IN_RATE_LIMIT: u32 = 30;

/// Name prefix of the folders [`Config::for_tests`] makes in the temp dir;
/// such a folder is removed when its instance stops.
pub const TEST_DIR_PREFIX: &str = "localbase-test-";

/// The repository's `supabase/migrations` folder, found from this crate.
pub fn repo_migrations_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../supabase/migrations"))
}
