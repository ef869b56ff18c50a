//! Every function an API role (anon, authenticated, service_role) may
//! execute and every sequence it may use, compared with the committed
//! allow-list tests/engine/allowlist/privileges.txt. A new grant, or a new
//! function PUBLIC may execute, fails here until it is added to the list on
//! purpose. `BLOC_WRITE_ALLOWLIST=1` rewrites the list from the database.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::support::Db;

fn allowlist_path() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/engine/allowlist/privileges.txt"))
}

const HEADER: &str = "\
# What an API role may execute or use, one `role privilege object` a line.
# Checked by tests/engine/12_privileges.rs against a freshly migrated database;
# regenerate with BLOC_WRITE_ALLOWLIST=1 after a deliberate change and review
# the diff. Covers the schemas the project creates or relies on (public,
# engine, auth); functions of extensions (schema extensions) and of
# pg_catalog are Supabase's and PostgreSQL's own.
";

/// `role privilege object` for every function and sequence privilege the
/// API roles hold in the project's schemas, PUBLIC's grants included.
fn granted(db: &mut Db) -> BTreeSet<String> {
    db.client
        .query(
            "with api(role) as (values ('anon'), ('authenticated'), ('service_role'))
             select api.role || ' execute ' || n.nspname || '.' || p.proname
                    || '(' || pg_get_function_identity_arguments(p.oid) || ')'
               from pg_proc p
               join pg_namespace n on n.oid = p.pronamespace
              cross join api
              where n.nspname in ('public', 'engine', 'auth')
                and has_function_privilege(api.role, p.oid, 'execute')
             union all
             select api.role || ' ' || privilege || ' ' || n.nspname || '.' || c.relname
               from pg_class c
               join pg_namespace n on n.oid = c.relnamespace
              cross join api
              cross join (values ('usage'), ('select'), ('update')) as v(privilege)
              where c.relkind = 'S'
                and n.nspname in ('public', 'engine', 'auth')
                and has_sequence_privilege(api.role, c.oid, privilege)",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn api_roles_execute_and_use_exactly_what_the_allowlist_names() {
    let mut db = Db::new();

    let actual = granted(&mut db);

    if std::env::var("BLOC_WRITE_ALLOWLIST").is_ok_and(|v| v == "1") {
        let body: Vec<&str> = actual.iter().map(String::as_str).collect();
        std::fs::write(allowlist_path(), format!("{HEADER}{}\n", body.join("\n"))).unwrap();
        return;
    }
    let listed: BTreeSet<String> = std::fs::read_to_string(allowlist_path())
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    let added: Vec<&String> = actual.difference(&listed).collect();
    let removed: Vec<&String> = listed.difference(&actual).collect();
    let diff: String = added
        .iter()
        .map(|l| format!("+ {l}\n"))
        .chain(removed.iter().map(|l| format!("- {l}\n")))
        .collect();
    assert!(
        diff.is_empty(),
        "privileges differ from {} (+ granted but not listed, - listed but not granted):\n{diff}",
        allowlist_path().display()
    );
}
