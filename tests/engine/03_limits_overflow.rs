//! Daily limits, overflow, unassigned leads and the team's day boundary.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use crate::support::{phone, Caller, Db};

#[test]
fn a_caller_at_its_daily_limit_is_not_chosen_by_the_state_tier() {
    let mut db = Db::new();
    let state_caller = db.add_caller(Caller::named("State").states(&["MH"]).limit(2));
    let other = db.add_caller(Caller::named("Other").limit(10));

    let callers: Vec<Option<i64>> = (0..4).map(|n| db.assign(&phone(n), Some("MH"))).collect();

    assert_eq!(callers, vec![Some(state_caller), Some(state_caller), Some(other), Some(other)]);
    assert_eq!(db.load(state_caller), 2);
}

#[test]
fn a_caller_at_its_daily_limit_is_not_chosen_by_the_global_tier() {
    let mut db = Db::new();
    let small = db.add_caller(Caller::named("Small").limit(1));
    let big = db.add_caller(Caller::named("Big").limit(5));

    for n in 0..5 {
        db.assign(&phone(n), None);
    }

    assert_eq!((db.load(small), db.load(big)), (1, 4));
}

#[test]
fn when_every_caller_is_full_the_least_loaded_takes_the_overflow() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").limit(3));
    let b = db.add_caller(Caller::named("B").limit(1));
    for n in 0..4 {
        db.assign(&phone(n), None);
    }
    assert_eq!((db.load(a), db.load(b)), (3, 1));

    let result = db.ingest(json!({"phone": phone(10)}));

    assert_eq!(result["status"], "assigned");
    assert_eq!(result["caller_id"], b, "B has fewer leads today, though both are full");
    assert_eq!(result["reason"], "overflow");
    assert_eq!(result["tier"], 4);
    let logged: String = db
        .client
        .query_one("select reason from assignment_logs where lead_id = $1", &[&result["lead_id"].as_i64()])
        .unwrap()
        .get(0);
    assert_eq!(logged, "overflow");
}

#[test]
fn overflow_is_unweighted_and_ties_go_to_the_least_recently_assigned() {
    let mut db = Db::new();
    // Limit 1: the first two leads fill both, the next two are overflow.
    let a = db.add_caller(Caller::named("A").limit(1).weight(5));
    let b = db.add_caller(Caller::named("B").limit(1));

    let results: Vec<Option<i64>> = (0..4).map(|n| db.assign(&phone(n), None)).collect();

    assert_eq!(results, vec![Some(a), Some(b), Some(a), Some(b)]);
}

#[test]
fn a_caller_under_its_limit_elsewhere_beats_overflow_in_the_state_tier() {
    let mut db = Db::new();
    let _full_state_caller = db.add_caller(Caller::named("Full").states(&["MH"]).limit(0));
    let free = db.add_caller(Caller::named("Free").states(&["KA"]).limit(3));

    let result = db.ingest(json!({"phone": phone(1), "state": "MH"}));

    assert_eq!(result["caller_id"], free);
    assert_eq!(result["reason"], "global");
}

#[test]
fn a_lead_with_no_eligible_caller_is_stored_unassigned() {
    let mut db = Db::new();
    db.add_caller(Caller::named("Off").inactive());

    let result = db.ingest(json!({"phone": phone(1), "state": "MH"}));

    assert_eq!(result["status"], "unassigned");
    assert!(result["caller_id"].is_null());
    let row = db.client.query_one("select status, caller_id from leads", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), "unassigned");
    assert_eq!(row.get::<_, Option<i64>>(1), None);
    assert_eq!(db.scalar_i64("select count(*) from assignment_logs"), 0);
}

#[test]
fn loads_start_again_at_zero_on_a_new_local_day_in_the_team_time_zone() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").limit(2));
    let b = db.add_caller(Caller::named("B").limit(2));
    // 23:59 in Kolkata is 18:29 UTC; a UTC day would not have turned yet at 00:01 Kolkata.
    db.set_now("2026-03-02 23:59:00+05:30");
    for n in 0..4 {
        db.assign(&phone(n), None);
    }
    assert_eq!(db.ingest(json!({"phone": phone(4)}))["tier"], 4, "both full on March 2");

    db.set_now("2026-03-03 00:01:00+05:30");
    let next_day = db.ingest(json!({"phone": phone(5)}));

    assert_eq!(next_day["tier"], 2, "a new local day starts with empty loads");
    let days: Vec<(i64, String, i32)> = db
        .client
        .query("select caller_id, day::text, assigned from caller_daily_loads order by day, caller_id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let on_march_3 = next_day["caller_id"].as_i64().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(&days[..2], &[(a, "2026-03-02".into(), 3), (b, "2026-03-02".into(), 2)]);
    assert_eq!(days[2], (on_march_3, "2026-03-03".into(), 1));
}

#[test]
fn the_day_boundary_moves_with_the_team_time_zone() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").limit(1));
    db.client.execute("update settings set time_zone = 'America/New_York'", &[]).unwrap();
    // 23:30 on March 2 in New York is 04:30 UTC on March 3.
    db.set_now("2026-03-03 04:30:00+00");

    db.assign(&phone(1), None);

    let day: String = db
        .client
        .query_one("select day::text from caller_daily_loads where caller_id = $1", &[&a])
        .unwrap()
        .get(0);
    assert_eq!(day, "2026-03-02");
}

#[test]
fn an_unknown_time_zone_is_rejected() {
    let mut db = Db::new();

    let result = db.client.execute("update settings set time_zone = 'Mars/Olympus'", &[]);

    assert_eq!(crate::support::sqlstate(result), "22023");
}
