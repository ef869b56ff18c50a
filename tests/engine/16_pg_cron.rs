//! The sweeps on pg_cron (migration …001600): where pg_cron can be created,
//! the migrations schedule the SLA sweep, the backlog drain and the delivery
//! purge, and the jobs run on their own; anywhere else a NOTICE says why
//! nothing was scheduled, and the migrations still apply.
//!
//! pg_cron can be created only in its scheduler's database (`postgres` on
//! every pgcluster server, as on Supabase), so these tests use the `postgres`
//! database of a throwaway cluster of their own, never `DATABASE_URL`.
//! Debian's pg_cron (1.4) schedules by the minute: a job runs at the start
//! of the next minute, so the waits below allow for two of them.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use pgcluster::testing::{migrations_dir, TestDatabase};
use pgcluster::{Cluster, Scheduler};
use postgres::{Client, NoTls};
use serde_json::json;

use crate::supabase_cli::db_push;
use crate::support::{phone, Caller, Db};

const SWEEPS_MIGRATION: &str = "20261130001600";

/// A bootstrapped database on a throwaway cluster started with `scheduler`:
/// `postgres` (pg_cron's database) or one made for the test.
fn bootstrapped(scheduler: Scheduler, name: &str) -> TestDatabase {
    let cluster = Cluster::temporary_with(scheduler).expect("a throwaway cluster (is postgresql-15-cron installed?)");
    let db = TestDatabase::on_cluster(cluster, name).unwrap();
    pgcluster::bootstrap(&db.url).unwrap();
    db
}

/// Applies every migration with pgcluster's runner; returns the notices the
/// sweeps migration raised.
fn migrate(db: &TestDatabase) -> Vec<String> {
    let mut notices = Vec::new();
    pgcluster::migrations::apply_with_notices(&db.url, &migrations_dir(), |version, notice| {
        if version == SWEEPS_MIGRATION {
            notices.push(notice.to_string());
        }
    })
    .expect("every migration applies");
    notices
}

/// pg_cron's database, migrated, with the engine's test clock allowed.
fn cron_db() -> Db {
    let db = bootstrapped(Scheduler::PgCron, "postgres");
    let notices = migrate(&db);
    assert!(notices.is_empty(), "pg_cron's database schedules without a notice: {notices:?}");
    let mut client = Client::connect(&db.url, NoTls).unwrap();
    client.execute("update engine.clock_settings set override_allowed = true", &[]).unwrap();
    Db { client, db }
}

fn jobs(client: &mut Client) -> Vec<(String, String, String, String, String, bool)> {
    client
        .query("select jobname, schedule, command, database, username, active from cron.job order by jobname", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect()
}

fn job(name: &str, schedule: &str, command: &str) -> (String, String, String, String, String, bool) {
    (name.into(), schedule.into(), command.into(), "postgres".into(), "postgres".into(), true)
}

/// Every job the migrations schedule (the sweeps, the purge, the report rollup, the search indexes' merge and
/// the lead-name dictionary's prune).
fn the_scheduled_jobs() -> Vec<(String, String, String, String, String, bool)> {
    vec![
        job("assign_backlog", "* * * * *", "select public.assign_backlog()"),
        job("merge_search_pending_lists", "* * * * *", "select engine.merge_search_pending_lists()"),
        job("prune_lead_names", "*/5 * * * *", "select engine.prune_lead_names()"),
        job("purge_deliveries", "0 * * * *", "select engine.purge_deliveries()"),
        job("reassign_stale_leads", "* * * * *", "select public.reassign_stale_leads()"),
        job("refresh_report_days", "* * * * *", "select engine.refresh_report_days()"),
    ]
}

fn cron_schema_exists(client: &mut Client) -> bool {
    client.query_one("select to_regnamespace('cron') is not null", &[]).unwrap().get(0)
}

/// The statuses of the runs pg_cron recorded for job `name`, oldest first.
fn runs(client: &mut Client, name: &str) -> Vec<String> {
    client
        .query(
            "select d.status from cron.job_run_details d join cron.job j using (jobid)
              where j.jobname = $1 order by d.runid",
            &[&name],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Polls `done` until it holds; fails after two of pg_cron's minute ticks.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(150);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 150 s");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_migrations_schedule_every_job_in_pg_crons_database_out_of_the_api_roles_reach() {
    let mut db = cron_db();

    let scheduled = jobs(&mut db.client);
    let schema: String = db
        .client
        .query_one("select extnamespace::regnamespace::text from pg_extension where extname = 'pg_cron'", &[])
        .unwrap()
        .get(0);

    assert_eq!(scheduled, the_scheduled_jobs());
    assert_eq!(schema, "pg_catalog", "created as Supabase documents it");
    for role in ["anon", "authenticated", "service_role", "authenticator"] {
        let usage: bool =
            db.client.query_one("select has_schema_privilege($1, 'cron', 'usage')", &[&role]).unwrap().get(0);
        assert!(!usage, "{role} cannot reach pg_cron's jobs");
    }
}

#[test]
fn the_scheduled_sla_sweep_moves_a_stale_lead_on_its_own() {
    let mut db = cron_db();
    db.client.execute("select set_config('bloc.now', (now() - interval '3 hours')::text, false)", &[]).unwrap();
    db.add_caller(Caller::named("A"));
    db.add_caller(Caller::named("B"));
    let lead = db.ingest(json!({"phone": phone(1)}));
    let (lead_id, first) = (lead["lead_id"].as_i64().unwrap(), lead["caller_id"].as_i64().unwrap());

    let mut watcher = db.connect();
    wait_for("the stale lead moves to the other caller", || {
        let caller: Option<i64> =
            watcher.query_one("select caller_id from leads where id = $1", &[&lead_id]).unwrap().get(0);
        caller != Some(first)
    });

    let log = db
        .client
        .query_one(
            "select reason, previous_caller_id from assignment_logs where lead_id = $1 order by id desc limit 1",
            &[&lead_id],
        )
        .unwrap();
    assert_eq!(log.get::<_, String>(0), "sla_reassign");
    assert_eq!(log.get::<_, Option<i64>>(1), Some(first));
    wait_for("pg_cron records the sweep's run", || {
        runs(&mut watcher, "reassign_stale_leads").contains(&"succeeded".to_string())
    });
    assert!(!runs(&mut watcher, "reassign_stale_leads").iter().any(|s| s == "failed"));
}

#[test]
fn the_scheduled_jobs_drain_a_backlog_left_by_a_pause_and_purge_expired_deliveries() {
    let mut db = cron_db();
    let caller = db.add_caller(Caller::named("Back soon"));
    // Long enough for the ingest below to find the pause still on, even on a
    // loaded machine; it runs out before the next tick or the one after.
    let pause = "update callers set paused_until = now() + interval '10 seconds' where id = $1";
    db.client.execute(pause, &[&caller]).unwrap();
    let lead = db.ingest(json!({"phone": phone(2)}));
    assert_eq!(lead["status"], "unassigned", "the only caller is paused");
    let lead_id = lead["lead_id"].as_i64().unwrap();
    db.client
        .batch_execute(
            "insert into engine.deliveries (sender, key, item, body_hash, result, received_at) values
               ('make', 'expired', 0, repeat('0', 64), '{}', now() - interval '25 hours'),
               ('make', 'fresh', 0, repeat('0', 64), '{}', now() - interval '23 hours')",
        )
        .unwrap();
    // The hourly purge is brought forward to every minute so that it runs here too.
    let every_minute = "select cron.alter_job(jobid, schedule => '* * * * *')
                          from cron.job where jobname = 'purge_deliveries'";
    db.client.execute(every_minute, &[]).unwrap();

    let mut watcher = db.connect();
    wait_for("the backlog lead is assigned", || {
        let assigned: Option<i64> =
            watcher.query_one("select caller_id from leads where id = $1", &[&lead_id]).unwrap().get(0);
        assigned == Some(caller)
    });

    let reason: String = db
        .client
        .query_one("select reason from assignment_logs where lead_id = $1", &[&lead_id])
        .unwrap()
        .get(0);
    assert_eq!(reason, "backlog");
    for name in ["assign_backlog", "purge_deliveries"] {
        wait_for(&format!("pg_cron records a successful run of {name}"), || {
            runs(&mut watcher, name).contains(&"succeeded".to_string())
        });
        assert!(!runs(&mut watcher, name).iter().any(|s| s == "failed"), "{name} ran as a role that may call it");
    }
    let kept: Vec<String> =
        db.client.query("select key from engine.deliveries", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(kept, vec!["fresh".to_string()]);
}

#[test]
fn the_scheduled_job_merges_the_search_indexes_pending_lists_as_the_role_pg_cron_runs_it_as() {
    let mut db = cron_db();
    db.add_caller(Caller::named("A").limit(100));
    let items: Vec<_> = (0..40).map(|n| json!({"name": format!("Priya {n}"), "phone": phone(100 + n)})).collect();
    db.client.query_one("select ingest_leads($1)", &[&json!(items)]).unwrap();
    let ingested: std::time::SystemTime = db.client.query_one("select clock_timestamp()", &[]).unwrap().get(0);

    let mut watcher = db.connect();
    let finished_since = |client: &mut Client| -> Vec<String> {
        client
            .query(
                "select d.status from cron.job_run_details d join cron.job j using (jobid)
                  where j.jobname = 'merge_search_pending_lists' and d.start_time > $1
                    and d.status not in ('starting', 'running')
                  order by d.runid",
                &[&ingested],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    wait_for("pg_cron records a run of merge_search_pending_lists after the ingest", || {
        !finished_since(&mut watcher).is_empty()
    });

    let statuses = finished_since(&mut watcher);
    assert_eq!(statuses[0], "succeeded", "ran as a role that owns the indexes: {statuses:?}");
    assert!(!runs(&mut watcher, "merge_search_pending_lists").iter().any(|s| s == "failed"));
    let left: i64 = watcher.query_one("select engine.merge_search_pending_lists()", &[]).unwrap().get(0);
    assert_eq!(left, 0, "the scheduled run left nothing pending");
}

#[test]
fn a_database_other_than_pg_crons_gets_a_notice_and_no_job() {
    let db = bootstrapped(Scheduler::PgCron, "crm");

    let notices = migrate(&db);

    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("only in database postgres"), "{}", notices[0]);
    assert!(notices[0].contains("MAINTENANCE_INTERVAL_SECS"), "{}", notices[0]);
    let mut client = Client::connect(&db.url, NoTls).unwrap();
    assert!(!cron_schema_exists(&mut client));
}

#[test]
fn a_server_without_pg_cron_gets_a_notice_and_no_job() {
    let db = bootstrapped(Scheduler::Absent, "postgres");

    let notices = migrate(&db);

    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].contains("pg_cron is not loaded"), "{}", notices[0]);
    assert!(notices[0].contains("MAINTENANCE_INTERVAL_SECS"), "{}", notices[0]);
    let mut client = Client::connect(&db.url, NoTls).unwrap();
    assert!(!cron_schema_exists(&mut client));
}

#[test]
fn the_supabase_cli_schedules_the_sweeps_in_pg_crons_database() {
    let db = bootstrapped(Scheduler::PgCron, "postgres");

    db_push(&db.url);

    let mut client = Client::connect(&db.url, NoTls).unwrap();
    assert_eq!(jobs(&mut client), the_scheduled_jobs());
}
