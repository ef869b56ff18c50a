//! The backlog drain, the SLA sweep, manual reassignment and status stamps.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::support::{as_role, phone, sqlstate, Caller, Db};

fn unassigned_leads(db: &mut Db) -> i64 {
    db.scalar_i64("select count(*) from leads where status = 'unassigned'")
}

fn backlog_of_three(db: &mut Db) {
    for n in 0..3 {
        assert_eq!(db.ingest(json!({"phone": phone(n), "state": "MH"}))["status"], "unassigned");
    }
}

#[test]
fn creating_a_caller_drains_the_backlog() {
    let mut db = Db::new();
    backlog_of_three(&mut db);

    let caller = db.add_caller(Caller::named("New").states(&["MH"]));

    assert_eq!(unassigned_leads(&mut db), 0);
    assert_eq!(db.load(caller), 3);
    let reasons: Vec<(String, Option<i32>)> = db
        .client
        .query("select reason, tier from assignment_logs order by id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(reasons, vec![("backlog".to_string(), Some(1)); 3]);
    let statuses = db.scalar_i64("select count(*) from leads where status = 'new' and assigned_at is not null");
    assert_eq!(statuses, 3);
}

#[test]
fn creating_an_inactive_caller_leaves_the_backlog_alone() {
    let mut db = Db::new();
    backlog_of_three(&mut db);

    db.add_caller(Caller::named("Off").inactive());

    assert_eq!(unassigned_leads(&mut db), 3);
}

#[test]
fn activating_a_caller_drains_the_backlog() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("Later").inactive());
    backlog_of_three(&mut db);

    db.client.execute("update callers set active = true where id = $1", &[&caller]).unwrap();

    assert_eq!(unassigned_leads(&mut db), 0);
    assert_eq!(db.load(caller), 3);
}

#[test]
fn unpausing_a_caller_drains_the_backlog() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("Paused"));
    db.client
        .execute("update callers set paused_until = now() + interval '1 day' where id = $1", &[&caller])
        .unwrap();
    backlog_of_three(&mut db);

    db.client.execute("update callers set paused_until = null where id = $1", &[&caller]).unwrap();

    assert_eq!(unassigned_leads(&mut db), 0);
}

#[test]
fn the_backlog_drain_uses_overflow_so_no_lead_stays_behind() {
    let mut db = Db::new();
    backlog_of_three(&mut db);

    let caller = db.add_caller(Caller::named("Tiny").limit(1));

    assert_eq!(unassigned_leads(&mut db), 0);
    let tiers: Vec<i32> =
        db.client.query("select tier from assignment_logs order by id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(tiers, vec![2, 4, 4]);
    assert_eq!(db.load(caller), 3);
}

#[test]
fn assign_backlog_picks_up_leads_once_a_pause_has_run_out() {
    let mut db = Db::new();
    db.set_now("2026-03-02 10:00:00+05:30");
    let caller = db.add_caller(Caller::named("Lunch"));
    db.client
        .execute("update callers set paused_until = '2026-03-02 11:00:00+05:30' where id = $1", &[&caller])
        .unwrap();
    backlog_of_three(&mut db);
    db.set_now("2026-03-02 11:00:01+05:30");

    let result: Value = db.client.query_one("select assign_backlog()", &[]).unwrap().get(0);

    assert_eq!(result["moved"], 3);
    assert_eq!(result["leads"].as_array().unwrap().len(), 3);
    assert_eq!(unassigned_leads(&mut db), 0);
}

fn sla_setup(db: &mut Db) -> (i64, i64, i64) {
    db.set_now("2026-03-02 10:00:00+05:30");
    let a = db.add_caller(Caller::named("A"));
    let b = db.add_caller(Caller::named("B"));
    let lead = db.ingest(json!({"phone": phone(1)}));
    assert_eq!(lead["caller_id"], a);
    (a, b, lead["lead_id"].as_i64().unwrap())
}

fn sweep(db: &mut Db) -> Value {
    db.client.query_one("select reassign_stale_leads()", &[]).unwrap().get(0)
}

#[test]
fn a_lead_still_new_after_the_sla_goes_to_a_different_caller() {
    let mut db = Db::new();
    let (a, b, lead) = sla_setup(&mut db);
    db.set_now("2026-03-02 12:00:01+05:30");

    let result = sweep(&mut db);

    assert_eq!(result, json!({"moved": 1, "leads": [lead]}));
    let row = db.client.query_one("select caller_id, reassign_count, status from leads", &[]).unwrap();
    assert_eq!(row.get::<_, Option<i64>>(0), Some(b));
    assert_eq!(row.get::<_, i32>(1), 1);
    assert_eq!(row.get::<_, String>(2), "new");
    let log = db
        .client
        .query_one("select caller_id, previous_caller_id, reason from assignment_logs order by id desc limit 1", &[])
        .unwrap();
    assert_eq!(log.get::<_, Option<i64>>(0), Some(b));
    assert_eq!(log.get::<_, Option<i64>>(1), Some(a));
    assert_eq!(log.get::<_, String>(2), "sla_reassign");
}

#[test]
fn the_sla_moves_a_lead_even_to_a_caller_lighter_in_load_than_the_current_one() {
    let mut db = Db::new();
    let (a, _b, _lead) = sla_setup(&mut db);
    // A has far fewer leads than B, yet the lead must leave A.
    db.client.execute("update caller_daily_loads set assigned = 0 where caller_id = $1", &[&a]).unwrap();
    // Everyone else is full (limit 1, five leads today), so only overflow remains.
    db.client
        .execute("update callers set daily_lead_limit = 1 where id <> $1", &[&a])
        .unwrap();
    db.client
        .execute(
            "insert into caller_daily_loads (caller_id, day, assigned) select id, '2026-03-02', 5 from callers where id <> $1",
            &[&a],
        )
        .unwrap();
    db.set_now("2026-03-02 12:00:01+05:30");

    sweep(&mut db);

    let caller: Option<i64> = db.client.query_one("select caller_id from leads", &[]).unwrap().get(0);
    assert_ne!(caller, Some(a));
}

#[test]
fn a_lead_is_not_reassigned_before_the_sla() {
    let mut db = Db::new();
    let (a, _, _) = sla_setup(&mut db);
    db.set_now("2026-03-02 11:59:59+05:30");

    assert_eq!(sweep(&mut db)["moved"], 0);
    let caller: Option<i64> = db.client.query_one("select caller_id from leads", &[]).unwrap().get(0);
    assert_eq!(caller, Some(a));
}

#[test]
fn a_contacted_lead_is_not_reassigned() {
    let mut db = Db::new();
    sla_setup(&mut db);
    db.client.execute("update leads set status = 'contacted'", &[]).unwrap();
    db.set_now("2026-03-02 18:00:00+05:30");

    assert_eq!(sweep(&mut db)["moved"], 0);
}

#[test]
fn a_lead_is_reassigned_at_most_max_reassignments_times() {
    let mut db = Db::new();
    sla_setup(&mut db);
    db.client.execute("update settings set max_reassignments = 2", &[]).unwrap();

    let mut moved = Vec::new();
    for hour in [12, 14, 16, 18] {
        db.set_now(&format!("2026-03-02 {hour}:00:01+05:30"));
        moved.push(sweep(&mut db)["moved"].as_i64().unwrap());
    }

    assert_eq!(moved, vec![1, 1, 0, 0]);
    assert_eq!(db.scalar_i64("select reassign_count::bigint from leads"), 2);
    assert_eq!(db.scalar_i64("select count(*) from assignment_logs where reason = 'sla_reassign'"), 2);
}

#[test]
fn a_lead_stays_put_when_no_other_caller_is_eligible() {
    let mut db = Db::new();
    let (a, b, _) = sla_setup(&mut db);
    db.client.execute("update callers set active = false where id = $1", &[&b]).unwrap();
    db.set_now("2026-03-02 12:00:01+05:30");

    assert_eq!(sweep(&mut db)["moved"], 0);
    let caller: Option<i64> = db.client.query_one("select caller_id from leads", &[]).unwrap().get(0);
    assert_eq!(caller, Some(a));
}

#[test]
fn two_sweeps_at_once_move_each_stale_lead_once() {
    let mut db = Db::new();
    db.set_now("2026-03-02 10:00:00+05:30");
    for name in ["A", "B", "C"] {
        db.add_caller(Caller::named(name));
    }
    for n in 0..30 {
        db.ingest(json!({"phone": phone(n)}));
    }
    let url = db.db.url.clone();

    let sweeps: Vec<Value> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                client.execute("select set_config('bloc.now', '2026-03-02 12:00:01+05:30', false)", &[]).unwrap();
                client.query_one("select reassign_stale_leads()", &[]).unwrap().get::<_, Value>(0)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();

    let total: i64 = sweeps.iter().map(|s| s["moved"].as_i64().unwrap()).sum();
    assert_eq!(total, 30);
    assert_eq!(db.scalar_i64("select count(*) from leads where reassign_count = 1"), 30);
    assert_eq!(db.scalar_i64("select count(*) from assignment_logs where reason = 'sla_reassign'"), 30);
}

#[test]
fn an_admin_can_reassign_a_lead_and_it_is_logged_as_manual() {
    let mut db = Db::new();
    let (a, b, lead) = sla_setup(&mut db);
    let admin = db.add_member("admin@example.com", "admin", None);

    let result: Value = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        let out = tx
            .query_one("select reassign_lead($1, $2, 'customer asked for B')", &[&lead, &b])
            .unwrap()
            .get(0);
        tx.batch_execute("set local role postgres").unwrap();
        let log = tx
            .query_one(
                "select caller_id, previous_caller_id, reason, note from assignment_logs order by id desc limit 1",
                &[],
            )
            .unwrap();
        assert_eq!(log.get::<_, Option<i64>>(0), Some(b));
        assert_eq!(log.get::<_, Option<i64>>(1), Some(a));
        assert_eq!(log.get::<_, String>(2), "manual");
        assert_eq!(log.get::<_, Option<String>>(3).as_deref(), Some("customer asked for B"));
        out
    });

    assert_eq!(result["caller_id"], b);
    assert_eq!(result["previous_caller_id"], a);
    assert_eq!(result["reason"], "manual");
}

#[test]
fn reassigning_to_a_missing_caller_is_a_clear_error() {
    let mut db = Db::new();
    let (_, _, lead) = sla_setup(&mut db);
    let admin = db.add_member("admin@example.com", "admin", None);

    let missing_caller = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        sqlstate(tx.query_one("select reassign_lead($1, 999, null)", &[&lead]))
    });
    let missing_lead = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        sqlstate(tx.query_one("select reassign_lead(999, 1, null)", &[]))
    });

    assert_eq!(missing_caller, "PT404");
    assert_eq!(missing_lead, "PT404");
}

#[test]
fn status_changes_stamp_their_timestamps() {
    let mut db = Db::new();
    sla_setup(&mut db);
    db.set_now("2026-03-02 10:30:00+05:30");

    db.client.execute("update leads set status = 'converted'", &[]).unwrap();

    let row = db
        .client
        .query_one(
            "select contacted_at = t, qualified_at = t, converted_at = t, status_changed_at = t, lost_at is null
               from leads, (select '2026-03-02 10:30:00+05:30'::timestamptz as t) now",
            &[],
        )
        .unwrap();
    for i in 0..5 {
        assert!(row.get::<_, bool>(i), "column {i}");
    }
}

#[test]
fn a_later_status_keeps_the_first_contact_time() {
    let mut db = Db::new();
    sla_setup(&mut db);
    db.set_now("2026-03-02 10:30:00+05:30");
    db.client.execute("update leads set status = 'contacted'", &[]).unwrap();
    db.set_now("2026-03-02 11:30:00+05:30");

    db.client.execute("update leads set status = 'lost'", &[]).unwrap();

    let row = db
        .client
        .query_one(
            "select contacted_at = '2026-03-02 10:30:00+05:30', lost_at = '2026-03-02 11:30:00+05:30' from leads",
            &[],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert!(row.get::<_, bool>(1));
}
