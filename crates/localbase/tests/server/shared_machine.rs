//! localbase on a machine shared with other users: its secrets are readable
//! by its owner only, and its cluster lets no one in without the password.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use localbase::{Config, LocalBase, MigrationRunner};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// localbase with a project-local cluster in `dir`, as the binary runs it.
async fn start_in(dir: &Path) -> LocalBase {
    let config = Config {
        dir: dir.to_path_buf(),
        port: 0,
        migrations_dir: crate::common::fixture_migrations(),
        migrations: MigrationRunner::Builtin,
        ..Config::default()
    };
    LocalBase::start(config).await.expect("localbase starts")
}

#[tokio::test]
async fn status_and_keys_are_written_0600_in_a_0700_folder() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("localbase");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();

    let lb = start_in(&dir).await;

    assert_eq!(mode(&dir), 0o700, "the folder");
    assert_eq!(mode(&dir.join("status.json")), 0o600, "status.json");
    assert_eq!(mode(&dir.join("keys.json")), 0o600, "keys.json");
    lb.stop().await;
}

#[tokio::test]
async fn the_cluster_refuses_a_tcp_login_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let lb = start_in(dir.path()).await;
    let url = lb.db_url().to_string();
    let config: tokio_postgres::Config = url.parse().unwrap();
    let password = config.get_password().expect("the database URL carries a password").to_vec();
    assert!(password.len() >= 32, "a generated password");

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("the URL logs in");
    tokio::spawn(connection);
    let methods: Vec<String> = client
        .query("select distinct auth_method from pg_hba_file_rules", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(methods, ["scram-sha-256"], "no line trusts a login");

    let password_less = url.replacen(&format!(":{}@", String::from_utf8_lossy(&password)), "@", 1);
    assert!(!password_less.contains(&*String::from_utf8_lossy(&password)));
    assert!(tokio_postgres::connect(&password_less, tokio_postgres::NoTls).await.is_err(), "a login without a password");

    let mut without = config.clone();
    without.password(Vec::<u8>::new());
    let refused = without.connect(tokio_postgres::NoTls).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.code(), Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD), "{refused}");

    let mut wrong = config.clone();
    wrong.password("not-the-password");
    let refused = wrong.connect(tokio_postgres::NoTls).await.map(|_| ()).unwrap_err();
    assert_eq!(refused.code(), Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD), "{refused}");

    let status = localbase::Status::read(dir.path()).unwrap();
    assert_eq!(status.db_url, url, "status.json hands out the URL with its password");
    lb.stop().await;
}
