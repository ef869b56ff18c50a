//! Change capture: a logical replication slot decoded by wal2json.
//!
//! The slot is temporary, so PostgreSQL drops it whenever its session ends,
//! even if localbase is killed. Its session runs nothing but the polls,
//! because a temporary slot is also dropped on any error in its session; the
//! poller recreates it then. It is named after the backend that owns it;
//! permanent slots of ours whose backend is gone (left by older versions) are
//! dropped at start.

use serde::Deserialize;
use serde_json::Value;
use tokio_postgres::{Client, NoTls, Statement};

use super::binding::ChangeKind;
use super::catalog::quote_literal;

/// Every slot of ours starts with this.
pub const SLOT_PREFIX: &str = "localbase_realtime_";

/// The most changes one poll returns (wal2json stops after the transaction that crosses it).
const MAX_CHANGES_PER_POLL: i32 = 2000;

/// Opens the session that owns the slot and runs the polls.
///
/// This is the one connection Realtime does not take from its sqlx pool, and
/// it uses tokio-postgres on purpose. A temporary slot lives exactly as long
/// as the session that created it, so this session must be ours alone for the
/// slot's whole life: a pool recycles idle and old connections (which would
/// drop the slot without a word) and hands its connections to other work
/// (whose errors would end the slot too). The poller also needs to see the
/// moment the session dies ([`Client::is_closed`]) to recreate the slot.
/// The session settings fix how wal2json writes values (dates in ISO, UTC).
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "realtime database connection ended");
        }
    });
    client
        .batch_execute(&format!(
            "set application_name = {}; set standard_conforming_strings = on; set timezone = 'UTC';
             set datestyle = 'ISO, MDY'; set intervalstyle = 'postgres'",
            quote_literal("localbase realtime wal")
        ))
        .await?;
    Ok(client)
}

/// One column of a wal2json `columns` or `identity` list.
#[derive(Debug, Clone, Deserialize)]
pub struct RawColumn {
    pub name: String,
    #[serde(default)]
    pub typeoid: u32,
    #[serde(default)]
    pub value: Value,
}

/// One wal2json format-version 2 line.
#[derive(Debug, Clone, Deserialize)]
pub struct RawChange {
    pub action: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub table: String,
    #[serde(default)]
    pub columns: Vec<RawColumn>,
    #[serde(default)]
    pub identity: Vec<RawColumn>,
}

impl RawChange {
    /// The change kind, or `None` for lines we do not forward (truncate, messages).
    pub fn kind(&self) -> Option<ChangeKind> {
        match self.action.as_str() {
            "I" => Some(ChangeKind::Insert),
            "U" => Some(ChangeKind::Update),
            "D" => Some(ChangeKind::Delete),
            _ => None,
        }
    }

    /// `commit_timestamp` as Supabase writes it: `2026-11-19T00:22:40.877Z`.
    pub fn commit_timestamp(&self) -> String {
        let raw = self.timestamp.as_deref().unwrap_or("");
        ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"]
            .iter()
            .find_map(|fmt| chrono::DateTime::parse_from_str(raw, fmt).ok())
            .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
    }
}

/// The slot and the session that polls it.
pub struct Slot {
    pub name: String,
    poll: Statement,
}

impl Slot {
    /// Drops our stale slots on this database and creates a fresh one.
    pub async fn create(client: &Client) -> anyhow::Result<Slot> {
        let level: String = client.query_one("show wal_level", &[]).await?.get(0);
        anyhow::ensure!(
            level == "logical",
            "Realtime needs wal_level=logical, but the database has wal_level={level}"
        );
        let pid: i32 = client.query_one("select pg_backend_pid()", &[]).await?.get(0);
        drop_stale_slots(client).await?;
        let name = format!("{SLOT_PREFIX}{pid}_{:08x}", rand::random::<u32>());
        client
            .execute("select pg_create_logical_replication_slot($1, 'wal2json', true)", &[&name])
            .await
            .map_err(|e| anyhow::anyhow!("creating the wal2json replication slot failed (is postgresql-15-wal2json installed?): {e}"))?;
        let poll = client
            .prepare(
                "select data from pg_logical_slot_get_changes($1, null, $2,
                    'format-version', '2', 'include-pk', 'true', 'include-timestamp', 'true',
                    'include-type-oids', 'true', 'include-transaction', 'false', 'add-tables', $3)",
            )
            .await?;
        Ok(Slot { name, poll })
    }

    /// Takes the next changes, in commit order, for the tables in `add_tables`
    /// (wal2json's `schema.table,…` syntax).
    pub async fn poll(&self, client: &Client, add_tables: &str) -> anyhow::Result<Vec<RawChange>> {
        let rows = client.query(&self.poll, &[&self.name, &MAX_CHANGES_PER_POLL, &add_tables]).await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows {
            let data: &str = row.get(0);
            match serde_json::from_str::<RawChange>(data) {
                Ok(change) => changes.push(change),
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable wal2json line"),
            }
        }
        Ok(changes)
    }

    /// Drops the slot, so the database stops keeping WAL for it.
    pub async fn drop_slot(&self, client: &Client) {
        if let Err(e) = client.execute("select pg_drop_replication_slot($1)", &[&self.name]).await {
            tracing::warn!(slot = %self.name, error = %e, "could not drop the realtime replication slot");
        }
    }
}

/// Drops slots of ours on this database whose owning backend is gone (a
/// localbase that was killed). The backend pid is part of the slot name.
async fn drop_stale_slots(client: &Client) -> anyhow::Result<()> {
    let rows = client
        .query(
            "select slot_name::text from pg_replication_slots
             where starts_with(slot_name::text, $1) and database = current_database() and not active",
            &[&SLOT_PREFIX],
        )
        .await?;
    let live: Vec<i32> = client
        .query("select pid from pg_stat_activity where pid is not null", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for row in rows {
        let name: String = row.get(0);
        let owner = name[SLOT_PREFIX.len()..].split('_').next().and_then(|p| p.parse::<i32>().ok());
        if owner.is_some_and(|pid| !live.contains(&pid)) {
            tracing::info!(slot = %name, "dropping a stale realtime replication slot");
            // Another localbase may race us to it; that is fine.
            let _ = client.execute("select pg_drop_replication_slot($1)", &[&name]).await;
        }
    }
    Ok(())
}

/// Writes tables for wal2json's `add-tables`: `schema.table` joined by commas,
/// with its special characters escaped. An empty list would mean "every table",
/// so it becomes a name no table can have.
pub fn add_tables_option<'a>(tables: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    fn escape(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if matches!(c, ' ' | '\'' | ',' | '.' | '*' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }
    let list: Vec<String> = tables.map(|(s, t)| format!("{}.{}", escape(s), escape(t))).collect();
    if list.is_empty() {
        "pg_catalog.localbase_realtime_no_table".to_owned()
    } else {
        list.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_timestamps_are_utc_with_milliseconds() {
        let c: RawChange = serde_json::from_str(
            r#"{"action":"I","timestamp":"2026-11-25 22:51:08.556509+05:30","schema":"public","table":"t"}"#,
        )
        .unwrap();
        assert_eq!(c.commit_timestamp(), "2026-11-25T17:21:08.556Z");
    }

    #[test]
    fn table_names_are_escaped_for_wal2json() {
        let t = add_tables_option([("public", "leads"), ("my schema", "a.b")].into_iter());
        assert_eq!(t, r"public.leads,my\ schema.a\.b");
        assert_eq!(add_tables_option(std::iter::empty()), "pg_catalog.localbase_realtime_no_table");
    }

    #[test]
    fn truncates_and_messages_are_not_changes() {
        let c: RawChange = serde_json::from_str(r#"{"action":"T","schema":"public","table":"t"}"#).unwrap();
        assert_eq!(c.kind(), None);
    }
}
