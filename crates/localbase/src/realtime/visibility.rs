//! Row level security per subscriber: may this role, with these claims,
//! select these rows?
//!
//! Checks are batched: one round trip per (identity, table) for all the rows
//! of a poll, run as one simple-query string
//! `begin; set local role …; select set_config(…); select …; rollback`
//! on a pooled connection.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::catalog::{quote_ident, quote_literal, TableInfo};
use super::identity::Identity;

/// A few connections for RLS checks and join validation, opened lazily and
/// reopened when they break.
pub struct Pool {
    url: String,
    conns: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
}

/// A connection borrowed from the [`Pool`].
pub struct Pooled<'a>(MutexGuard<'a, Option<Client>>);

impl std::ops::Deref for Pooled<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // `Pool::get` only hands out slots it has filled.
        self.0.as_ref().expect("pooled connection is present")
    }
}

impl Pool {
    pub fn new(url: String, size: usize) -> Pool {
        Pool { url, conns: (0..size.max(1)).map(|_| Mutex::new(None)).collect(), next: AtomicUsize::new(0) }
    }

    /// A free connection if there is one, else the next in turn.
    pub async fn get(&self) -> anyhow::Result<Pooled<'_>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        let mut guard = None;
        for i in 0..n {
            if let Ok(g) = self.conns[(start + i) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut guard = match guard {
            Some(g) => g,
            None => self.conns[start % n].lock().await,
        };
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(connect(&self.url, "localbase realtime").await?);
        }
        Ok(Pooled(guard))
    }
}

/// Opens a connection with the session settings Realtime relies on.
pub async fn connect(url: &str, application_name: &str) -> anyhow::Result<Client> {
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
            quote_literal(application_name)
        ))
        .await?;
    Ok(client)
}

/// Of `rows` (index, primary key values as wal2json wrote them), returns the
/// indexes of those `identity` may select from `table` now. Rows the role
/// cannot see, or may not select at all, are left out.
pub async fn visible(
    client: &Client,
    identity: &Identity,
    table: &TableInfo,
    rows: &[(usize, &Map<String, Value>)],
) -> HashSet<usize> {
    if rows.is_empty() || table.primary_key.is_empty() {
        return HashSet::new();
    }
    let sql = visibility_sql(identity, table, rows);
    match client.simple_query(&sql).await {
        Ok(messages) => messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) if row.columns().first().map(|c| c.name()) == Some("visible_index") => {
                    row.get(0).and_then(|v| v.parse::<usize>().ok())
                }
                _ => None,
            })
            .collect(),
        Err(e) => {
            // Usually "permission denied" for a role without select; then it sees nothing.
            tracing::debug!(role = %identity.role, table = %table.name, error = %e, "realtime RLS check failed");
            if let Err(e) = client.batch_execute("rollback").await {
                tracing::warn!(error = %e, "could not roll back a failed realtime RLS check");
            }
            HashSet::new()
        }
    }
}

/// One identity's rows to check, for [`visible_many`].
pub struct Check<'a> {
    pub identity: &'a Identity,
    pub rows: Vec<(usize, &'a Map<String, Value>)>,
}

/// [`visible`] for several identities on one table in a single round trip:
/// one `begin … rollback` block per identity in one simple-query string.
/// If any block fails, each identity is checked on its own instead, so one
/// role without privileges cannot hide rows from the others.
pub async fn visible_many(client: &Client, table: &TableInfo, checks: &[Check<'_>]) -> Vec<HashSet<usize>> {
    if table.primary_key.is_empty() {
        return checks.iter().map(|_| HashSet::new()).collect();
    }
    let sql: String = checks
        .iter()
        .enumerate()
        .map(|(g, c)| visibility_sql_tagged(c.identity, table, &c.rows, Some(g)))
        .collect::<Vec<_>>()
        .join(";\n");
    match client.simple_query(&sql).await {
        Ok(messages) => {
            let mut out: Vec<HashSet<usize>> = checks.iter().map(|_| HashSet::new()).collect();
            for m in &messages {
                if let SimpleQueryMessage::Row(row) = m {
                    if row.columns().first().map(|c| c.name()) != Some("visible_group") {
                        continue;
                    }
                    let group = row.get(0).and_then(|v| v.parse::<usize>().ok());
                    let index = row.get(1).and_then(|v| v.parse::<usize>().ok());
                    if let (Some(g), Some(i)) = (group, index) {
                        if let Some(set) = out.get_mut(g) {
                            set.insert(i);
                        }
                    }
                }
            }
            out
        }
        Err(e) => {
            tracing::debug!(table = %table.name, error = %e, "batched realtime RLS check failed; checking one by one");
            if let Err(e) = client.batch_execute("rollback").await {
                tracing::warn!(error = %e, "could not roll back a failed realtime RLS check");
            }
            let mut out = Vec::with_capacity(checks.len());
            for c in checks {
                out.push(visible(client, c.identity, table, &c.rows).await);
            }
            out
        }
    }
}

fn visibility_sql(identity: &Identity, table: &TableInfo, rows: &[(usize, &Map<String, Value>)]) -> String {
    visibility_sql_tagged(identity, table, rows, None)
}

fn visibility_sql_tagged(
    identity: &Identity,
    table: &TableInfo,
    rows: &[(usize, &Map<String, Value>)],
    group: Option<usize>,
) -> String {
    let keys = Value::Array(
        rows.iter()
            .map(|(i, pk)| serde_json::json!({ "i": i, "r": pk }))
            .collect(),
    )
    .to_string();
    let qualified = table.qualified();
    let matches = table
        .primary_key
        .iter()
        .map(|c| {
            let c = quote_ident(c);
            format!("t.{c} = p.{c}")
        })
        .collect::<Vec<_>>()
        .join(" and ");
    format!(
        "begin; set local role {role};
         select set_config('request.jwt.claims', {claims}, true),
                set_config('request.jwt.claim.sub', {sub}, true),
                set_config('request.jwt.claim.role', {role_literal}, true);
         select {tag}(e->>'i')::int as visible_index
           from jsonb_array_elements({keys}::jsonb) e
           cross join lateral jsonb_populate_record(null::{qualified}, e->'r') p
          where exists (select 1 from {qualified} t where {matches});
         rollback",
        role = quote_ident(&identity.role),
        claims = quote_literal(&identity.claims),
        sub = quote_literal(identity.sub.as_deref().unwrap_or("")),
        role_literal = quote_literal(&identity.role),
        keys = quote_literal(&keys),
        tag = group.map(|g| format!("{g} as visible_group, ")).unwrap_or_default(),
    )
}
