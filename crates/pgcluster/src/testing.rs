//! Fresh databases for tests: the one place that decides between a shared
//! server (`DATABASE_URL`) and a throwaway cluster, names the database, and
//! cleans up after it.

use std::path::PathBuf;

use crate::{bootstrap, create_database, drop_database, migrations, Cluster};

/// The repository's `supabase/migrations` folder.
pub fn migrations_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../supabase/migrations"))
}

/// The shared server tests should use: `DATABASE_URL` when it is set and not
/// empty. It must point at an existing database such as `postgres`.
pub fn shared_server() -> Option<String> {
    std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty())
}

/// A database of its own for one test.
///
/// On a shared server the database gets a random name, so tests in any
/// number of processes never clash, and it is dropped again when this is
/// dropped. Without a shared server a throwaway cluster is started for it,
/// and dropping this stops the cluster, which removes everything.
pub struct TestDatabase {
    /// The database, as the `postgres` superuser.
    pub url: String,
    server: Server,
}

enum Server {
    Throwaway(Cluster),
    Shared { admin_url: String, name: String },
}

impl TestDatabase {
    /// A database bootstrapped like Supabase and with every migration
    /// applied, on [`shared_server`] or a throwaway cluster.
    pub fn new() -> anyhow::Result<Self> {
        let db = Self::bootstrapped()?;
        migrations::apply(&db.url, &migrations_dir())?;
        Ok(db)
    }

    /// A database with only the Supabase bootstrap, for tests that apply the
    /// migrations their own way.
    pub fn bootstrapped() -> anyhow::Result<Self> {
        let db = Self::empty_on(shared_server().as_deref())?;
        bootstrap(&db.url)?;
        Ok(db)
    }

    /// An empty database on the server at `shared_server` (an admin URL such
    /// as `postgres://…/postgres`), or on a throwaway cluster when `None`.
    pub fn empty_on(shared_server: Option<&str>) -> anyhow::Result<Self> {
        let name = format!("bloc_test_{}", uuid::Uuid::new_v4().simple());
        let (admin_url, cluster) = match shared_server {
            Some(url) => (url.to_string(), None),
            None => {
                let cluster = Cluster::temporary()?;
                (cluster.url("postgres"), Some(cluster))
            }
        };
        let url = create_database(&admin_url, &name)?;
        let server = match cluster {
            Some(cluster) => Server::Throwaway(cluster),
            None => Server::Shared { admin_url, name },
        };
        Ok(TestDatabase { url, server })
    }

    /// Database `name` on `cluster`, a server the test started itself (for
    /// settings no shared server can promise, such as pg_cron's). `postgres`
    /// is used as it is (it is pg_cron's database: see
    /// [`crate::Scheduler::PgCron`]), any other name is created. Dropping
    /// this stops the cluster.
    pub fn on_cluster(cluster: Cluster, name: &str) -> anyhow::Result<Self> {
        let admin_url = cluster.url("postgres");
        let url = if name == "postgres" { admin_url } else { create_database(&admin_url, name)? };
        Ok(TestDatabase { url, server: Server::Throwaway(cluster) })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &mut self.server {
            Server::Throwaway(cluster) => cluster.stop(),
            Server::Shared { admin_url, name } => {
                // The blocking client cannot run on a thread that drives an
                // async runtime, and async tests drop this on one; a thread of
                // its own has none.
                let dropped = std::thread::scope(|s| s.spawn(|| drop_database(admin_url, name)).join());
                match dropped {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("the test database {name} is left on the shared server: {e:#}"),
                    Err(_) => eprintln!("the test database {name} is left on the shared server: dropping it panicked"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use postgres::{Client, NoTls};

    use super::TestDatabase;
    use crate::Cluster;

    fn database_names(admin_url: &str) -> Vec<String> {
        let mut client = Client::connect(admin_url, NoTls).unwrap();
        client.query("select datname from pg_database", &[]).unwrap().iter().map(|r| r.get(0)).collect()
    }

    #[test]
    fn a_test_database_on_a_shared_server_is_dropped_with_its_helper() {
        let server = Cluster::temporary().unwrap();
        let admin_url = server.url("postgres");
        let db = TestDatabase::empty_on(Some(&admin_url)).unwrap();
        let mut session = Client::connect(&db.url, NoTls).unwrap();
        let name: String = session.query_one("select current_database()", &[]).unwrap().get(0);
        assert!(database_names(&admin_url).contains(&name));

        drop(db);

        assert!(!database_names(&admin_url).contains(&name), "{name} is still on the server");
        assert!(session.simple_query("select 1").is_err(), "its open session was ended");
    }

    #[test]
    fn a_test_database_dropped_inside_an_async_runtime_is_still_dropped_from_the_shared_server() {
        let server = Cluster::temporary().unwrap();
        let admin_url = server.url("postgres");
        let db = TestDatabase::empty_on(Some(&admin_url)).unwrap();
        let name = db.url.rsplit('/').next().unwrap().to_string();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();

        runtime.block_on(async move { drop(db) });

        assert!(!database_names(&admin_url).contains(&name), "{name} is still on the server");
    }

    #[test]
    fn two_test_databases_made_at_once_on_one_server_get_different_names() {
        let server = Cluster::temporary().unwrap();
        let admin_url = server.url("postgres");

        let (first, second) = std::thread::scope(|s| {
            let first = s.spawn(|| TestDatabase::empty_on(Some(&admin_url)));
            let second = s.spawn(|| TestDatabase::empty_on(Some(&admin_url)));
            (first.join().unwrap().unwrap(), second.join().unwrap().unwrap())
        });

        assert_ne!(first.url, second.url);
        let names = database_names(&admin_url);
        for db in [&first, &second] {
            assert!(names.iter().any(|n| db.url.ends_with(&format!("/{n}"))), "{} exists", db.url);
        }
    }

    #[test]
    fn a_test_database_without_a_shared_server_lives_on_a_cluster_that_stops_with_it() {
        let db = TestDatabase::empty_on(None).unwrap();
        let url = db.url.clone();
        Client::connect(&url, NoTls).unwrap();

        drop(db);

        assert!(Client::connect(&url, NoTls).is_err(), "the throwaway cluster still answers");
    }
}
