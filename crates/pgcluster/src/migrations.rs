//! Applies `supabase/migrations` the way `supabase db push` does, recording
//! each file in `supabase_migrations.schema_migrations`, so that this runner
//! and the real CLI always agree on what is applied.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::sql_split::split_statements;

/// One migration file: `<version>_<name>.sql`.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: String,
    pub name: String,
    pub path: PathBuf,
}

/// The migration files in `dir`, ordered by version. Files not matching the
/// CLI's pattern `^([0-9]+)_(.*)\.sql$` are ignored, as the CLI ignores them.
pub fn list(dir: &Path) -> anyhow::Result<Vec<Migration>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
        let Some(stem) = file.strip_suffix(".sql") else { continue };
        let Some((version, name)) = stem.split_once('_') else { continue };
        if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        found.push(Migration { version: version.into(), name: name.into(), path: path.clone() });
    }
    found.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(found)
}

/// Applies every migration in `dir` not yet recorded, each in its own
/// transaction. Returns the versions applied by this call. A NOTICE a
/// migration raises (such as the pg_cron migration saying it scheduled
/// nothing here) is logged at `info`.
pub fn apply(url: &str, dir: &Path) -> anyhow::Result<Vec<String>> {
    apply_with_notices(url, dir, |version, notice| {
        tracing::info!(migration = version, "{notice}");
    })
}

/// [`apply`], handing each NOTICE (or WARNING) a migration raised to
/// `on_notice` with the migration's version, once that migration committed.
pub fn apply_with_notices(
    url: &str,
    dir: &Path,
    mut on_notice: impl FnMut(&str, &str),
) -> anyhow::Result<Vec<String>> {
    let notices = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut config: postgres::Config = url.parse()?;
    let sink = Arc::clone(&notices);
    config.notice_callback(move |notice| {
        if let Ok(mut notices) = sink.lock() {
            notices.push(notice.message().to_string());
        }
    });
    let mut client = config.connect(postgres::NoTls)?;
    client.batch_execute(
        "create schema if not exists supabase_migrations;
         create table if not exists supabase_migrations.schema_migrations (
             version text not null primary key,
             statements text[],
             name text
         );",
    )?;
    let applied: Vec<String> = client
        .query("select version from supabase_migrations.schema_migrations", &[])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut done = Vec::new();
    for m in list(dir)? {
        if applied.contains(&m.version) {
            continue;
        }
        let sql = std::fs::read_to_string(&m.path)?;
        let statements = split_statements(&sql);
        // Only this migration's own notices (not the runner's `if not exists`).
        if let Ok(mut n) = notices.lock() {
            n.clear();
        }
        let mut tx = client.transaction()?;
        tx.batch_execute(&sql)
            .with_context(|| format!("applying migration {}", m.path.display()))?;
        tx.execute(
            "insert into supabase_migrations.schema_migrations (version, statements, name) values ($1, $2, $3)",
            &[&m.version, &statements, &m.name],
        )?;
        tx.commit()?;
        let raised = notices.lock().map(|mut n| std::mem::take(&mut *n)).unwrap_or_default();
        for notice in raised {
            on_notice(&m.version, &notice);
        }
        done.push(m.version);
    }
    Ok(done)
}
