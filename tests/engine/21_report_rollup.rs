//! The report rollup (supabase/migrations/20261130002600_report_rollup.sql):
//! `public.report` read from the rolled-up closed days equals, figure for
//! figure (the median included), the live computation over the leads, on
//! hand-built and randomized data, after updates of closed days, after a
//! zone change and across midnight; and the ingest path writes nothing to it.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::support::{as_role, sqlstate, Caller, Db};

/// Noon on 2026-11-30 in Asia/Kolkata (the default zone).
const NOON: &str = "2026-11-30 12:00+05:30";

fn db_at_noon() -> Db {
    let mut db = Db::new();
    db.client.batch_execute("set time zone 'UTC'").unwrap();
    db.set_now(NOON);
    db
}

/// Four callers (one inactive) and `n` leads spread at random over the 40
/// local days up to now, with random callers, states, sources, stamps and
/// assignment logs (SLA moves, tier 4). Seeded, so every run is the same.
fn seed_random(db: &mut Db, n: i32, seed: f64) -> Vec<i64> {
    let callers = vec![
        db.add_caller(Caller::named("A")),
        db.add_caller(Caller::named("B")),
        db.add_caller(Caller::named("C")),
        db.add_caller(Caller::named("D").inactive()),
    ];
    db.client.execute("select setseed($1)", &[&seed]).unwrap();
    db.client
        .execute(
            "insert into leads (phone, status, caller_id, assigned_at, created_at, state, source)
             select '+9197' || lpad(x.i::text, 8, '0'),
                    case when x.caller is null then 'unassigned' else 'new' end,
                    x.caller, x.at + x.wait, x.at,
                    (array['MH', 'KA', 'DL', null])[1 + floor(random() * 4)::int],
                    (array['ads', 'web', null])[1 + floor(random() * 3)::int]
               from (select i,
                            engine.now() - random() * interval '40 days' as at,
                            random() * interval '2 hours' as wait,
                            case when random() < 0.1 then null
                                 else ($2::bigint[])[1 + floor(random() * 4)::int] end as caller
                       from generate_series(1, $1) as i) x",
            &[&n, &callers],
        )
        .unwrap();
    // Stamps: contacted at a random moment after assignment (some before
    // it: left out of the median), then qualified, converted or lost.
    db.client
        .batch_execute(
            "update leads set contacted_at = least(engine.now(),
                                  assigned_at + (random() * 3 - 0.3) * interval '1 hour')
              where caller_id is not null and random() < 0.7;
             update leads set qualified_at = least(engine.now(), contacted_at + random() * interval '1 day')
              where contacted_at is not null and random() < 0.5;
             update leads set converted_at = least(engine.now(), qualified_at + random() * interval '3 days')
              where qualified_at is not null and random() < 0.5;
             update leads set lost_at = least(engine.now(), created_at + random() * interval '2 days')
              where converted_at is null and random() < 0.2;",
        )
        .unwrap();
    db.client
        .execute(
            "insert into assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, created_at)
             select l.id, l.caller_id, ($1::bigint[])[1 + floor(random() * 4)::int],
                    case when random() < 0.5 then 'sla_reassign' else 'overflow' end,
                    case when random() < 0.5 then 4 else 2 end,
                    l.created_at + random() * interval '3 hours'
               from leads l
              where l.caller_id is not null and random() < 0.3",
            &[&callers],
        )
        .unwrap();
    callers
}

fn report(db: &mut Db, preset: &str) -> Value {
    db.client.query_one("select report($1)", &[&preset]).unwrap().get(0)
}

fn custom(db: &mut Db, from: &str, to: &str) -> Value {
    db.client
        .query_one("select report('custom', $1::text::date, $2::text::date)", &[&from, &to])
        .unwrap()
        .get(0)
}

/// The same report computed live from the leads: the rollup is forgotten
/// inside a transaction that is rolled back.
fn live(db: &mut Db, preset: &str, from: Option<&str>, to: Option<&str>) -> Value {
    let mut tx = db.client.transaction().unwrap();
    tx.execute("delete from engine.report_built_days", &[]).unwrap();
    let out: Value = tx
        .query_one("select report($1, $2::text::date, $3::text::date)", &[&preset, &from, &to])
        .unwrap()
        .get(0);
    tx.rollback().unwrap();
    out
}

fn rebuild(db: &mut Db, from: &str, to: &str) -> i32 {
    db.client
        .query_one("select engine.rebuild_report_days($1::text::date, $2::text::date)", &[&from, &to])
        .unwrap()
        .get(0)
}

fn refresh(db: &mut Db) -> i32 {
    db.client.query_one("select engine.refresh_report_days()", &[]).unwrap().get(0)
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

fn dirty(db: &mut Db) -> Vec<String> {
    db.client
        .query("select day::text from engine.report_dirty_days order by day", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn assert_every_range_equals_live(db: &mut Db) {
    for preset in ["today", "7d", "30d"] {
        assert_eq!(report(db, preset), live(db, preset, None, None), "preset {preset}");
    }
    for (from, to) in [("2026-10-21", "2026-11-30"), ("2026-11-01", "2026-11-15"), ("2026-11-29", "2026-11-29")] {
        assert_eq!(custom(db, from, to), live(db, "custom", Some(from), Some(to)), "custom {from}..{to}");
    }
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
        assert!(
            r["per_caller"].as_array().unwrap().iter().all(|c| !c["median_first_contact_seconds"].is_null()),
            "every caller has a median to compare: {}",
            r["per_caller"]
        );
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
    assert!(dirty(&mut db).is_empty());

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

    let marked = dirty(&mut db);
    assert!(marked.contains(&"2026-11-27".to_string()), "{marked:?}");
    assert!(marked.iter().all(|d| ["2026-11-10", "2026-11-25", "2026-11-27"].contains(&d.as_str())), "{marked:?}");
    assert_every_range_equals_live(&mut db);

    let rebuilt = refresh(&mut db);

    assert!(rebuilt >= marked.len() as i32, "{rebuilt} days rebuilt");
    assert!(dirty(&mut db).is_empty());
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
    let mut db = Db::new();
    db.client.batch_execute("set time zone 'UTC'").unwrap();
    db.set_now("2026-11-29 23:50+05:30");
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
    assert!(dirty(&mut db).is_empty());

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

    assert!(dirty(&mut db).is_empty());
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
