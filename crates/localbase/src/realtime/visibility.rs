//! Row level security per subscriber: may this role, with these claims,
//! select these rows?
//!
//! Checks are batched: one round trip per (identity, table) for all the rows
//! of a poll, run as one simple-query string
//! `begin; set local role …; select set_config(…); select …; rollback`
//! on a connection from the Realtime [`pool`].

use std::collections::HashSet;
use std::str::FromStr;

use futures::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};

use super::catalog::{quote_ident, quote_literal, TableInfo};
use super::identity::Identity;

/// The pool for RLS checks, join validation and catalog reads: a few
/// connections, opened lazily, with the session settings the checks rely on
/// (`standard_conforming_strings`, which [`quote_literal`] assumes).
pub fn pool(url: &str, size: u32) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?.application_name("localbase realtime").options([
        ("standard_conforming_strings", "on"),
        ("timezone", "UTC"),
        ("datestyle", "ISO, MDY"),
        ("intervalstyle", "postgres"),
    ]);
    Ok(PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_lazy_with(options))
}

/// The rows of a multi-statement check whose first column is `tag`.
async fn tagged_rows(conn: &mut PgConnection, sql: String, tag: &str) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
    let rows: Vec<sqlx::postgres::PgRow> = sqlx::raw_sql(AssertSqlSafe(sql)).fetch(&mut *conn).try_collect().await?;
    Ok(rows
        .into_iter()
        .filter(|row| row.columns().first().is_some_and(|c| sqlx::Column::name(c) == tag))
        .collect())
}

/// After a failed check the transaction block is left open and aborted.
async fn roll_back(conn: &mut PgConnection) {
    if let Err(e) = sqlx::raw_sql("rollback").execute(&mut *conn).await {
        tracing::warn!(error = %e, "could not roll back a failed realtime RLS check");
    }
}

/// Of `rows` (index, primary key values as wal2json wrote them), returns the
/// indexes of those `identity` may select from `table` now. Rows the role
/// cannot see are left out, and so are all of them when the check itself
/// fails for the role: no privilege (`42501`), or a policy that raises. A
/// transient failure ([`is_transient`]: a lost connection, a timeout, a
/// serialization failure, a server shutting down) is an error for the
/// caller to retry: it says nothing about what the role may see.
pub async fn visible(
    conn: &mut PgConnection,
    identity: &Identity,
    table: &TableInfo,
    rows: &[(usize, &Map<String, Value>)],
) -> Result<HashSet<usize>, sqlx::Error> {
    if rows.is_empty() || table.primary_key.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = visibility_sql(identity, table, rows);
    match tagged_rows(conn, sql, "visible_index").await {
        Ok(found) => Ok(found
            .iter()
            .filter_map(|row| row.try_get::<i32, _>(0).ok())
            .filter_map(|i| usize::try_from(i).ok())
            .collect()),
        Err(e) if is_transient(&e) => {
            roll_back(conn).await;
            Err(e)
        }
        Err(e) => {
            if sqlstate(&e).as_deref() == Some("42501") {
                tracing::debug!(role = %identity.role, table = %table.name, error = %e, "realtime RLS check: no privilege");
            } else {
                tracing::warn!(
                    role = %identity.role, table = %table.name, error = %e,
                    "realtime RLS check failed; this role is sent none of these rows"
                );
            }
            roll_back(conn).await;
            Ok(HashSet::new())
        }
    }
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
}

/// Whether a check failed for a reason that passes, so that trying again
/// can succeed: no connection (or a broken one), or SQLSTATE class 08
/// (connection), 40 (serialization failure, deadlock), 53 (resources),
/// `55P03` (lock timeout), `57014` (statement timeout or cancel) or `57P01`
/// –`57P03` (the server shutting down or starting). The same classes the
/// ingest service answers 503 for.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(_) => {
            let code = sqlstate(e).unwrap_or_default();
            matches!(code.get(..2), Some("08" | "40" | "53"))
                || matches!(code.as_str(), "55P03" | "57014" | "57P01" | "57P02" | "57P03")
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// One identity's rows to check, for [`visible_many`].
pub struct Check<'a> {
    pub identity: &'a Identity,
    pub rows: Vec<(usize, &'a Map<String, Value>)>,
}

/// [`visible`] for several identities on one table in a single round trip:
/// one `begin … rollback` block per identity in one simple-query string.
/// If a block fails for a reason that does not pass (a privilege, a policy
/// that raises), each identity is checked on its own instead, so one role
/// cannot hide rows from the others. A transient failure is returned, as
/// from [`visible`].
pub async fn visible_many(
    conn: &mut PgConnection,
    table: &TableInfo,
    checks: &[Check<'_>],
) -> Result<Vec<HashSet<usize>>, sqlx::Error> {
    if table.primary_key.is_empty() {
        return Ok(checks.iter().map(|_| HashSet::new()).collect());
    }
    let sql: String = checks
        .iter()
        .enumerate()
        .map(|(g, c)| visibility_sql_tagged(c.identity, table, &c.rows, Some(g)))
        .collect::<Vec<_>>()
        .join(";\n");
    match tagged_rows(conn, sql, "visible_group").await {
        Ok(found) => {
            let mut out: Vec<HashSet<usize>> = checks.iter().map(|_| HashSet::new()).collect();
            for row in &found {
                let group = row.try_get::<i32, _>(0).ok().and_then(|g| usize::try_from(g).ok());
                let index = row.try_get::<i32, _>(1).ok().and_then(|i| usize::try_from(i).ok());
                if let (Some(g), Some(i)) = (group, index) {
                    if let Some(set) = out.get_mut(g) {
                        set.insert(i);
                    }
                }
            }
            Ok(out)
        }
        Err(e) if is_transient(&e) => {
            roll_back(conn).await;
            Err(e)
        }
        Err(e) => {
            tracing::debug!(table = %table.name, error = %e, "batched realtime RLS check failed; checking one by one");
            roll_back(conn).await;
            let mut out = Vec::with_capacity(checks.len());
            for c in checks {
                out.push(visible(conn, c.identity, table, &c.rows).await?);
            }
            Ok(out)
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
