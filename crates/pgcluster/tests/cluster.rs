use pgcluster::{migrations, Cluster};

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
