//! Engine edge cases (issue 10): a lead is unassigned exactly when it has no
//! caller, callers' codes are canonical, limit 0 takes nothing, the test
//! clock needs a setting, an expired pause drains at the next ingest, and
//! only a fault in an item's own data makes that item `invalid`.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::support::{as_role, phone, sqlstate, Caller, Db};

// 1. status = 'unassigned' exactly when caller_id is null

#[test]
fn an_admin_cannot_mark_an_unassigned_lead_new_without_a_caller() {
    let mut db = Db::new();
    let lead = db.ingest(json!({"phone": phone(1)}))["lead_id"].as_i64().unwrap();
    let admin = db.add_member("admin@example.com", "admin", None);

    let outcome = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        sqlstate(tx.execute("update leads set status = 'new' where id = $1", &[&lead]))
    });

    assert_eq!(outcome, "23514", "a lead without a caller must stay unassigned");
    let status: String = db.client.query_one("select status from leads where id = $1", &[&lead]).unwrap().get(0);
    assert_eq!(status, "unassigned");
}

#[test]
fn a_lead_with_a_caller_cannot_be_left_without_one() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    let lead = db.ingest(json!({"phone": phone(1)}))["lead_id"].as_i64().unwrap();

    let outcome = sqlstate(db.client.execute("update leads set caller_id = null where id = $1", &[&lead]));

    assert_eq!(outcome, "23514");
}

// 2. canonical, NULL-free codes in callers.assigned_states and callers.languages

#[test]
fn callers_codes_are_stored_as_uppercase_states_and_lowercase_languages() {
    let mut db = Db::new();
    let id = db.add_caller(Caller::named("A").states(&[" mh", "Ka"]).languages(&["HI", " En "]));

    let row = db.client.query_one("select assigned_states, languages from callers where id = $1", &[&id]).unwrap();

    assert_eq!(row.get::<_, Vec<String>>(0), vec!["MH", "KA"]);
    assert_eq!(row.get::<_, Vec<String>>(1), vec!["hi", "en"]);
}

#[test]
fn a_null_inside_a_callers_languages_is_refused() {
    let mut db = Db::new();

    let outcome = sqlstate(db.client.execute(
        "insert into callers (name, languages) values ('A', array['hi', null])",
        &[],
    ));

    assert_eq!(outcome, "23514");
}

#[test]
fn a_null_inside_a_callers_states_is_refused() {
    let mut db = Db::new();
    let id = db.add_caller(Caller::named("A").states(&["MH"]));

    let outcome = sqlstate(db.client.execute(
        "update callers set assigned_states = array_append(assigned_states, null) where id = $1",
        &[&id],
    ));

    assert_eq!(outcome, "23514");
}

#[test]
fn a_caller_who_wrote_its_language_in_capitals_still_speaks_it() {
    let mut db = Db::new();
    db.add_caller(Caller::named("Silent").states(&["MH"]));
    let speaker = db.add_caller(Caller::named("Speaker").states(&["MH"]).languages(&["HI"]));

    let result = db.ingest(json!({"phone": phone(1), "state": "MH", "language": "hi"}));

    assert_eq!(result["caller_id"], speaker);
}

// 3. limit 0 means no leads at all, not even overflow

#[test]
fn a_caller_with_limit_zero_takes_no_overflow() {
    let mut db = Db::new();
    let zero = db.add_caller(Caller::named("Zero").limit(0));
    let one = db.add_caller(Caller::named("One").limit(1));

    let first = db.ingest(json!({"phone": phone(1)}));
    let second = db.ingest(json!({"phone": phone(2)}));

    assert_eq!(first["caller_id"], one);
    assert_eq!(second["caller_id"], one, "overflow goes to a caller whose limit is above 0");
    assert_eq!(second["reason"], "overflow");
    assert_eq!(db.load(zero), 0);
}

#[test]
fn a_batch_gives_no_overflow_to_a_caller_with_limit_zero() {
    let mut db = Db::new();
    let zero = db.add_caller(Caller::named("Zero").limit(0));
    let one = db.add_caller(Caller::named("One").limit(1));

    let results = db.ingest_batch(json!([{"phone": phone(1)}, {"phone": phone(2)}, {"phone": phone(3)}]));

    let callers: Vec<&Value> = results.iter().map(|r| &r["caller_id"]).collect();
    assert_eq!(callers, vec![&json!(one); 3]);
    assert_eq!(db.load(zero), 0);
}

#[test]
fn a_team_whose_only_caller_has_limit_zero_leaves_leads_unassigned() {
    let mut db = Db::new();
    let zero = db.add_caller(Caller::named("Zero").limit(0));

    let single = db.ingest(json!({"phone": phone(1)}));
    let batch = db.ingest_batch(json!([{"phone": phone(2)}]));

    assert_eq!(single["status"], "unassigned");
    assert_eq!(batch[0]["status"], "unassigned");
    assert_eq!(db.load(zero), 0);
}

// 4. the clock override only where a setting enables it

#[test]
fn the_clock_override_is_ignored_unless_the_database_enables_it() {
    let mut db = Db::new();
    db.client.execute("update engine.clock_settings set override_allowed = false", &[]).unwrap();
    db.set_now("2001-01-01 00:00:00+00");

    let wall_clock: bool = db
        .client
        .query_one("select engine.now() > pg_catalog.now() - interval '1 hour'", &[])
        .unwrap()
        .get(0);

    assert!(wall_clock, "bloc.now must not move the engine's clock when the override is off");
}

#[test]
fn the_clock_override_is_honoured_where_the_database_enables_it() {
    let mut db = Db::new();
    db.set_now("2001-01-01 00:00:00+00");

    let year: f64 = db.client.query_one("select extract(year from engine.now())::float8", &[]).unwrap().get(0);

    assert_eq!(year, 2001.0);
}

#[test]
fn no_api_role_can_enable_the_clock_override() {
    let mut db = Db::new();

    for role in ["anon", "authenticated", "service_role"] {
        let outcome = as_role(&mut db.client, role, None, |tx| {
            sqlstate(tx.execute("update engine.clock_settings set override_allowed = true", &[]))
        });
        assert_eq!(outcome, "42501", "{role} must not switch the test clock on");
    }
}

// 5. an expired pause drains the backlog at the next ingest, oldest first

fn paused_team_with_backlog(db: &mut Db) -> (i64, Vec<i64>) {
    db.set_now("2026-03-02 10:00:00+05:30");
    let caller = db.add_caller(Caller::named("Lunch"));
    db.client
        .execute("update callers set paused_until = '2026-03-02 11:00:00+05:30' where id = $1", &[&caller])
        .unwrap();
    let backlog = (0..3)
        .map(|n| {
            let result = db.ingest(json!({"phone": phone(n)}));
            assert_eq!(result["status"], "unassigned");
            result["lead_id"].as_i64().unwrap()
        })
        .collect();
    db.set_now("2026-03-02 11:00:01+05:30");
    (caller, backlog)
}

fn logged_leads(db: &mut Db) -> Vec<(i64, String)> {
    db.client
        .query("select lead_id, reason from assignment_logs order by id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn an_expired_pause_drains_the_backlog_oldest_first_at_the_next_ingest() {
    let mut db = Db::new();
    let (caller, backlog) = paused_team_with_backlog(&mut db);

    let result = db.ingest(json!({"phone": phone(10)}));

    assert_eq!(result["caller_id"], caller);
    let mut expected: Vec<(i64, String)> = backlog.iter().map(|id| (*id, "backlog".to_string())).collect();
    expected.push((result["lead_id"].as_i64().unwrap(), "global".to_string()));
    assert_eq!(logged_leads(&mut db), expected);
    assert_eq!(db.scalar_i64("select count(*) from leads where status = 'unassigned'"), 0);
}

#[test]
fn an_expired_pause_drains_the_backlog_oldest_first_at_the_next_batch() {
    let mut db = Db::new();
    let (caller, backlog) = paused_team_with_backlog(&mut db);

    let results = db.ingest_batch(json!([{"phone": phone(10)}, {"phone": phone(11)}]));

    assert_eq!(results[0]["caller_id"], caller);
    let mut expected: Vec<(i64, String)> = backlog.iter().map(|id| (*id, "backlog".to_string())).collect();
    for r in &results {
        expected.push((r["lead_id"].as_i64().unwrap(), "global".to_string()));
    }
    assert_eq!(logged_leads(&mut db), expected);
    assert_eq!(db.scalar_i64("select count(*) from leads where status = 'unassigned'"), 0);
}

// 7. only SQLSTATE classes 22 and 23 caused by an item make it `invalid`

/// A test-only trigger that fails the insert of one phone with `errcode`.
fn fail_inserts_of(db: &mut Db, phone: &str, errcode: &str) {
    db.client
        .batch_execute(&format!(
            "create function public.test_fault() returns trigger language plpgsql as $$
             begin
               if new.phone = '{phone}' then
                 raise exception using errcode = '{errcode}', message = 'test fault with database text';
               end if;
               return new;
             end $$;
             create trigger leads_test_fault before insert on public.leads
               for each row execute function public.test_fault();"
        ))
        .unwrap();
}

#[test]
fn a_serialization_failure_inside_an_item_fails_the_whole_batch() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    fail_inserts_of(&mut db, &phone(2), "40001");

    let outcome = sqlstate(db.client.query_one(
        "select ingest_leads($1)",
        &[&json!([{"phone": phone(1)}, {"phone": phone(2)}, {"phone": phone(3)}])],
    ));

    assert_eq!(outcome, "40001", "a transient fault must fail the call so the sender retries");
    assert_eq!(db.scalar_i64("select count(*) from leads"), 0);
}

#[test]
fn a_unique_or_reference_conflict_inside_an_item_fails_the_whole_batch_instead_of_refusing_the_lead() {
    for errcode in ["23505", "23503", "23P01", "23001"] {
        let mut db = Db::new();
        db.add_caller(Caller::named("A"));
        fail_inserts_of(&mut db, &phone(2), errcode);

        let outcome = sqlstate(db.client.query_one(
            "select ingest_leads($1)",
            &[&json!([{"phone": phone(1)}, {"phone": phone(2)}, {"phone": phone(3)}])],
        ));

        assert_eq!(outcome, errcode, "a conflict with a concurrent row is not the lead's fault: the call fails and is retried");
        assert_eq!(db.scalar_i64("select count(*) from leads"), 0, "{errcode}: nothing stored");
        assert_eq!(db.scalar_i64("select count(*) from assignment_logs"), 0, "{errcode}: nothing logged");
    }
}

#[test]
fn a_lock_timeout_inside_an_item_fails_the_whole_batch() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    let lead = db.ingest(json!({"phone": phone(1)}))["lead_id"].as_i64().unwrap();
    let mut holder = db.connect();
    let mut tx = holder.transaction().unwrap();
    tx.execute("select 1 from leads where id = $1 for update", &[&lead]).unwrap();
    db.client.batch_execute("set lock_timeout = '200ms'").unwrap();

    let outcome = sqlstate(db.client.query_one(
        "select ingest_leads($1)",
        &[&json!([{"phone": phone(2)}, {"phone": phone(1)}])],
    ));

    tx.rollback().unwrap();
    assert_eq!(outcome, "55P03", "a lock timeout is transient, not the lead's fault");
    assert_eq!(db.scalar_i64("select count(*) from leads"), 1);
}

#[test]
fn a_constraint_violation_caused_by_an_item_marks_only_that_item_invalid_with_a_stable_code() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    fail_inserts_of(&mut db, &phone(2), "23514");

    let results = db.ingest_batch(json!([{"phone": phone(1)}, {"phone": phone(2)}, {"phone": phone(3)}]));

    assert_eq!(results[0]["status"], "assigned");
    assert_eq!(results[1], json!({"status": "invalid", "error": "lead_violates_constraint"}));
    assert_eq!(results[2]["status"], "assigned");
    assert_eq!(db.scalar_i64("select count(*) from leads"), 2);
}

#[test]
fn a_bad_value_caused_by_an_item_marks_only_that_item_invalid_with_a_stable_code() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    fail_inserts_of(&mut db, &phone(2), "22001");

    let results = db.ingest_batch(json!([{"phone": phone(1)}, {"phone": phone(2)}]));

    assert_eq!(results[0]["status"], "assigned");
    assert_eq!(results[1], json!({"status": "invalid", "error": "invalid_lead_value"}));
}

// 6. the clock read after the assignment lock: the SLA sweep too (the lead,
// batch and drain paths are covered by 10_clock_after_the_lock)

#[test]
fn an_sla_sweep_that_waited_for_the_lock_judges_staleness_at_the_time_it_decides() {
    let mut db = Db::new();
    let first = db.add_caller(Caller::named("A"));
    db.add_caller(Caller::named("B"));
    db.client.execute("update settings set sla_minutes = 1", &[]).unwrap();
    let lead = db.ingest(json!({"phone": phone(1)}));
    assert_eq!(lead["caller_id"], first);
    // Stale one second from now.
    db.client
        .execute(
            "update leads set assigned_at = clock_timestamp() - interval '59 seconds' where id = $1",
            &[&lead["lead_id"].as_i64()],
        )
        .unwrap();
    let mut holder = db.connect();
    let mut tx = holder.transaction().unwrap();
    tx.execute("select engine.lock_assignments()", &[]).unwrap();
    let url = db.db.url.clone();
    let sweep = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client.query_one("select reassign_stale_leads()", &[]).unwrap().get::<_, Value>(0)
    });

    // The sweep starts before the lead is stale and decides after.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    tx.commit().unwrap();
    let answer = sweep.join().unwrap();

    assert_eq!(answer["moved"], 1, "{answer}");
}
