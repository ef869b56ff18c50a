//! The hourly rollup of today (migration
//! 20261130003500_report_today_by_hour.sql): every row of
//! `engine.report_hours` and `engine.report_hour_first_contacts` equals what
//! the leads and the assignment log of its hour sum to, after the job built
//! today's closed hours, after a late status change, a reassignment and a
//! delete (whose quarter hour is marked dirty and computed live until the
//! job rebuilds the hour), after a zone change, when an hour closes and
//! across midnight; report() reads the closed hours from the rollup, and
//! its answer equals the live computation throughout.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::report_support::{
    assert_every_range_equals_live_without, db_at, live_without, refresh, report, seed_leads, Rollups, Shape, Stamps,
    NOON,
};
use crate::support::{Caller, Db};

/// Three callers and leads, most of them in today's hours up to now and
/// the rest over the 6 days before, most assigned and contacted a random
/// while after (some before: left out of the median), some converted or
/// lost, and SLA and tier-4 log rows.
const LEADS: Shape = Shape {
    inactive_caller: false,
    states: &[Some("MH"), Some("KA"), None],
    created: "case when random() < 0.8 then engine.now() - random() * interval '12 hours'
                   else engine.now() - random() * interval '7 days' end",
    wait: "1 hour",
    until_now: true,
    stamps: Stamps::Funnel {
        contact_hours: 2,
        qualified_within: "1 hour",
        converted_within: "2 hours",
        lost_within: "2 hours",
    },
    log_within: Some("1 hour"),
};

/// `n` leads of the shape `LEADS` from the random seed `seed`; returns the callers.
fn seed(db: &mut Db, n: i32, seed: f64) -> Vec<i64> {
    seed_leads(db, &LEADS, n, seed)
}

/// The report without any rollup: neither the closed days' nor today's hours'.
fn live(db: &mut Db, preset: &str) -> Value {
    live_without(db, Rollups::DaysAndHours, preset, None, None)
}

fn assert_every_preset_equals_live(db: &mut Db) {
    assert_every_range_equals_live_without(db, Rollups::DaysAndHours, &[]);
}

/// The hours report() reads from the rollup now: built in the current
/// zone, no dirty quarter, ended.
fn covered_hours(db: &mut Db) -> i64 {
    db.scalar_i64(
        "select count(*) from engine.report_built_hours b
          where b.zone = engine.time_zone() and b.ends <= engine.now()
            and not exists (select from engine.report_dirty_quarters q
                             where q.starts > b.starts - interval '15 minutes' and q.starts < b.ends)",
    )
}

/// The dirty quarters (Kolkata, `HH24:MI`) of today's hours before 11:00.
/// (The hour 11:00-12:00 has closed at noon and its quarters are marked by
/// the seed's own stamps, but the job builds it only at 12:10.)
fn dirty_quarters(db: &mut Db) -> Vec<String> {
    db.client
        .query(
            "select to_char(starts at time zone 'Asia/Kolkata', 'HH24:MI') from engine.report_dirty_quarters
              where starts < '2026-11-30 11:00+05:30' order by 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The rows of the hourly rollup of every built hour that differ, either
/// way, from the same figures summed afresh from the leads and the log of
/// that hour (counts per kind and key; first-contact count and sorted
/// values per caller and bucket); and how many rows the rollup has.
fn hours_against_leads(db: &mut Db) -> (i64, i64) {
    let figures = db.scalar_i64(
        "with fresh as (
           select b.starts, x.kind, x.key, x.received, x.assigned, x.contacted, x.qualified, x.converted, x.lost
             from engine.report_built_hours b
            cross join lateral (
              select case grouping(l.caller_id, l.state, l.source)
                       when 3 then 'caller' when 5 then 'state' when 6 then 'source' else 'all' end as kind,
                     case grouping(l.caller_id, l.state, l.source)
                       when 3 then l.caller_id::text when 5 then l.state when 6 then l.source end as key,
                     count(*)::int as received, count(l.caller_id)::int as assigned,
                     count(l.contacted_at)::int as contacted, count(l.qualified_at)::int as qualified,
                     count(l.converted_at)::int as converted, count(l.lost_at)::int as lost
                from leads l
               where l.created_at >= b.starts and l.created_at < b.ends
               group by grouping sets ((l.caller_id), (l.state), (l.source), ())
              union all
              select 'converted_on', null, 0, 0, 0, 0, count(*)::int, 0
                from leads l where l.converted_at >= b.starts and l.converted_at < b.ends
              union all
              select 'sla', g.previous_caller_id::text, count(*)::int, 0, 0, 0, 0, 0
                from assignment_logs g
               where g.reason = 'sla_reassign' and g.created_at >= b.starts and g.created_at < b.ends
               group by g.previous_caller_id
              union all
              select 'overflow', g.caller_id::text, count(*)::int, 0, 0, 0, 0, 0
                from assignment_logs g
               where g.tier = 4 and g.created_at >= b.starts and g.created_at < b.ends
               group by g.caller_id) x),
         stored as (
           select starts, kind, key, received, assigned, contacted, qualified, converted, lost
             from engine.report_hours)
         select count(*) from ((table fresh except all table stored) union all (table stored except all table fresh)) d",
    );
    let contacts = db.scalar_i64(
        "with fresh as (
           select b.starts, l.caller_id,
                  engine.first_contact_bucket(date_part('epoch', l.contacted_at - l.assigned_at)) as bucket,
                  count(*)::int as n,
                  array_agg(date_part('epoch', l.contacted_at - l.assigned_at)
                            order by date_part('epoch', l.contacted_at - l.assigned_at)) as seconds
             from engine.report_built_hours b
             join leads l on l.created_at >= b.starts and l.created_at < b.ends
            where l.caller_id is not null and l.contacted_at >= l.assigned_at
            group by 1, 2, 3),
         stored as (select starts, caller_id, bucket, n, seconds from engine.report_hour_first_contacts)
         select count(*) from ((table fresh except all table stored) union all (table stored except all table fresh)) d",
    );
    let rows = db.scalar_i64("select count(*) from engine.report_hours");
    (figures + contacts, rows)
}

/// A lead created in the closed local hour `hour` of today (Kolkata) that
/// matches `filter` (SQL on `l`), by id.
fn lead_of_hour(db: &mut Db, hour: i32, filter: &str) -> i64 {
    db.client
        .query_one(
            &format!(
                "select min(l.id) from leads l
                  where l.created_at >= '2026-11-30 00:00+05:30'::timestamptz + $1::int * interval '1 hour'
                    and l.created_at < '2026-11-30 01:00+05:30'::timestamptz + $1::int * interval '1 hour'
                    and {filter}"
            ),
            &[&hour],
        )
        .unwrap()
        .get::<_, Option<i64>>(0)
        .unwrap_or_else(|| panic!("a lead of hour {hour} with {filter}"))
}

#[test]
fn the_job_builds_todays_closed_hours_each_equal_to_what_its_leads_and_log_sum_to() {
    let mut db = db_at(NOON);
    seed(&mut db, 3000, 0.21);

    refresh(&mut db);

    // 00:00 to 11:00 local: eleven hours; 11:00-12:00 is still open.
    assert_eq!(covered_hours(&mut db), 11);
    let (differing, rows) = hours_against_leads(&mut db);
    assert_eq!(differing, 0);
    assert!(rows > 11 * 5, "{rows} hour rows");
    assert_every_preset_equals_live(&mut db);
}

#[test]
fn report_reads_the_closed_hours_from_the_rollup_not_from_the_leads() {
    let mut db = db_at(NOON);
    seed(&mut db, 1000, 0.22);
    refresh(&mut db);
    let before = report(&mut db, "today");

    // Tampered with, the rollup shows through: the hour rows are read.
    db.client
        .execute("update engine.report_hours set received = received + 1000 where kind = 'all'", &[])
        .unwrap();

    let after = report(&mut db, "today");
    assert_eq!(
        after["funnel"]["received"].as_i64().unwrap(),
        before["funnel"]["received"].as_i64().unwrap() + 11 * 1000
    );
    assert_ne!(after, live(&mut db, "today"));
}

#[test]
fn a_late_status_change_a_reassignment_and_a_delete_mark_their_quarter_hours_and_the_job_rebuilds_those_hours() {
    let mut db = db_at(NOON);
    let callers = seed(&mut db, 3000, 0.23);
    refresh(&mut db);
    assert!(dirty_quarters(&mut db).is_empty());

    // Leads of the closed hours 02:00, 05:00 and 09:00 move on at noon.
    let contacted = lead_of_hour(&mut db, 2, "l.caller_id is not null and l.contacted_at is null");
    let moved = lead_of_hour(&mut db, 5, &format!("l.caller_id is not null and l.caller_id <> {}", callers[2]));
    let deleted = lead_of_hour(&mut db, 9, "l.caller_id is not null and l.contacted_at >= l.assigned_at");
    let mut expected: Vec<String> = [contacted, moved, deleted].iter().map(|id| marked_quarter_of(&mut db, *id)).collect();
    // The deleted lead's SLA moves and tier-4 rows go with it (cascade):
    // their quarters are marked too, when in a closed hour before 11:00.
    let log_quarters: Vec<String> = db
        .client
        .query(
            "select to_char(date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00+00') at time zone 'Asia/Kolkata', 'HH24:MI')
               from assignment_logs
              where lead_id = $1 and (reason = 'sla_reassign' or tier = 4) and created_at < '2026-11-30 11:00+05:30'",
            &[&deleted],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    expected.extend(log_quarters);
    expected.sort();
    expected.dedup();
    db.client.execute("update leads set status = 'contacted' where id = $1", &[&contacted]).unwrap();
    db.client
        .execute("update leads set caller_id = $2, assigned_at = engine.now() where id = $1", &[&moved, &callers[2]])
        .unwrap();
    db.client.execute("delete from leads where id = $1", &[&deleted]).unwrap();

    let marked = dirty_quarters(&mut db);
    assert_eq!(marked, expected);
    assert!(["02", "05", "09"].iter().all(|h| marked.iter().any(|q| q.starts_with(h))), "{marked:?}");
    assert!(covered_hours(&mut db) <= 8, "the three hours (at least) are computed live");
    let (stale, _) = hours_against_leads(&mut db);
    assert!(stale > 0, "the three hours' rows no longer sum their leads");
    assert_every_preset_equals_live(&mut db);

    refresh(&mut db);

    assert!(dirty_quarters(&mut db).is_empty());
    assert_eq!(covered_hours(&mut db), 11);
    assert_eq!(hours_against_leads(&mut db).0, 0);
    assert_every_preset_equals_live(&mut db);
}

#[test]
fn a_conversion_re_dated_into_a_closed_hour_marks_that_hour_too() {
    let mut db = db_at(NOON);
    seed(&mut db, 1500, 0.24);
    refresh(&mut db);
    let id = lead_of_hour(&mut db, 10, "l.converted_at is null and l.caller_id is not null");

    db.client
        .execute("update leads set converted_at = '2026-11-30 03:20+05:30' where id = $1", &[&id])
        .unwrap();

    // The quarter of its creation (hour 10) and of its new conversion time.
    let created = marked_quarter_of(&mut db, id);
    assert_eq!(dirty_quarters(&mut db), vec!["03:15".to_string(), created]);
    assert_eq!(covered_hours(&mut db), 9);
    assert_every_preset_equals_live(&mut db);
    refresh(&mut db);
    assert_eq!(hours_against_leads(&mut db).0, 0);
    assert_every_preset_equals_live(&mut db);
}

/// The quarter hour (Kolkata, `HH24:MI`) of a lead's creation.
fn marked_quarter_of(db: &mut Db, id: i64) -> String {
    db.client
        .query_one(
            "select to_char(date_bin('15 minutes', created_at, timestamptz '2000-01-01 00:00+00') at time zone 'Asia/Kolkata', 'HH24:MI')
               from leads where id = $1",
            &[&id],
        )
        .unwrap()
        .get(0)
}

#[test]
fn ingest_and_updates_of_the_current_hours_leads_mark_nothing() {
    let mut db = db_at(NOON);
    db.add_caller(Caller::named("A"));
    refresh(&mut db);

    db.ingest(serde_json::json!({"phone": "+919812345678", "state": "MH"}));
    db.client.execute("update leads set status = 'contacted'", &[]).unwrap();

    assert!(dirty_quarters(&mut db).is_empty());
    assert_eq!(report(&mut db, "today")["funnel"]["contacted"], 1);
    assert_eq!(report(&mut db, "today"), live(&mut db, "today"));
}

#[test]
fn a_zone_change_ignores_the_hours_cut_in_the_old_zone_until_the_job_cuts_them_again() {
    let mut db = db_at(NOON);
    seed(&mut db, 3000, 0.25);
    refresh(&mut db);
    assert_eq!(covered_hours(&mut db), 11);

    // Kathmandu is 15 minutes ahead of Kolkata: its hours are another lattice.
    db.client.execute("update settings set time_zone = 'Asia/Kathmandu'", &[]).unwrap();

    assert_eq!(covered_hours(&mut db), 0, "every hour was cut in the old zone");
    assert_every_preset_equals_live(&mut db);

    // A lead of Kolkata's built hour 03:00 changes while the zone is
    // Kathmandu, and the zone goes back before the job ran: the quarter's
    // mark does not depend on the zone, so that hour is read live.
    let id = lead_of_hour(&mut db, 3, "l.caller_id is not null and l.contacted_at is null");
    db.client.execute("update leads set status = 'contacted' where id = $1", &[&id]).unwrap();
    db.client.execute("update settings set time_zone = 'Asia/Kolkata'", &[]).unwrap();

    assert_eq!(covered_hours(&mut db), 10);
    assert!(hours_against_leads(&mut db).0 > 0, "the hour's rows are stale");
    assert_every_preset_equals_live(&mut db);
    refresh(&mut db);
    assert_eq!(covered_hours(&mut db), 11);
    assert_eq!(hours_against_leads(&mut db).0, 0);

    db.client.execute("update settings set time_zone = 'Asia/Kathmandu'", &[]).unwrap();
    refresh(&mut db);

    let zones: Vec<String> = db
        .client
        .query("select distinct zone from engine.report_built_hours", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(zones, vec!["Asia/Kathmandu".to_string()]);
    // 12:15 in Kathmandu: its hours 00:00 to 12:00 are closed, the last
    // one fifteen minutes ago.
    assert_eq!(covered_hours(&mut db), 12);
    assert_eq!(hours_against_leads(&mut db).0, 0);
    assert_every_preset_equals_live(&mut db);
}

#[test]
fn an_hour_that_closes_is_built_ten_minutes_later_and_midnight_drops_the_days_hours() {
    let mut db = db_at("2026-11-30 11:40+05:30");
    seed(&mut db, 1500, 0.26);
    refresh(&mut db);
    assert_eq!(covered_hours(&mut db), 11);

    // Leads arrive at 11:59 in the open hour.
    db.set_now("2026-11-30 11:59+05:30");
    for n in 0..3 {
        db.ingest(serde_json::json!({"phone": format!("+91981234560{n}")}));
    }
    db.set_now("2026-11-30 12:05+05:30");
    refresh(&mut db);
    assert_eq!(covered_hours(&mut db), 11, "11:00-12:00 closes ten minutes after noon, not at once");
    assert_every_preset_equals_live(&mut db);

    db.set_now("2026-11-30 12:10+05:30");
    refresh(&mut db);
    assert_eq!(covered_hours(&mut db), 12);
    assert_eq!(hours_against_leads(&mut db).0, 0);
    let last_all: i64 = db.scalar_i64(
        "select received::bigint from engine.report_hours
          where starts = '2026-11-30 11:00+05:30' and kind = 'all'",
    );
    assert!(last_all >= 3, "the 11:59 leads are in the 11:00 hour: {last_all}");
    assert_every_preset_equals_live(&mut db);

    // After midnight, the day that ended has no hours: its day is rolled up
    // ten minutes after midnight, and until then computed live.
    db.set_now("2026-12-01 00:05+05:30");
    refresh(&mut db);
    assert_eq!(db.scalar_i64("select count(*) from engine.report_built_hours"), 0);
    assert_eq!(db.scalar_i64("select count(*) from engine.report_hours"), 0);
    assert_every_preset_equals_live(&mut db);
    db.set_now("2026-12-01 01:10+05:30");
    refresh(&mut db);
    assert_eq!(covered_hours(&mut db), 1);
    assert_every_preset_equals_live(&mut db);
}

#[test]
fn a_rebuild_waits_for_an_uncommitted_update_of_its_hour_and_then_counts_it() {
    let mut db = db_at(NOON);
    seed(&mut db, 1500, 0.27);
    refresh(&mut db);
    // A lead of the built hour 04:00 is updated again (its quarter already
    // marked and committed: the second update only locks the mark).
    let id = lead_of_hour(&mut db, 4, "l.caller_id is not null and l.lost_at is null and l.converted_at is null");
    db.client.execute("update leads set status = 'lost' where id = $1", &[&id]).unwrap();
    let mut updater = db.connect();
    updater.execute("select set_config('bloc.now', $1, false)", &[&NOON]).unwrap();
    let mut tx = updater.transaction().unwrap();
    tx.execute("update leads set lost_at = null, status = 'new' where id = $1", &[&id]).unwrap();

    let mut rebuilder = db.connect();
    let job = std::thread::spawn(move || {
        rebuilder.execute("select set_config('bloc.now', $1, false)", &[&NOON]).unwrap();
        rebuilder.query_one("select engine.refresh_report_days()", &[]).unwrap();
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(!job.is_finished(), "the rebuild waits at the hour's mark for the update to commit");
    tx.commit().unwrap();
    job.join().unwrap();

    assert!(dirty_quarters(&mut db).is_empty());
    assert_eq!(hours_against_leads(&mut db).0, 0, "the rebuilt hour counts the committed update");
    assert_every_preset_equals_live(&mut db);
}
