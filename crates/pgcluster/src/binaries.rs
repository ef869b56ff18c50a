use std::path::PathBuf;

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
