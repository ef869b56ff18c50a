//! Fresh, fully migrated databases for tests.

use std::path::PathBuf;

use crate::{bootstrap, create_database, migrations, Cluster};

/// The repository's `supabase/migrations` folder.
pub fn migrations_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../supabase/migrations"))
}

/// A database of its own for one test: bootstrapped like Supabase and with
/// every migration applied.
///
/// With `DATABASE_URL` set, it is a new database on that server; otherwise a
/// throwaway cluster is started for it and stopped when this is dropped.
pub struct TestDatabase {
    pub url: String,
    /// URL of the server's `postgres` database, for creating more databases.
    pub admin_url: String,
    cluster: Option<Cluster>,
}

impl TestDatabase {
    pub fn new() -> anyhow::Result<Self> {
        let (cluster, admin_url) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => (None, url),
            _ => {
                let c = Cluster::temporary()?;
                let url = c.url("postgres");
                (Some(c), url)
            }
        };
        let name = format!("bloc_test_{}", uuid_like());
        let url = create_database(&admin_url, &name)?;
        bootstrap(&url)?;
        migrations::apply(&url, &migrations_dir())?;
        Ok(TestDatabase { url, admin_url, cluster })
    }

    /// The cluster this test started, if it started one.
    pub fn cluster(&mut self) -> Option<&mut Cluster> {
        self.cluster.as_mut()
    }
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000_000)
}
