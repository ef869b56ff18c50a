//! Every engine path reads the clock after it holds the assignment lock, so
//! a decision that waited for the lock is stamped, booked and judged at the
//! time it was actually made, not when its call began.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use postgres::{Client, NoTls};
use serde_json::{json, Value};

use crate::support::{phone, sqlstate, Caller, Db};

/// Holds the assignment lock on another connection while `call` runs on a
/// third one; releases it after `hold`. Returns the call's answer and the
/// database time just before the lock was released.
fn call_while_the_lock_is_held(db: &Db, call: &'static str, arg: Option<Value>, hold: Duration) -> (Value, String) {
    let mut holder = db.connect();
    let mut tx = holder.transaction().unwrap();
    tx.execute("select engine.lock_assignments()", &[]).unwrap();
    let url = db.db.url.clone();
    let waiter = std::thread::spawn(move || {
        let mut client = Client::connect(&url, NoTls).unwrap();
        match arg {
            Some(a) => client.query_one(call, &[&a]).unwrap().get::<_, Value>(0),
            None => client.query_one(call, &[]).unwrap().get::<_, Value>(0),
        }
    });
    std::thread::sleep(hold);
    let released: String = tx.query_one("select clock_timestamp()::text", &[]).unwrap().get(0);
    tx.commit().unwrap();
    (waiter.join().unwrap(), released)
}

#[test]
fn a_lead_that_waited_for_the_assignment_lock_is_stamped_after_the_wait() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));

    let (answer, released) =
        call_while_the_lock_is_held(&db, "select ingest_lead($1)", Some(json!({"phone": phone(1)})), Duration::from_millis(400));

    assert_eq!(answer["status"], "assigned");
    let row = db
        .client
        .query_one(
            "select l.assigned_at >= $1::text::timestamptz, g.created_at >= $1::text::timestamptz,
                    d.last_assigned_at >= $1::text::timestamptz
               from leads l join assignment_logs g on g.lead_id = l.id
               join caller_daily_loads d on d.caller_id = l.caller_id",
            &[&released],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0), "the lead's assigned_at is not before the lock was released");
    assert!(row.get::<_, bool>(1), "the log row's time is the decision's");
    assert!(row.get::<_, bool>(2), "the load's last_assigned_at is the decision's");
}

#[test]
fn a_batch_that_waited_for_the_assignment_lock_is_stamped_after_the_wait() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));

    let (answer, released) = call_while_the_lock_is_held(
        &db,
        "select ingest_leads($1)",
        Some(json!([{"phone": phone(1)}, {"phone": phone(2)}])),
        Duration::from_millis(400),
    );

    assert_eq!(answer[1]["status"], "assigned");
    assert_eq!(
        db.scalar_i64(&format!("select count(*) from leads where assigned_at >= '{released}'::timestamptz")),
        2
    );
}

#[test]
fn a_backlog_drain_that_waited_for_the_lock_judges_pauses_at_the_time_it_decides() {
    let mut db = Db::new();
    // Paused for one more second: created without draining anything.
    let caller = db.add_caller(Caller::named("Back soon").inactive());
    assert_eq!(db.ingest(json!({"phone": phone(1)}))["status"], "unassigned");
    db.client
        .execute(
            "update callers set active = true, paused_until = clock_timestamp() + interval '1 second' where id = $1",
            &[&caller],
        )
        .unwrap();

    // The drain starts while the caller is still paused, but gets the lock
    // only after the pause has ended.
    let (answer, _) = call_while_the_lock_is_held(&db, "select assign_backlog()", None, Duration::from_millis(1500));

    assert_eq!(answer["moved"], 1, "{answer}");
    assert_eq!(db.scalar_i64("select count(*) from leads where status = 'unassigned'"), 0);
}

#[test]
fn an_sla_sweep_that_waited_for_the_lock_moves_a_lead_that_went_stale_while_it_waited() {
    let mut db = Db::new();
    let first = db.add_caller(Caller::named("First"));
    db.add_caller(Caller::named("Second"));
    db.client.execute("update settings set sla_minutes = 1 where id", &[]).unwrap();
    let lead = db.ingest(json!({"phone": phone(1)}));
    assert_eq!(lead["caller_id"], first);
    // One second short of stale when the sweep is called.
    db.client
        .execute("update leads set assigned_at = clock_timestamp() - interval '59 seconds'", &[])
        .unwrap();

    let (answer, _) = call_while_the_lock_is_held(&db, "select reassign_stale_leads()", None, Duration::from_millis(1500));

    assert_eq!(answer["moved"], 1, "{answer}");
    assert_eq!(db.scalar_i64(&format!("select count(*) from leads where caller_id = {first}")), 0);
}

/// Runs `call` on a new connection with a 300 ms `lock_timeout` while
/// another connection holds the assignment lock.
fn call_with_a_lock_timeout_while_the_lock_is_held(db: &Db, call: &str) -> Result<Value, postgres::Error> {
    let mut holder = db.connect();
    let mut tx = holder.transaction().unwrap();
    tx.execute("select engine.lock_assignments()", &[]).unwrap();
    let mut client = db.connect();
    client.batch_execute("set lock_timeout = '300ms'").unwrap();
    let answer = client.query_one(call, &[]).map(|row| row.get::<_, Value>(0));
    tx.rollback().unwrap();
    answer
}

#[test]
fn the_maintenance_drain_answers_at_once_without_the_lock_when_there_is_no_backlog() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    assert_eq!(db.ingest(json!({"phone": phone(1)}))["status"], "assigned");

    let answer = call_with_a_lock_timeout_while_the_lock_is_held(&db, "select assign_backlog()").unwrap();

    assert_eq!(answer, json!({"moved": 0, "leads": []}));
}

#[test]
fn the_maintenance_drain_still_waits_for_the_lock_when_there_is_a_backlog() {
    let mut db = Db::new();
    db.add_caller(Caller::named("Away").inactive());
    assert_eq!(db.ingest(json!({"phone": phone(1)}))["status"], "unassigned");

    let refused = call_with_a_lock_timeout_while_the_lock_is_held(&db, "select assign_backlog()");

    assert_eq!(sqlstate(refused), "55P03", "the drain must queue for the assignment lock");
    assert_eq!(db.scalar_i64("select count(*) from leads where status = 'unassigned'"), 1);
}
