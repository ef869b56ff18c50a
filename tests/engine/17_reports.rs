//! Reports (`public.report`): each definition of its doc comment on
//! hand-built leads and assignment logs, the range presets in the team's
//! time zone, and who may read them.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::report_support::{custom, db_at_noon, report, utc_session, NOON};
use crate::support::{as_role, phone, plain_numbers, sqlstate, Caller, Db};

/// Inserts a lead created at `created_at` and, when `caller` is given,
/// assigned to it at the same moment; returns its id.
fn lead(db: &mut Db, n: u32, caller: Option<i64>, created_at: &str) -> i64 {
    db.client
        .query_one(
            "insert into leads (phone, status, caller_id, assigned_at, created_at)
             values ($1, case when $2::bigint is null then 'unassigned' else 'new' end, $2,
                     case when $2::bigint is null then null else $3::text::timestamptz end, $3::text::timestamptz)
             returning id",
            &[&phone(n), &caller, &created_at],
        )
        .unwrap()
        .get(0)
}

/// Moves a lead to `status` at `at`, through the engine's own stamping
/// trigger (skipping a stage stamps the stages it implies).
fn set_status(db: &mut Db, id: i64, status: &str, at: &str) {
    db.set_now(at);
    db.client.execute("update leads set status = $2 where id = $1", &[&id, &status]).unwrap();
    db.set_now(NOON);
}

fn set_column(db: &mut Db, id: i64, column: &str, value: &str) {
    db.client
        .execute(&format!("update leads set {column} = $2::text::timestamptz where id = $1"), &[&id, &value])
        .unwrap();
}

/// Logs an assignment of `lead` to `caller` at `at`.
fn log(db: &mut Db, lead: i64, caller: i64, previous: Option<i64>, reason: &str, tier: i32, at: &str) {
    db.client
        .execute(
            "insert into assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, created_at)
             values ($1, $2, $3, $4, $5, $6::text::timestamptz)",
            &[&lead, &caller, &previous, &reason, &tier, &at],
        )
        .unwrap();
}

fn caller_row(report: &Value, caller: i64) -> Value {
    report["per_caller"].as_array().unwrap().iter().find(|r| r["caller_id"] == caller).unwrap().clone()
}

#[test]
fn received_counts_the_leads_created_in_the_range_that_each_caller_holds_now() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let b = db.add_caller(Caller::named("B"));
    lead(&mut db, 1, Some(a), "2026-11-30 09:00+05:30");
    lead(&mut db, 2, Some(a), "2026-11-24 00:00+05:30");
    lead(&mut db, 3, Some(a), "2026-11-23 23:59+05:30");
    let moved = lead(&mut db, 4, Some(a), "2026-11-29 10:00+05:30");
    db.client.execute("update leads set caller_id = $2 where id = $1", &[&moved, &b]).unwrap();
    lead(&mut db, 5, None, "2026-11-29 11:00+05:30");

    let r = report(&mut db, "7d");

    assert_eq!(caller_row(&r, a)["received"], 2, "the lead of 11-23 is before the range");
    assert_eq!(caller_row(&r, b)["received"], 1, "a moved lead counts for the caller who holds it");
    assert_eq!(r["funnel"]["received"], 4);
    assert_eq!(r["funnel"]["assigned"], 3);
    assert_eq!(r["funnel"]["unassigned"], 1);
}

#[test]
fn contacted_counts_leads_that_reached_contacted_or_any_later_stage() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let contacted = lead(&mut db, 1, Some(a), "2026-11-30 09:00+05:30");
    let qualified = lead(&mut db, 2, Some(a), "2026-11-30 09:00+05:30");
    let converted = lead(&mut db, 3, Some(a), "2026-11-30 09:00+05:30");
    lead(&mut db, 4, Some(a), "2026-11-30 09:00+05:30");
    set_status(&mut db, contacted, "contacted", "2026-11-30 09:10+05:30");
    set_status(&mut db, qualified, "qualified", "2026-11-30 09:10+05:30");
    set_status(&mut db, converted, "converted", "2026-11-30 09:10+05:30");

    let r = report(&mut db, "today");

    assert_eq!(caller_row(&r, a)["contacted"], 3);
    assert_eq!(r["funnel"]["contacted"], 3);
}

#[test]
fn qualified_counts_leads_that_reached_qualified_or_converted() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let contacted = lead(&mut db, 1, Some(a), "2026-11-30 09:00+05:30");
    let qualified = lead(&mut db, 2, Some(a), "2026-11-30 09:00+05:30");
    let converted = lead(&mut db, 3, Some(a), "2026-11-30 09:00+05:30");
    set_status(&mut db, contacted, "contacted", "2026-11-30 09:10+05:30");
    set_status(&mut db, qualified, "qualified", "2026-11-30 09:10+05:30");
    set_status(&mut db, converted, "converted", "2026-11-30 09:10+05:30");

    let r = report(&mut db, "today");

    assert_eq!(caller_row(&r, a)["qualified"], 2);
    assert_eq!(r["funnel"]["qualified"], 2);
}

#[test]
fn converted_follows_the_leads_of_the_range_past_its_end() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let late = lead(&mut db, 1, Some(a), "2026-11-29 23:00+05:30");
    let early = lead(&mut db, 2, Some(a), "2026-11-28 10:00+05:30");
    lead(&mut db, 3, Some(a), "2026-11-29 10:00+05:30");
    set_status(&mut db, late, "converted", "2026-11-30 10:00+05:30");
    set_status(&mut db, early, "converted", "2026-11-29 10:00+05:30");

    let r = custom(&mut db, "2026-11-29", "2026-11-29");

    assert_eq!(caller_row(&r, a)["received"], 2);
    assert_eq!(caller_row(&r, a)["converted"], 1, "converted the next morning still counts; a lead of 11-28 does not");
    assert_eq!(r["funnel"]["converted"], 1);
}

#[test]
fn lost_counts_leads_marked_lost_even_when_reopened() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let lost = lead(&mut db, 1, Some(a), "2026-11-30 09:00+05:30");
    let reopened = lead(&mut db, 2, Some(a), "2026-11-30 09:00+05:30");
    lead(&mut db, 3, Some(a), "2026-11-30 09:00+05:30");
    set_status(&mut db, lost, "lost", "2026-11-30 09:30+05:30");
    set_status(&mut db, reopened, "lost", "2026-11-30 09:30+05:30");
    set_status(&mut db, reopened, "contacted", "2026-11-30 10:30+05:30");

    let r = report(&mut db, "today");

    assert_eq!(caller_row(&r, a)["lost"], 2);
    assert_eq!(r["funnel"]["lost"], 2);
}

#[test]
fn the_conversion_rate_is_converted_over_received_and_null_without_leads() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let idle = db.add_caller(Caller::named("Idle"));
    for n in 0..3 {
        let id = lead(&mut db, n, Some(a), "2026-11-30 09:00+05:30");
        if n == 0 {
            set_status(&mut db, id, "converted", "2026-11-30 09:30+05:30");
        }
    }

    let r = report(&mut db, "today");

    assert_eq!(caller_row(&r, a)["conversion_rate"], json!(0.3333));
    assert_eq!(caller_row(&r, idle)["conversion_rate"], Value::Null);
    assert_eq!(caller_row(&r, idle)["received"], 0, "a caller without leads still has a row");
    assert_eq!(r["funnel"]["conversion_rate"], json!(0.3333));
}

#[test]
fn the_median_time_to_first_contact_counts_from_the_latest_assignment() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    for (n, at) in [(1, "09:05"), (2, "09:10"), (3, "10:00")] {
        let id = lead(&mut db, n, Some(a), "2026-11-30 09:00+05:30");
        set_status(&mut db, id, "contacted", &format!("2026-11-30 {at}+05:30"));
    }
    let from_backlog = lead(&mut db, 4, None, "2026-11-30 06:00+05:30");
    db.client
        .execute(
            "update leads set caller_id = $2, status = 'new', assigned_at = '2026-11-30 09:00+05:30' where id = $1",
            &[&from_backlog, &a],
        )
        .unwrap();
    set_status(&mut db, from_backlog, "contacted", "2026-11-30 09:20+05:30");
    let contacted_before_a_move = lead(&mut db, 5, Some(a), "2026-11-30 09:00+05:30");
    set_column(&mut db, contacted_before_a_move, "contacted_at", "2026-11-30 09:01+05:30");
    set_column(&mut db, contacted_before_a_move, "assigned_at", "2026-11-30 11:00+05:30");

    let r = report(&mut db, "today");

    // 5, 10, 20 and 60 minutes: the backlog's wait and the lead contacted
    // before its move are not the caller's.
    assert_eq!(caller_row(&r, a)["median_first_contact_seconds"], 15 * 60);
}

#[test]
fn the_median_time_to_first_contact_is_null_without_a_contacted_lead() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    lead(&mut db, 1, Some(a), "2026-11-30 09:00+05:30");

    let r = report(&mut db, "today");

    assert_eq!(caller_row(&r, a)["median_first_contact_seconds"], Value::Null);
}

#[test]
fn lost_to_sla_counts_the_range_s_sla_moves_that_took_a_lead_from_the_caller() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let b = db.add_caller(Caller::named("B"));
    let first = lead(&mut db, 1, Some(b), "2026-11-30 07:00+05:30");
    let second = lead(&mut db, 2, Some(a), "2026-11-30 07:00+05:30");
    log(&mut db, first, b, Some(a), "sla_reassign", 2, "2026-11-30 09:00+05:30");
    log(&mut db, second, a, Some(b), "sla_reassign", 2, "2026-11-30 09:30+05:30");
    log(&mut db, second, a, Some(b), "manual", 2, "2026-11-30 09:40+05:30");
    log(&mut db, first, b, Some(a), "sla_reassign", 2, "2026-11-29 23:00+05:30");

    let r = report(&mut db, "today");

    assert_eq!(caller_row(&r, a)["lost_to_sla"], 1, "yesterday's move and manual moves do not count");
    assert_eq!(caller_row(&r, b)["lost_to_sla"], 1);
}

#[test]
fn overflow_received_counts_the_range_s_tier_4_assignments_to_the_caller() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let b = db.add_caller(Caller::named("B"));
    let one = lead(&mut db, 1, Some(a), "2026-11-30 07:00+05:30");
    let two = lead(&mut db, 2, Some(a), "2026-11-30 07:00+05:30");
    log(&mut db, one, a, None, "overflow", 4, "2026-11-30 07:00+05:30");
    log(&mut db, two, a, Some(b), "sla_reassign", 4, "2026-11-30 09:00+05:30");
    log(&mut db, two, b, None, "state_match", 1, "2026-11-30 07:00+05:30");
    log(&mut db, one, a, None, "overflow", 4, "2026-11-29 07:00+05:30");

    let r = report(&mut db, "today");

    assert_eq!(caller_row(&r, a)["overflow_received"], 2, "any reason in tier 4, today only");
    assert_eq!(caller_row(&r, b)["overflow_received"], 0);
}

#[test]
fn per_day_lists_every_local_day_with_its_leads_and_that_day_s_conversions() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let old = lead(&mut db, 1, Some(a), "2026-11-20 10:00+05:30");
    let fresh = lead(&mut db, 2, Some(a), "2026-11-28 10:00+05:30");
    lead(&mut db, 3, Some(a), "2026-11-28 23:59+05:30");
    lead(&mut db, 4, Some(a), "2026-11-30 00:00+05:30");
    set_status(&mut db, old, "converted", "2026-11-29 10:00+05:30");
    set_status(&mut db, fresh, "converted", "2026-11-30 11:00+05:30");

    let r = report(&mut db, "7d");

    let days: Vec<(String, i64, i64)> = r["per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["day"].as_str().unwrap().to_string(), d["leads"].as_i64().unwrap(), d["converted"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        days,
        vec![
            ("2026-11-24".to_string(), 0, 0),
            ("2026-11-25".to_string(), 0, 0),
            ("2026-11-26".to_string(), 0, 0),
            ("2026-11-27".to_string(), 0, 0),
            ("2026-11-28".to_string(), 2, 0),
            ("2026-11-29".to_string(), 0, 1),
            ("2026-11-30".to_string(), 1, 1),
        ]
    );
}

#[test]
fn today_s_conversions_per_day_equal_the_dashboard_s_converted() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    let old = lead(&mut db, 1, Some(a), "2026-11-20 10:00+05:30");
    set_status(&mut db, old, "converted", "2026-11-30 10:00+05:30");

    let r = report(&mut db, "today");
    let dashboard: Value = db.client.query_one("select dashboard_today()", &[]).unwrap().get(0);

    assert_eq!(r["per_day"][0]["converted"], dashboard["converted"]);
    assert_eq!(r["per_day"][0]["converted"], 1);
}

#[test]
fn by_state_and_by_source_group_the_leads_of_the_range_largest_first() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    for (n, state, source) in [(1, Some("MH"), Some("meta")), (2, Some("MH"), Some("google")), (3, Some("KA"), Some("meta")), (4, None, None)] {
        let id = lead(&mut db, n, Some(a), "2026-11-30 09:00+05:30");
        db.client.execute("update leads set state = $2, source = $3 where id = $1", &[&id, &state, &source]).unwrap();
        if n == 1 {
            set_status(&mut db, id, "converted", "2026-11-30 10:00+05:30");
        }
    }
    lead(&mut db, 9, Some(a), "2026-11-29 09:00+05:30");

    let r = report(&mut db, "today");

    assert_eq!(plain_numbers(r["by_state"][0].clone()), json!({"key": "MH", "received": 2, "converted": 1, "conversion_rate": 0.5}));
    assert_eq!(r["by_state"].as_array().unwrap().len(), 3);
    assert_eq!(r["by_state"][2]["key"], Value::Null, "leads without a state come last among equals");
    assert_eq!(plain_numbers(r["by_source"][0].clone()), json!({"key": "meta", "received": 2, "converted": 1, "conversion_rate": 0.5}));
    assert_eq!(r["by_source"].as_array().unwrap().len(), 3);
}

#[test]
fn presets_resolve_local_days_across_local_midnight() {
    let mut db = utc_session();
    // 18:45 UTC on 11-30 is already 00:15 on 12-01 in Asia/Kolkata.
    db.set_now("2026-11-30 18:45+00");
    let a = db.add_caller(Caller::named("A"));
    lead(&mut db, 1, Some(a), "2026-11-30 18:20+00");
    lead(&mut db, 2, Some(a), "2026-11-30 18:40+00");

    let today = report(&mut db, "today");
    let week = report(&mut db, "7d");
    let month = report(&mut db, "30d");

    assert_eq!(
        today["range"],
        json!({"preset": "today", "from": "2026-12-01", "to": "2026-12-01", "days": 1,
               "time_zone": "Asia/Kolkata", "starts": "2026-11-30T18:30:00+00:00", "ends": "2026-12-01T18:30:00+00:00"})
    );
    assert_eq!(today["funnel"]["received"], 1, "23:50 local on 11-30 is yesterday");
    assert_eq!((week["range"]["from"].as_str(), week["range"]["days"].as_i64()), (Some("2026-11-25"), Some(7)));
    assert_eq!(week["funnel"]["received"], 2);
    assert_eq!((month["range"]["from"].as_str(), month["range"]["to"].as_str()), (Some("2026-11-02"), Some("2026-12-01")));
    assert_eq!(month["per_day"].as_array().unwrap().len(), 30);
}

#[test]
fn a_custom_range_keeps_a_daylight_saving_day_s_true_length() {
    let mut db = db_at_noon();
    db.client.execute("update settings set time_zone = 'America/New_York'", &[]).unwrap();

    let r = custom(&mut db, "2026-11-01", "2026-11-01");

    // New York leaves daylight saving time on 2026-11-01: a 25-hour day.
    assert_eq!(r["range"]["starts"], "2026-11-01T04:00:00+00:00");
    assert_eq!(r["range"]["ends"], "2026-11-02T05:00:00+00:00");
}

#[test]
fn a_bad_range_is_refused_with_22023() {
    let mut db = db_at_noon();

    let cases = [
        sqlstate(db.client.query_one("select report('yesterday')", &[])),
        sqlstate(db.client.query_one("select report(null)", &[])),
        sqlstate(db.client.query_one("select report('custom', '2026-11-01', null)", &[])),
        sqlstate(db.client.query_one("select report('custom', '2026-11-02', '2026-11-01')", &[])),
        sqlstate(db.client.query_one("select report('custom', '2025-01-01', '2026-11-01')", &[])),
        sqlstate(db.client.query_one("select report('7d', '2026-11-01', '2026-11-02')", &[])),
    ];

    assert_eq!(cases, ["22023", "22023", "22023", "22023", "22023", "22023"].map(String::from));
}

#[test]
fn a_custom_range_of_366_days_is_accepted() {
    let mut db = db_at_noon();

    let r = custom(&mut db, "2025-12-01", "2026-12-01");

    assert_eq!(r["range"]["days"], 366);
    assert_eq!(r["per_day"].as_array().unwrap().len(), 366);
}

#[test]
fn only_admins_and_the_service_role_read_reports() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    lead(&mut db, 1, Some(a), "2026-11-30 09:00+05:30");
    let admin = db.add_member("admin@example.com", "admin", None);
    let caller = db.add_member("a@example.com", "caller", Some(a));
    let stranger = db
        .client
        .query_one("insert into auth.users (email) values ('x@example.com') returning id::text", &[])
        .unwrap()
        .get::<_, String>(0);

    let as_admin = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        tx.query_one("select report('today') -> 'funnel' ->> 'received'", &[]).unwrap().get::<_, String>(0)
    });
    let as_service = as_role(&mut db.client, "service_role", None, |tx| {
        tx.query_one("select report('today') -> 'funnel' ->> 'received'", &[]).unwrap().get::<_, String>(0)
    });
    let as_caller = as_role(&mut db.client, "authenticated", Some(&caller), |tx| {
        sqlstate(tx.query_one("select report('today')", &[]))
    });
    let as_stranger = as_role(&mut db.client, "authenticated", Some(&stranger), |tx| {
        sqlstate(tx.query_one("select report('today')", &[]))
    });
    let as_anon = as_role(&mut db.client, "anon", None, |tx| sqlstate(tx.query_one("select report('today')", &[])));

    assert_eq!((as_admin.as_str(), as_service.as_str()), ("1", "1"));
    assert_eq!((as_caller.as_str(), as_stranger.as_str(), as_anon.as_str()), ("42501", "42501", "42501"));
}
