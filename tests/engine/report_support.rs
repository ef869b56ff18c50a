//! Helpers shared by the report tests (17, 21, 24, 25 and 26): a database
//! whose clock is pinned, randomized leads to roll up, report() as it reads
//! now and as the live computation without the rollups, and the rollup job.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::support::{Caller, Db};

/// Noon on Monday 2026-11-30 in Asia/Kolkata (the default zone), the
/// engine's clock in the report tests: `7d` is 11-24 to 11-30; the 30-day
/// range 11-01..11-30 holds the whole weeks of 11-02, 11-09, 11-16 and
/// 11-23, the loose Sunday 11-01, and today; the job has built today's
/// local hours from 00:00 to 11:00, and builds the hour 11:00-12:00 only
/// ten minutes after it ends, at 12:10.
pub const NOON: &str = "2026-11-30 12:00+05:30";

/// A fresh database whose session prints timestamps in UTC, so the
/// range's `starts` and `ends` compare as text.
pub fn utc_session() -> Db {
    let mut db = Db::new();
    db.client.batch_execute("set time zone 'UTC'").unwrap();
    db
}

/// A fresh database in UTC (see `utc_session`) with the engine's clock at `at`.
pub fn db_at(at: &str) -> Db {
    let mut db = utc_session();
    db.set_now(at);
    db
}

pub fn db_at_noon() -> Db {
    db_at(NOON)
}

/// How randomized leads spread over time and move on; each test file
/// names its own (see `seed_leads`).
pub struct Shape {
    /// Callers A, B and C, and also D, inactive.
    pub inactive_caller: bool,
    /// The states drawn from, in order (`None`: a lead without a state).
    pub states: &'static [Option<&'static str>],
    /// A lead's creation moment: SQL that draws on `random()`.
    pub created: &'static str,
    /// The longest wait from creation to assignment (an interval's text).
    pub wait: &'static str,
    /// Assignments and log rows that would fall after now are cut at now.
    pub until_now: bool,
    /// How far the leads get once they are in.
    pub stamps: Stamps,
    /// Log rows (SLA moves and tier-4 assignments) for 30% of the assigned
    /// leads, at most this interval after creation; `None`: no log rows.
    pub log_within: Option<&'static str>,
}

/// The stamps set once the leads are in. Contacts come first: 70% of the
/// assigned leads, up to `contact_hours` after assignment and some (a
/// tenth of that span) before it, which the median leaves out. Every
/// stamp is cut at now.
pub enum Stamps {
    /// 30% of the contacted leads converted within `converted_within`.
    ContactedAndConverted { contact_hours: u32, converted_within: &'static str },
    /// Half of the contacted leads qualified within `qualified_within`,
    /// half of those converted within `converted_within`, and 20% of the
    /// unconverted leads lost within `lost_within` of their creation.
    Funnel {
        contact_hours: u32,
        qualified_within: &'static str,
        converted_within: &'static str,
        lost_within: &'static str,
    },
}

impl Stamps {
    /// The updates that set the stamps, in order.
    fn sql(&self) -> String {
        let contacted = |hours: u32| {
            format!(
                "update leads set contacted_at = least(engine.now(),
                                                       assigned_at + (random() * {hours} - {early}) * interval '1 hour')
                  where caller_id is not null and random() < 0.7;",
                early = f64::from(hours) / 10.0,
            )
        };
        match *self {
            Stamps::ContactedAndConverted { contact_hours, converted_within } => format!(
                "{contacted}
                 update leads set converted_at = least(engine.now(), contacted_at + random() * interval '{converted_within}')
                  where contacted_at is not null and random() < 0.3;",
                contacted = contacted(contact_hours),
            ),
            Stamps::Funnel { contact_hours, qualified_within, converted_within, lost_within } => format!(
                "{contacted}
                 update leads set qualified_at = least(engine.now(), contacted_at + random() * interval '{qualified_within}')
                  where contacted_at is not null and random() < 0.5;
                 update leads set converted_at = least(engine.now(), qualified_at + random() * interval '{converted_within}')
                  where qualified_at is not null and random() < 0.5;
                 update leads set lost_at = least(engine.now(), created_at + random() * interval '{lost_within}')
                  where converted_at is null and random() < 0.2;",
                contacted = contacted(contact_hours),
            ),
        }
    }
}

/// Inserts the callers and `n` leads shaped by `shape` from the random
/// seed `seed`, so every run is the same; returns the callers' ids (A, B,
/// C and, when the shape has one, the inactive D).
pub fn seed_leads(db: &mut Db, shape: &Shape, n: i32, seed: f64) -> Vec<i64> {
    let mut callers =
        vec![db.add_caller(Caller::named("A")), db.add_caller(Caller::named("B")), db.add_caller(Caller::named("C"))];
    if shape.inactive_caller {
        callers.push(db.add_caller(Caller::named("D").inactive()));
    }
    let states: Vec<String> = shape.states.iter().map(|s| s.map_or("null".to_string(), |s| format!("'{s}'"))).collect();
    let until_now = |at: &str| if shape.until_now { format!("least(engine.now(), {at})") } else { at.to_string() };
    db.client.execute("select setseed($1)", &[&seed]).unwrap();
    db.client
        .execute(
            &format!(
                "insert into leads (phone, status, caller_id, assigned_at, created_at, state, source)
                 select '+9197' || lpad(x.i::text, 8, '0'),
                        case when x.caller is null then 'unassigned' else 'new' end,
                        x.caller, {assigned}, x.at,
                        (array[{states}])[1 + floor(random() * {state_count})::int],
                        (array['ads', 'web', null])[1 + floor(random() * 3)::int]
                   from (select i,
                                {created} as at,
                                random() * interval '{wait}' as wait,
                                case when random() < 0.1 then null
                                     else ($2::bigint[])[1 + floor(random() * {caller_count})::int] end as caller
                           from generate_series(1, $1) as i) x",
                assigned = until_now("x.at + x.wait"),
                states = states.join(", "),
                state_count = states.len(),
                created = shape.created,
                wait = shape.wait,
                caller_count = callers.len(),
            ),
            &[&n, &callers],
        )
        .unwrap();
    db.client.batch_execute(&shape.stamps.sql()).unwrap();
    if let Some(within) = shape.log_within {
        db.client
            .execute(
                &format!(
                    "insert into assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, created_at)
                     select l.id, l.caller_id, ($1::bigint[])[1 + floor(random() * {caller_count})::int],
                            case when random() < 0.5 then 'sla_reassign' else 'overflow' end,
                            case when random() < 0.5 then 4 else 2 end,
                            {logged}
                       from leads l
                      where l.caller_id is not null and random() < 0.3",
                    caller_count = callers.len(),
                    logged = until_now(&format!("l.created_at + random() * interval '{within}'")),
                ),
                &[&callers],
            )
            .unwrap();
    }
    callers
}

pub fn report(db: &mut Db, preset: &str) -> Value {
    db.client.query_one("select report($1)", &[&preset]).unwrap().get(0)
}

pub fn custom(db: &mut Db, from: &str, to: &str) -> Value {
    db.client.query_one("select report('custom', $1::text::date, $2::text::date)", &[&from, &to]).unwrap().get(0)
}

/// The rollups a live computation forgets.
#[derive(Clone, Copy)]
pub enum Rollups {
    /// The closed days' rollup (today's hours are still read from theirs).
    Days,
    /// The closed days' rollup and today's hours'.
    DaysAndHours,
}

/// The same report computed live from the leads and the log: `rollups`
/// are forgotten inside a transaction that is rolled back.
pub fn live_without(db: &mut Db, rollups: Rollups, preset: &str, from: Option<&str>, to: Option<&str>) -> Value {
    let forget = match rollups {
        Rollups::Days => "delete from engine.report_built_days",
        Rollups::DaysAndHours => "delete from engine.report_built_days; delete from engine.report_built_hours",
    };
    let mut tx = db.client.transaction().unwrap();
    tx.batch_execute(forget).unwrap();
    let out: Value =
        tx.query_one("select report($1, $2::text::date, $3::text::date)", &[&preset, &from, &to]).unwrap().get(0);
    tx.rollback().unwrap();
    out
}

/// report() equals the live computation without `rollups` for each
/// preset (today, 7d, 30d) and then for each of the `custom_ranges`
/// (first and last day).
pub fn assert_every_range_equals_live_without(db: &mut Db, rollups: Rollups, custom_ranges: &[(&str, &str)]) {
    let presets = ["today", "7d", "30d"].map(|preset| (preset, None, None));
    let customs = custom_ranges.iter().map(|&(from, to)| ("custom", Some(from), Some(to)));
    for (preset, from, to) in presets.into_iter().chain(customs) {
        let now: Value = db
            .client
            .query_one("select report($1, $2::text::date, $3::text::date)", &[&preset, &from, &to])
            .unwrap()
            .get(0);
        assert_eq!(now, live_without(db, rollups, preset, from, to), "{preset} {from:?}..{to:?}");
    }
}

/// Every caller of `report` has a median time to first contact, so a
/// comparison of medians compares numbers.
pub fn assert_every_caller_has_a_median(report: &Value) {
    assert!(
        report["per_caller"].as_array().unwrap().iter().all(|c| !c["median_first_contact_seconds"].is_null()),
        "every caller has a median to compare: {}",
        report["per_caller"]
    );
}

/// Rolls up the closed days of `[from, to]`; returns how many it built.
pub fn rebuild(db: &mut Db, from: &str, to: &str) -> i32 {
    db.client
        .query_one("select engine.rebuild_report_days($1::text::date, $2::text::date)", &[&from, &to])
        .unwrap()
        .get(0)
}

/// One run of the rollup job (closed days, then today's closed hours);
/// returns how many days it rebuilt.
pub fn refresh(db: &mut Db) -> i32 {
    db.client.query_one("select engine.refresh_report_days()", &[]).unwrap().get(0)
}

/// The days marked dirty, in order.
pub fn dirty_days(db: &mut Db) -> Vec<String> {
    db.client
        .query("select day::text from engine.report_dirty_days order by day", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}
