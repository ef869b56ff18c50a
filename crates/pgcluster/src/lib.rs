//! A project-owned PostgreSQL 15 cluster, and the schema steps that make a
//! plain PostgreSQL look like a Supabase database.
//!
//! Used by `localbase` (a persistent cluster under `.localbase/`) and by every
//! test suite (a throwaway cluster in a temp dir, or `DATABASE_URL`).

mod binaries;
mod cluster;
pub mod migrations;
pub mod sql_split;
pub mod testing;

use std::time::{Duration, Instant};

use binaries::pg_bin_dir;
pub use cluster::{Cluster, ClusterOptions, Scheduler};

/// Supabase's standard roles, schemas and publication, idempotent.
/// Real Supabase projects already have all of it; only local databases run it.
const BOOTSTRAP_SQL: &str = include_str!("../../../supabase/bootstrap.sql");

/// Applies `supabase/bootstrap.sql` (Supabase's standard roles, schemas and
/// publication) to the database at `url`.
pub fn bootstrap(url: &str) -> anyhow::Result<()> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute(BOOTSTRAP_SQL)?;
    Ok(())
}

/// Creates database `name` on the server at `admin_url` (which must point at an
/// existing database such as `postgres`) and returns the new database's URL.
pub fn create_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    ensure_plain_name(name)?;
    let mut client = postgres::Client::connect(admin_url, postgres::NoTls)?;
    client.batch_execute(&format!("create database \"{name}\""))?;
    Ok(replace_database(admin_url, name))
}

/// Drops database `name` from the server at `admin_url`, ending the sessions
/// still connected to it.
pub fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    ensure_plain_name(name)?;
    let mut client = postgres::Client::connect(admin_url, postgres::NoTls)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // `with (force)` ends ordinary sessions itself but refuses while a
        // logical replication slot is in use (localbase's Realtime polls a
        // temporary one), so those sessions are ended first; one that
        // reconnected in between makes the drop fail and it is tried again.
        client.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1",
            &[&name],
        )?;
        match client.batch_execute(&format!("drop database \"{name}\" with (force)")) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn ensure_plain_name(name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "database name {name:?} must be alphanumeric"
    );
    Ok(())
}

/// Returns `url` with its database name replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replacing_the_database_keeps_host_and_query() {
        assert_eq!(
            replace_database("postgres://u@h:5/a?sslmode=disable", "b"),
            "postgres://u@h:5/b?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h:5", "b"), "postgres://u@h:5/b");
    }
}
