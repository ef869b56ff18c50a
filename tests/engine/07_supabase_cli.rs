//! The migrations apply with the real Supabase CLI (`supabase db push`, npm
//! package `supabase` pinned in tests/package.json), and the CLI's record of
//! them matches what pgcluster's runner sees.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

use pgcluster::testing::{migrations_dir, TestDatabase};
use postgres::{Client, NoTls};
use serde_json::{json, Value};

fn supabase_cli() -> PathBuf {
    let cli = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/node_modules/.bin/supabase"));
    assert!(
        cli.exists(),
        "the Supabase CLI is missing at {}: run `npm ci` in tests/ (package `supabase@2.117.0`)",
        cli.display()
    );
    cli
}

/// Runs `supabase db push --db-url <url> --yes` in a scratch project holding
/// a copy of `supabase/migrations` (the CLI writes `supabase/.temp` into its
/// project, which must not land in the repository).
pub(crate) fn db_push(url: &str) -> String {
    let project = tempfile::tempdir().unwrap();
    let target = project.path().join("supabase/migrations");
    std::fs::create_dir_all(&target).unwrap();
    for m in pgcluster::migrations::list(&migrations_dir()).unwrap() {
        std::fs::copy(&m.path, target.join(m.path.file_name().unwrap())).unwrap();
    }
    let db_url = if url.contains('?') { format!("{url}&sslmode=disable") } else { format!("{url}?sslmode=disable") };
    let out = Command::new(supabase_cli())
        .args(["db", "push", "--db-url", &db_url, "--yes"])
        .current_dir(project.path())
        .env("DO_NOT_TRACK", "1")
        .output()
        .expect("running the Supabase CLI");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "supabase db push failed:\n{text}");
    text
}

#[test]
fn the_supabase_cli_applies_every_migration_to_a_fresh_bootstrapped_database() {
    let db = TestDatabase::bootstrapped().unwrap();

    let output = db_push(&db.url);

    let expected = pgcluster::migrations::list(&migrations_dir()).unwrap();
    assert!(!expected.is_empty());
    let mut client = Client::connect(&db.url, NoTls).unwrap();
    let recorded: Vec<(String, Option<String>, Vec<String>)> = client
        .query("select version, name, statements from supabase_migrations.schema_migrations order by version", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let versions: Vec<(&str, Option<&str>)> = recorded.iter().map(|(v, n, _)| (v.as_str(), n.as_deref())).collect();
    let listed: Vec<(&str, Option<&str>)> =
        expected.iter().map(|m| (m.version.as_str(), Some(m.name.as_str()))).collect();
    assert_eq!(versions, listed, "CLI output:\n{output}");
    for ((version, _, statements), m) in recorded.iter().zip(&expected) {
        let ours = pgcluster::sql_split::split_statements(&std::fs::read_to_string(&m.path).unwrap());
        assert_eq!(statements, &ours, "statements recorded for {version}");
    }
}

#[test]
fn a_database_migrated_by_the_cli_assigns_leads_and_a_second_push_changes_nothing() {
    let db = TestDatabase::bootstrapped().unwrap();
    db_push(&db.url);
    let mut client = Client::connect(&db.url, NoTls).unwrap();
    client.execute("insert into callers (name, assigned_states) values ('Meera', '{MH}')", &[]).unwrap();

    let result: Value =
        client.query_one("select ingest_lead($1)", &[&json!({"phone": "+919876543210", "state": "MH"})]).unwrap().get(0);
    let again = db_push(&db.url);

    assert_eq!(result["status"], "assigned");
    assert_eq!(result["reason"], "state_match");
    assert!(again.to_lowercase().contains("up to date"), "second push:\n{again}");
    let applied = pgcluster::migrations::apply(&db.url, &migrations_dir()).unwrap();
    assert!(applied.is_empty(), "pgcluster's runner sees the CLI's record as complete: {applied:?}");
}
