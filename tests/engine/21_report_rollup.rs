//! The report rollup (supabase/migrations/20261130002600_report_rollup.sql):
//! `public.report` read from the rolled-up closed days equals, figure for
//! figure (the median included), the live computation over the leads, on
//! hand-built and randomized data, after updates of closed days, after a
//! zone change and across midnight; and the ingest path writes nothing to it.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::report_support::{
    assert_every_caller_has_a_median, assert_every_range_equals_live_without, db_at, db_at_noon, dirty_days,
    live_without, rebuild, refresh, report, seed_leads, Rollups, Shape, Stamps,
};
use crate::support::{as_role, sqlstate, Caller, Db};

/// Four callers (one inactive) and leads spread at random over the 40
/// local days up to now, with random callers, states, sources, stamps and
/// assignment logs (SLA moves, tier 4).
const LEADS: Shape = Shape {
    inactive_caller: true,
    states: &[Some("MH"), Some("KA"), Some("DL"), None],
    created: "engine.now() - random() * interval '40 days'",
    wait: "2 hours",
    until_now: false,
    stamps: Stamps::Funnel {
        contact_hours: 3,
        qualified_within: "1 day",
        converted_within: "3 days",
        lost_within: "2 days",
    },
    log_within: Some("3 hours"),
};

/// `n` leads of the shape `LEADS` from the random seed `seed`; returns the callers.
fn seed_random(db: &mut Db, n: i32, seed: f64) -> Vec<i64> {
    seed_leads(db, &LEADS, n, seed)
}

/// The report computed without the day rollup (today's closed hours are
/// still read from theirs, as report() reads them).
fn live(db: &mut Db, preset: &str, from: Option<&str>, to: Option<&str>) -> Value {
    live_without(db, Rollups::Days, preset, from, to)
}

/// How many days of `[from, to]` report() reads from the rollup.
fn covered(db: &mut Db) -> i64 {
    db.client
        .query_one(
            "select count(*) from engine.report_built_days b
              where b.zone = engine.time_zone() and b.day < engine.local_day(engine.now())
                and not exists (select from engine.report_dirty_days x where x.day = b.day)",
            &[],
        )
        .unwrap()
        .get(0)
}

/// report() equals the live computation for the presets and three custom
/// ranges: 40 days, half a month, one day.
fn assert_every_range_equals_live(db: &mut Db) {
    let custom_ranges = [("2026-10-21", "2026-11-30"), ("2026-11-01", "2026-11-15"), ("2026-11-29", "2026-11-29")];
    assert_every_range_equals_live_without(db, Rollups::Days, &custom_ranges);
}

#[test]
fn a_report_from_the_rollup_equals_the_live_report_on_randomized_data() {
    for seed in [0.11, 0.57, -0.3] {
        let mut db = db_at_noon();
        seed_random(&mut db, 3000, seed);

        let built = rebuild(&mut db, "2026-10-20", "2026-11-30");

        assert_eq!(built, 41, "10-20 to 11-29: today is never rolled up");
        assert_eq!(covered(&mut db), 41);
        let r = report(&mut db, "30d");
        assert!(r["funnel"]["received"].as_i64().unwrap() > 2000, "{}", r["funnel"]);
        assert_every_caller_has_a_median(&r);
        assert_every_range_equals_live(&mut db);
    }
}

#[test]
fn a_rolled_up_day_is_read_from_the_rollup_not_from_the_leads() {
    let mut db = db_at_noon();
    seed_random(&mut db, 300, 0.2);
    rebuild(&mut db, "2026-11-01", "2026-11-29");
    let before = report(&mut db, "30d");

    // Only the rollup changes: a report that read the leads would not see it.
    db.client
        .execute("update engine.report_days set received = received + 1000 where day = '2026-11-20' and kind = 'all'", &[])
        .unwrap();
    let after = report(&mut db, "30d");

    assert_eq!(
        after["funnel"]["received"].as_i64().unwrap(),
        before["funnel"]["received"].as_i64().unwrap() + 1000
    );
    assert_eq!(live(&mut db, "30d", None, None), before, "the live computation is untouched");
}

#[test]
fn status_updates_and_a_reassignment_on_closed_days_stay_exact_and_the_job_rebuilds_those_days() {
    let mut db = db_at_noon();
    let callers = seed_random(&mut db, 1500, 0.4);
    rebuild(&mut db, "2026-10-20", "2026-11-29");
    assert!(dirty_days(&mut db).is_empty());

    // Leads of 11-10 and 11-25 move on today: status stamps (through the
    // engine's stamping trigger) and a reassignment.
    let ids: Vec<i64> = db
        .client
        .query(
            "select id from leads where engine.local_day(created_at) in ('2026-11-10', '2026-11-25')
                and caller_id is not null and contacted_at is null order by id limit 6",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids.len(), 6);
    db.client.execute("update leads set status = 'converted' where id = $1", &[&ids[0]]).unwrap();
    db.client.execute("update leads set status = 'contacted' where id = $1", &[&ids[1]]).unwrap();
    db.client.execute("update leads set status = 'lost' where id = $1", &[&ids[2]]).unwrap();
    db.client
        .execute("update leads set caller_id = $2, assigned_at = engine.now() where id = $1", &[&ids[3], &callers[2]])
        .unwrap();
    // A conversion re-dated into a closed day moves that day's "converted".
    db.client
        .execute("update leads set converted_at = '2026-11-27 10:00+05:30' where id = $1", &[&ids[4]])
        .unwrap();
    db.client.execute("delete from leads where id = $1", &[&ids[5]]).unwrap();

    let marked = dirty_days(&mut db);
    assert!(marked.contains(&"2026-11-27".to_string()), "{marked:?}");
    assert!(marked.iter().all(|d| ["2026-11-10", "2026-11-25", "2026-11-27"].contains(&d.as_str())), "{marked:?}");
    assert_every_range_equals_live(&mut db);

    let rebuilt = refresh(&mut db);

    assert!(rebuilt >= marked.len() as i32, "{rebuilt} days rebuilt");
    assert!(dirty_days(&mut db).is_empty());
    assert_every_range_equals_live(&mut db);
}

#[test]
fn a_zone_change_computes_every_day_live_until_the_job_rebuilds_it_in_the_new_zone() {
    let mut db = db_at_noon();
    seed_random(&mut db, 1500, 0.7);
    rebuild(&mut db, "2026-10-20", "2026-11-29");
    let in_kolkata = report(&mut db, "30d");

    db.client.execute("update settings set time_zone = 'America/Los_Angeles'", &[]).unwrap();

    assert_eq!(covered(&mut db), 0, "every day was cut in the old zone");
    let in_los_angeles = report(&mut db, "30d");
    assert_ne!(in_los_angeles["range"], in_kolkata["range"]);
    assert_every_range_equals_live(&mut db);

    while refresh(&mut db) > 0 {}

    assert!(covered(&mut db) >= 40);
    assert_every_range_equals_live(&mut db);
}

#[test]
fn across_midnight_the_day_that_ended_is_closed_by_the_job_and_today_stays_live() {
    let mut db = db_at("2026-11-29 23:50+05:30");
    seed_random(&mut db, 800, 0.9);
    while refresh(&mut db) > 0 {}
    let last_built: String =
        db.client.query_one("select max(day)::text from engine.report_built_days", &[]).unwrap().get(0);
    assert_eq!(last_built, "2026-11-28", "11-29 is still today");

    // An update at 23:58 of a lead of 11-29 marks nothing (its day is today).
    db.set_now("2026-11-29 23:58+05:30");
    db.client
        .execute(
            "update leads set status = 'converted' where id = (select min(id) from leads
              where engine.local_day(created_at) = '2026-11-29' and caller_id is not null and converted_at is null)",
            &[],
        )
        .unwrap();
    assert!(dirty_days(&mut db).is_empty());

    db.set_now("2026-11-30 00:05+05:30");
    assert_eq!(refresh(&mut db), 0, "11-29 is closed ten minutes after midnight, not at once");
    assert_eq!(report(&mut db, "7d"), live(&mut db, "7d", None, None));

    db.set_now("2026-11-30 00:20+05:30");
    assert_eq!(refresh(&mut db), 1);
    let last_built: String =
        db.client.query_one("select max(day)::text from engine.report_built_days", &[]).unwrap().get(0);
    assert_eq!(last_built, "2026-11-29");
    assert_eq!(report(&mut db, "7d"), live(&mut db, "7d", None, None));
    assert_eq!(report(&mut db, "30d"), live(&mut db, "30d", None, None));
}

#[test]
fn the_median_is_exact_when_the_middle_ranks_straddle_two_buckets_of_the_histogram() {
    let mut db = db_at_noon();
    let a = db.add_caller(Caller::named("A"));
    // Four contacts on 11-20: 10 s, 100 s, 1000 s and 10000 s after
    // assignment, each in its own bucket; the median is (100 + 1000) / 2.
    for (n, seconds) in [(1, 10), (2, 100), (3, 1000), (4, 10000)] {
        db.client
            .execute(
                "insert into leads (phone, status, caller_id, assigned_at, contacted_at, created_at)
                 values ('+91980000000' || $1::text, 'contacted', $2, '2026-11-20 10:00+05:30',
                         '2026-11-20 10:00+05:30'::timestamptz + $3::int * interval '1 second',
                         '2026-11-20 10:00+05:30')",
                &[&n.to_string(), &a, &seconds],
            )
            .unwrap();
    }
    rebuild(&mut db, "2026-11-20", "2026-11-20");
    let buckets: i64 = db
        .client
        .query_one("select count(*) from engine.report_first_contacts where caller_id = $1", &[&a])
        .unwrap()
        .get(0);
    assert_eq!(buckets, 4);

    let r = report(&mut db, "30d");

    assert_eq!(r["per_caller"][0]["median_first_contact_seconds"], 550);
    assert_eq!(r, live(&mut db, "30d", None, None));
}

#[test]
fn ingest_and_updates_of_todays_leads_write_nothing_to_the_rollup() {
    let mut db = db_at_noon();
    db.add_caller(Caller::named("A"));
    rebuild(&mut db, "2026-11-01", "2026-11-29");

    db.ingest(serde_json::json!({"phone": "+919812345678", "state": "MH"}));
    db.client.execute("update leads set status = 'contacted'", &[]).unwrap();

    assert!(dirty_days(&mut db).is_empty());
    let today_rows: i64 = db
        .client
        .query_one("select count(*) from engine.report_days where day >= '2026-11-30'", &[])
        .unwrap()
        .get(0);
    assert_eq!(today_rows, 0);
    assert_eq!(report(&mut db, "today")["funnel"]["contacted"], 1);
}

#[test]
fn admins_and_the_service_role_read_the_rollup_through_report_and_no_api_role_writes_it() {
    let mut db = db_at_noon();
    let callers = seed_random(&mut db, 400, 0.33);
    rebuild(&mut db, "2026-11-01", "2026-11-29");
    let admin = db.add_member("admin@example.com", "admin", None);
    let caller = db.add_member("a@example.com", "caller", Some(callers[0]));
    let owner = report(&mut db, "30d");

    let as_admin: Value = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        tx.query_one("select report('30d')", &[]).unwrap().get(0)
    });
    let as_service: Value =
        as_role(&mut db.client, "service_role", None, |tx| tx.query_one("select report('30d')", &[]).unwrap().get(0));
    let caller_sees: i64 = as_role(&mut db.client, "authenticated", Some(&caller), |tx| {
        tx.query_one("select count(*) from engine.report_days", &[]).unwrap().get(0)
    });
    let admin_writes = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        sqlstate(tx.execute("delete from engine.report_days", &[]))
    });
    let admin_rebuilds = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        sqlstate(tx.query_one("select engine.rebuild_report_days('2026-11-01', '2026-11-02')", &[]))
    });

    assert_eq!(as_admin, owner);
    assert_eq!(as_service, owner);
    assert_eq!(caller_sees, 0, "row level security: admins only");
    assert_eq!((admin_writes.as_str(), admin_rebuilds.as_str()), ("42501", "42501"));
}
