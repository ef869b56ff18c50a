//! Where localbase's database comes from.

#![allow(clippy::unwrap_used)]

use localbase::{Config, LocalBase, MigrationRunner};

#[tokio::test]
async fn a_database_url_is_used_instead_of_a_project_local_cluster() {
    let (cluster, url) = tokio::task::spawn_blocking(|| {
        let cluster = pgcluster::Cluster::temporary().unwrap();
        let url = pgcluster::create_database(&cluster.url("postgres"), "given").unwrap();
        (cluster, url)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    let lb = LocalBase::start(Config {
        dir: dir.path().to_path_buf(),
        port: 0,
        database_url: Some(url.clone()),
        migrations_dir: crate::common::fixture_migrations(),
        migrations: MigrationRunner::Builtin,
        ..Config::default()
    })
    .await
    .unwrap();

    assert_eq!(lb.db_url(), url);
    assert!(!dir.path().join("db").exists(), "no cluster of its own");
    let planets = crate::common::rest(&lb, lb.anon_key()).from("planets").select("id").execute().await.unwrap();
    assert_eq!(planets.status(), 200);
    let (applied,): (i64,) = sqlx::query_as("select count(*) from supabase_migrations.schema_migrations")
        .fetch_one(&sqlx::PgPool::connect(&url).await.unwrap())
        .await
        .unwrap();
    assert_eq!(applied, 1, "the fixture migration is recorded as the CLI records it");
    lb.stop().await;
    drop(cluster);
}

#[tokio::test]
async fn the_supabase_cli_applies_migrations_when_asked_for() {
    let lb = crate::common::start_with(|c| c.migrations = MigrationRunner::SupabaseCli).await;

    let (name, statements): (String, Vec<String>) =
        sqlx::query_as("select name, statements from supabase_migrations.schema_migrations")
            .fetch_one(&sqlx::PgPool::connect(lb.db_url()).await.unwrap())
            .await
            .unwrap();

    assert_eq!(name, "conformance_fixture");
    assert!(statements.iter().any(|s| s.contains("create table public.planets")));
    lb.stop().await;
}
