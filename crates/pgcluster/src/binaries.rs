use std::path::{Path, PathBuf};

/// The directory holding `initdb`, `postgres` and `pg_ctl`.
///
/// `PG_BIN` wins; then Debian's PostgreSQL 15 location; then `pg_config --bindir`.
pub fn pg_bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
    if debian.join("postgres").exists() {
        return Ok(debian);
    }
    if let Ok(out) = std::process::Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if dir.join("postgres").exists() {
                return Ok(dir);
            }
        }
    }
    anyhow::bail!(
        "PostgreSQL 15 binaries not found: install Debian's postgresql-15 \
         (`cargo xtask up` does this as root) or set PG_BIN to the folder holding initdb and postgres"
    )
}

/// Fails with the package to install unless the PostgreSQL under `bin` has
/// pg_cron's library, which every cluster with [`crate::Scheduler::PgCron`]
/// preloads (the server would otherwise refuse to start with a less helpful
/// "could not access file" in its log).
pub fn ensure_pg_cron(bin: &Path) -> anyhow::Result<()> {
    let libdir = std::process::Command::new(bin.join("pg_config"))
        .arg("--pkglibdir")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .unwrap_or_else(|| bin.join("../lib"));
    let library = libdir.join("pg_cron.so");
    anyhow::ensure!(
        library.exists(),
        "pg_cron is not installed ({} is missing): install Debian's postgresql-15-cron \
         (`cargo xtask tools` does this as root); clusters preload it to run the sweeps",
        library.display()
    );
    Ok(())
}
