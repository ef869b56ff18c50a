//! The weekly first-contact histogram of report() (migration
//! 20261130003100_report_weekly_first_contacts.sql): every row of
//! `engine.report_first_contact_weeks` equals the sum of the day rows of
//! `engine.report_first_contacts` it stands for (count and sorted values),
//! after a rebuild, after a late status change and the job's rebuild of its
//! day, after a day rebuilt by hand and after a zone change; report() reads
//! a week only when its 7 days are covered, and its answer equals the live
//! computation throughout.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::report_support::{
    assert_every_caller_has_a_median, assert_every_range_equals_live_without, custom, db_at_noon, dirty_days,
    live_without, rebuild, refresh, report, seed_leads, Rollups, Shape, Stamps,
};
use crate::support::Db;

/// Three callers and leads over the 40 local days up to now, most of them
/// assigned and contacted a random while after (some before: left out of
/// the median), some converted.
const LEADS: Shape = Shape {
    inactive_caller: false,
    states: &[Some("MH"), Some("KA"), None],
    created: "engine.now() - random() * interval '40 days'",
    wait: "2 hours",
    until_now: false,
    stamps: Stamps::ContactedAndConverted { contact_hours: 3, converted_within: "2 days" },
    log_within: None,
};

/// `n` leads of the shape `LEADS` from the random seed `seed`; returns the callers.
fn seed(db: &mut Db, n: i32, seed: f64) -> Vec<i64> {
    seed_leads(db, &LEADS, n, seed)
}

/// The report computed without the day rollup (today's closed hours are
/// still read from theirs, as report() reads them).
fn live(db: &mut Db, preset: &str, from: Option<&str>, to: Option<&str>) -> Value {
    live_without(db, Rollups::Days, preset, from, to)
}

/// The (week, caller, bucket) rows that differ between the week table and
/// the sum of the day rows of each week (count or sorted values), either
/// way; and how many week rows there are.
fn weeks_against_days(db: &mut Db) -> (i64, i64) {
    let row = db
        .client
        .query_one(
            "with summed as (
               select date_trunc('week', f.day::timestamp)::date as week, f.caller_id, f.bucket,
                      count(*)::integer as n, array_agg(s.seconds order by s.seconds) as seconds
                 from engine.report_first_contacts f
                 cross join lateral unnest(f.seconds) as s (seconds)
                group by 1, 2, 3)
             select count(*) filter (where w.n is distinct from d.n or w.seconds is distinct from d.seconds
                                        or w.n is distinct from cardinality(w.seconds)),
                    count(w.week)
               from engine.report_first_contact_weeks w
               full join summed d on d.week = w.week and d.caller_id = w.caller_id and d.bucket = w.bucket",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

/// report() equals the live computation for the presets, a range that
/// cuts three weeks, one inside a week, and one of whole weeks only.
fn assert_every_range_equals_live(db: &mut Db) {
    let custom_ranges = [("2026-11-04", "2026-11-20"), ("2026-11-10", "2026-11-12"), ("2026-11-02", "2026-11-29")];
    assert_every_range_equals_live_without(db, Rollups::Days, &custom_ranges);
}

#[test]
fn each_week_row_is_the_sum_of_its_days_rows_and_the_report_equals_the_live_one() {
    for s in [0.21, -0.64] {
        let mut db = db_at_noon();
        seed(&mut db, 2500, s);

        let built = rebuild(&mut db, "2026-10-20", "2026-11-29");

        assert_eq!(built, 41);
        let (differing, weeks) = weeks_against_days(&mut db);
        assert_eq!(differing, 0);
        assert!(weeks > 100, "{weeks} week rows");
        let r = report(&mut db, "30d");
        assert_every_caller_has_a_median(&r);
        assert_every_range_equals_live(&mut db);
    }
}

#[test]
fn the_report_reads_a_whole_covered_week_from_the_week_table() {
    let mut db = db_at_noon();
    seed(&mut db, 1500, 0.5);
    rebuild(&mut db, "2026-10-20", "2026-11-29");
    let before = custom(&mut db, "2026-11-02", "2026-11-29");

    // Only the week table changes: every first-contact value of the four
    // weeks becomes one hour (the counts stay); a report that read the day
    // rows would not see it. The range is whole weeks: no loose day, no
    // live one.
    db.client
        .execute("update engine.report_first_contact_weeks set seconds = array_fill(3600::float8, array[n])", &[])
        .unwrap();
    let after = custom(&mut db, "2026-11-02", "2026-11-29");

    for caller in after["per_caller"].as_array().unwrap() {
        assert_eq!(caller["median_first_contact_seconds"], 3600, "{caller}");
    }
    assert_ne!(before["per_caller"], after["per_caller"]);
    assert_eq!(before, live(&mut db, "custom", Some("2026-11-02"), Some("2026-11-29")));
}

#[test]
fn a_late_first_contact_on_a_closed_day_is_exact_at_once_and_its_week_follows_the_rebuild() {
    let mut db = db_at_noon();
    seed(&mut db, 1500, 0.8);
    rebuild(&mut db, "2026-10-20", "2026-11-29");
    // A lead of Wednesday 11-18 (week of 11-16) is contacted only now, two
    // weeks late: a value far above every other, so its bucket is new.
    let (id, caller): (i64, i64) = {
        let row = db
            .client
            .query_one(
                "select id, caller_id from leads
                  where engine.local_day(created_at) = '2026-11-18' and caller_id is not null
                    and contacted_at is null
                  order by id limit 1",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };
    let bucket_n = |db: &mut Db| -> i64 {
        db.scalar_i64(&format!(
            "select coalesce(sum(n), 0) from engine.report_first_contact_weeks
              where week = '2026-11-16' and caller_id = {caller}"
        ))
    };
    let before = bucket_n(&mut db);

    db.client.execute("update leads set status = 'contacted' where id = $1", &[&id]).unwrap();

    assert_eq!(dirty_days(&mut db), ["2026-11-18"]);
    assert_eq!(bucket_n(&mut db), before, "the week waits for the rebuild (and is not read meanwhile)");
    assert_every_range_equals_live(&mut db);

    // The job (it also builds the empty closed days before 10-20).
    while refresh(&mut db) > 0 {}

    assert_eq!(db.scalar_i64("select count(*) from engine.report_dirty_days"), 0);
    assert_eq!(bucket_n(&mut db), before + 1);
    assert_eq!(weeks_against_days(&mut db).0, 0);
    assert_every_range_equals_live(&mut db);
}

#[test]
fn a_day_rebuilt_by_hand_after_a_backdated_lead_re_sums_its_week() {
    let mut db = db_at_noon();
    let callers = seed(&mut db, 800, 0.3);
    rebuild(&mut db, "2026-10-20", "2026-11-29");
    // Inserted by hand into a rolled-up day (no trigger marks it): seen once
    // the day is rebuilt, and so is its week.
    db.client
        .execute(
            "insert into leads (phone, status, caller_id, assigned_at, contacted_at, created_at)
             values ('+919899999999', 'contacted', $1, '2026-11-11 10:00+05:30',
                     '2026-11-11 10:00:07+05:30', '2026-11-11 10:00+05:30')",
            &[&callers[1]],
        )
        .unwrap();
    let sevens = |db: &mut Db| -> i64 {
        db.scalar_i64(
            "select count(*) from engine.report_first_contact_weeks w, unnest(w.seconds) s
              where w.week = '2026-11-09' and s = 7",
        )
    };
    assert_eq!(sevens(&mut db), 0);

    assert_eq!(rebuild(&mut db, "2026-11-11", "2026-11-11"), 1);

    assert_eq!(sevens(&mut db), 1);
    assert_eq!(weeks_against_days(&mut db).0, 0);
    assert_every_range_equals_live(&mut db);
}

#[test]
fn after_a_zone_change_no_week_is_read_until_its_days_are_rebuilt_in_the_new_zone() {
    let mut db = db_at_noon();
    seed(&mut db, 1500, 0.9);
    rebuild(&mut db, "2026-10-20", "2026-11-29");

    db.client.execute("update settings set time_zone = 'America/Los_Angeles'", &[]).unwrap();

    assert_every_range_equals_live(&mut db);
    while refresh(&mut db) > 0 {}
    assert_eq!(weeks_against_days(&mut db).0, 0);
    assert_every_range_equals_live(&mut db);
}
