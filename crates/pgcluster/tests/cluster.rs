#![allow(clippy::unwrap_used)]

use pgcluster::{migrations, Cluster, Scheduler};

#[test]
fn a_temporary_cluster_accepts_connections_and_has_logical_wal() {
    let cluster = Cluster::temporary().expect("cluster starts");
    let mut client = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls).unwrap();
    let level: String = client.query_one("show wal_level", &[]).unwrap().get(0);
    assert_eq!(level, "logical");
}

#[test]
fn migrations_are_recorded_once_like_the_supabase_cli() {
    let cluster = Cluster::temporary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("20260101000000_first.sql"), "create table t (x int); insert into t values (1);").unwrap();
    std::fs::write(dir.path().join("README.md"), "not a migration").unwrap();
    let url = cluster.url("postgres");
    assert_eq!(migrations::apply(&url, dir.path()).unwrap(), vec!["20260101000000"]);
    assert!(migrations::apply(&url, dir.path()).unwrap().is_empty());
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let row = client
        .query_one("select name, statements from supabase_migrations.schema_migrations", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "first");
    assert_eq!(row.get::<_, Vec<String>>(1).len(), 2);
}

#[test]
fn a_stopped_cluster_refuses_connections() {
    let mut cluster = Cluster::temporary().unwrap();
    let url = cluster.url("postgres");
    cluster.stop();
    assert!(postgres::Client::connect(&url, postgres::NoTls).is_err());
}

#[test]
fn a_cluster_preloads_pg_cron_which_can_be_created_only_in_the_postgres_database() {
    let cluster = Cluster::temporary().unwrap();
    let other = pgcluster::create_database(&cluster.url("postgres"), "other").unwrap();
    let mut postgres_db = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls).unwrap();
    let mut other_db = postgres::Client::connect(&other, postgres::NoTls).unwrap();

    let preloaded: String = postgres_db.query_one("show shared_preload_libraries", &[]).unwrap().get(0);
    let database: String = postgres_db.query_one("show cron.database_name", &[]).unwrap().get(0);
    let elsewhere = other_db.batch_execute("create extension pg_cron");
    postgres_db.batch_execute("create extension pg_cron").unwrap();

    assert_eq!(preloaded, "pg_cron");
    assert_eq!(database, "postgres");
    let refusal = elsewhere.unwrap_err().as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert!(refusal.contains("can only create extension in database postgres"), "{refusal}");
    let schedule = "select cron.schedule('probe', '* * * * *', 'select 1')";
    let jobid: i64 = postgres_db.query_one(schedule, &[]).unwrap().get(0);
    assert!(jobid > 0);
}

#[test]
fn a_cluster_without_the_scheduler_is_plain_postgresql() {
    let cluster = Cluster::temporary_with(Scheduler::Absent).unwrap();
    let mut client = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls).unwrap();

    let preloaded: String = client.query_one("show shared_preload_libraries", &[]).unwrap().get(0);
    let database: Option<String> =
        client.query_one("select current_setting('cron.database_name', true)", &[]).unwrap().get(0);

    assert_eq!(preloaded, "");
    assert_eq!(database, None);
}

#[test]
fn the_notices_a_migration_raises_are_handed_over_with_its_version() {
    let cluster = Cluster::temporary().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("20260101000000_quiet.sql"), "create table t (x int);").unwrap();
    std::fs::write(
        dir.path().join("20260101000001_chatty.sql"),
        "do $$ begin raise notice 'nothing scheduled here'; end $$;",
    )
    .unwrap();
    let mut notices = Vec::new();

    migrations::apply_with_notices(&cluster.url("postgres"), dir.path(), |version, notice| {
        notices.push((version.to_string(), notice.to_string()));
    })
    .unwrap();

    assert_eq!(notices, vec![("20260101000001".to_string(), "nothing scheduled here".to_string())]);
}
