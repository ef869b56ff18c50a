//! What Realtime needs to know about the database's tables, types and roles,
//! read from the catalog and cached for the polling loop.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{PgPool, Row};

use super::values::TypeInfo;

/// The publication Supabase Realtime follows.
pub const PUBLICATION: &str = "supabase_realtime";

/// A table in the publication.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// Row level security is enabled (`relrowsecurity`).
    pub rls: bool,
    /// Primary key columns, in key order.
    pub primary_key: Vec<String>,
    /// Every column as `(name, type name)`, in table order: the event's `columns`.
    pub columns: Vec<(String, String)>,
    /// `columns` already serialized, since every event of the table carries it.
    pub columns_json: String,
}

impl TableInfo {
    /// `"schema"."table"`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    pub fn column_type(&self, column: &str) -> Option<String> {
        self.columns.iter().find(|(n, _)| n == column).map(|(_, t)| t.clone())
    }
}

/// Cached catalog facts; refreshed by the polling loop.
#[derive(Default)]
pub struct Catalog {
    /// Publication tables by `(schema, table)`.
    pub tables: HashMap<(String, String), Arc<TableInfo>>,
    pub types: HashMap<u32, TypeInfo>,
    /// `(role, table oid)` → the role may select from the table.
    pub privileges: HashMap<(String, u32), bool>,
}

impl Catalog {
    /// Re-reads the publication's tables and forgets cached privileges, so that
    /// `alter publication`, `grant` and `enable row level security` take effect.
    pub async fn refresh(&mut self, pool: &PgPool) -> anyhow::Result<()> {
        let rows = sqlx::query(
                "select c.oid::int8, n.nspname::text, c.relname::text, c.relrowsecurity,
                        array(select a.attname::text from pg_index i
                              cross join lateral unnest(i.indkey::int2[]) with ordinality k(attnum, ord)
                              join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                              where i.indrelid = c.oid and i.indisprimary order by k.ord),
                        array(select a.attname::text from pg_attribute a
                              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum),
                        array(select t.typname::text from pg_attribute a join pg_type t on t.oid = a.atttypid
                              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum)
                 from pg_publication_tables p
                 join pg_namespace n on n.nspname = p.schemaname
                 join pg_class c on c.relnamespace = n.oid and c.relname = p.tablename
                 where p.pubname = $1",
            )
            .bind(PUBLICATION)
            .fetch_all(pool)
            .await?;
        let mut tables = HashMap::with_capacity(rows.len());
        for row in rows {
            let names: Vec<String> = row.try_get(5)?;
            let types: Vec<String> = row.try_get(6)?;
            let columns: Vec<(String, String)> = names.into_iter().zip(types).collect();
            let columns_json = serde_json::Value::Array(
                columns
                    .iter()
                    .map(|(n, t)| serde_json::json!({"name": n, "type": t}))
                    .collect(),
            )
            .to_string();
            let info = TableInfo {
                oid: oid(row.try_get(0)?),
                schema: row.try_get(1)?,
                name: row.try_get(2)?,
                rls: row.try_get(3)?,
                primary_key: row.try_get(4)?,
                columns,
                columns_json,
            };
            tables.insert((info.schema.clone(), info.name.clone()), Arc::new(info));
        }
        self.tables = tables;
        self.privileges.clear();
        Ok(())
    }

    /// Makes sure every oid in `oids` has its type facts cached.
    pub async fn load_types(&mut self, pool: &PgPool, oids: impl Iterator<Item = u32>) -> anyhow::Result<()> {
        let mut missing: Vec<u32> = oids.filter(|o| *o != 0 && !self.types.contains_key(o)).collect();
        missing.sort_unstable();
        missing.dedup();
        // Array elements and domain bases are needed too: fetch until closed.
        while !missing.is_empty() {
            let wanted: Vec<i64> = missing.iter().map(|o| i64::from(*o)).collect();
            let rows = sqlx::query(
                "select oid::int8, typname::text, ascii(typcategory)::int4, typelem::int8, typbasetype::int8
                 from pg_type where oid = any($1::int8[]::oid[])",
            )
            .bind(wanted)
            .fetch_all(pool)
            .await?;
            let mut next = Vec::new();
            for row in rows {
                let type_oid = oid(row.try_get(0)?);
                let info = TypeInfo {
                    name: row.try_get(1)?,
                    category: u8::try_from(row.try_get::<i32, _>(2)?).unwrap_or(b'X'),
                    element: oid(row.try_get(3)?),
                    base: oid(row.try_get(4)?),
                };
                for dep in [info.element, info.base] {
                    if dep != 0 && !self.types.contains_key(&dep) && !missing.contains(&dep) {
                        next.push(dep);
                    }
                }
                self.types.insert(type_oid, info);
            }
            // Oids that no longer exist must not be asked for forever.
            for oid in &missing {
                self.types.entry(*oid).or_insert_with(|| TypeInfo {
                    name: "unknown".into(),
                    category: b'X',
                    element: 0,
                    base: 0,
                });
            }
            next.sort_unstable();
            next.dedup();
            missing = next;
        }
        Ok(())
    }

    /// Makes sure every `(role, table)` pair has its select privilege cached.
    /// Roles that do not exist have none.
    pub async fn load_privileges(&mut self, pool: &PgPool, pairs: &[(String, u32)]) -> anyhow::Result<()> {
        let missing: Vec<&(String, u32)> = pairs.iter().filter(|p| !self.privileges.contains_key(*p)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let roles: Vec<&str> = missing.iter().map(|(r, _)| r.as_str()).collect();
        let oids: Vec<i64> = missing.iter().map(|(_, o)| i64::from(*o)).collect();
        let rows = sqlx::query(
            "select x.r, x.t::int8, case when exists (select 1 from pg_roles where rolname = x.r)
                              then coalesce(has_table_privilege(x.r, x.t, 'SELECT'), false)
                              else false end
             from unnest($1::text[], $2::int8[]::oid[]) as x(r, t)",
        )
        .bind(roles)
        .bind(oids)
        .fetch_all(pool)
        .await?;
        for row in rows {
            self.privileges.insert((row.try_get(0)?, oid(row.try_get(1)?)), row.try_get(2)?);
        }
        for pair in missing {
            self.privileges.entry(pair.clone()).or_insert(false);
        }
        Ok(())
    }
}

/// An oid read as `int8` (sqlx has no `u32` for it).
fn oid(value: i64) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

/// A SQL identifier, double-quoted.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A SQL string literal (with `standard_conforming_strings` on, as on every
/// supported PostgreSQL).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted_against_injection() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
