//! The reads made fast for 1,000,000 leads (migrations 20261130002900 and
//! 20261130003000): report() and dashboard_today() run as their owner and
//! give an admin the same answer as before while still refusing everyone
//! else; the zone list is stored, answers as pg_timezone_names did, is
//! refreshed by the service role only, and update_settings still checks
//! PostgreSQL's own zones; engine.local_day_bounds cuts the local days; a
//! caller's closed leads are read from their own index.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

use crate::report_support::{db_at_noon, utc_session};
use crate::support::{as_role, sqlstate, Caller, Db};

/// The zone list as migration 20261130002000 computed it, from
/// pg_timezone_names.
const ZONES_FROM_POSTGRESQL: &str = "
  select jsonb_agg(jsonb_build_object('name', z.name,
                                      'utc_offset_minutes', (date_part('epoch', z.utc_offset) / 60)::integer)
                   order by z.name)
    from pg_timezone_names z
   where z.name = 'UTC'
      or z.name ~ '^(Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific)/'";

/// Three callers and 600 leads over the 40 local days up to now, with
/// stamps and assignment logs, from a fixed random seed; the closed days
/// from 2026-11-01 on rolled up, so a report reads both the rollup and the
/// leads.
fn seed(db: &mut Db) -> Vec<i64> {
    let callers = vec![db.add_caller(Caller::named("A")), db.add_caller(Caller::named("B")), db.add_caller(Caller::named("C"))];
    db.client.execute("select setseed(0.24)", &[]).unwrap();
    db.client
        .execute(
            "insert into leads (phone, status, caller_id, assigned_at, created_at, state, source)
             select '+9196' || lpad(x.i::text, 8, '0'),
                    case when x.caller is null then 'unassigned' else 'new' end,
                    x.caller, x.at + x.wait, x.at,
                    (array['MH', 'KA', null])[1 + floor(random() * 3)::int],
                    (array['ads', 'web'])[1 + floor(random() * 2)::int]
               from (select i, engine.now() - random() * interval '40 days' as at,
                            random() * interval '1 hour' as wait,
                            case when random() < 0.1 then null else ($1::bigint[])[1 + floor(random() * 3)::int] end as caller
                       from generate_series(1, 600) as i) x",
            &[&callers],
        )
        .unwrap();
    db.client
        .batch_execute(
            "update leads set contacted_at = least(engine.now(), assigned_at + random() * interval '2 hours')
              where caller_id is not null and random() < 0.7;
             update leads set converted_at = least(engine.now(), contacted_at + random() * interval '2 days'),
                              qualified_at = contacted_at
              where contacted_at is not null and random() < 0.3;
             insert into assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, created_at)
             select l.id, l.caller_id, null, 'overflow', 4, l.assigned_at from leads l
              where l.caller_id is not null and random() < 0.2;
             select engine.rebuild_report_days('2026-11-01', '2026-11-29');",
        )
        .unwrap();
    callers
}

#[test]
fn an_admin_reads_the_same_report_and_dashboard_as_the_owner() {
    let mut db = db_at_noon();
    seed(&mut db);
    let admin = db.add_member("admin@example.com", "admin", None);
    let reads = |tx: &mut postgres::Transaction<'_>| -> Vec<Value> {
        let mut answers: Vec<Value> =
            ["today", "7d", "30d"].iter().map(|p| tx.query_one("select report($1)", &[p]).unwrap().get(0)).collect();
        answers.push(tx.query_one("select dashboard_today()", &[]).unwrap().get(0));
        answers
    };
    let as_owner = {
        let mut tx = db.client.transaction().unwrap();
        let answers = reads(&mut tx);
        tx.rollback().unwrap();
        answers
    };

    let as_admin = as_role(&mut db.client, "authenticated", Some(&admin), |tx| reads(tx));

    assert!(as_owner[2]["funnel"]["received"].as_i64().unwrap() > 300, "{}", as_owner[2]["funnel"]);
    assert_eq!(as_admin, as_owner);
}

#[test]
fn callers_strangers_and_anon_are_refused_the_report_and_the_dashboard_before_anything_is_read() {
    let mut db = db_at_noon();
    let callers = seed(&mut db);
    let caller = db.add_member("a@example.com", "caller", Some(callers[0]));
    let stranger = db
        .client
        .query_one("insert into auth.users (email) values ('x@example.com') returning id::text", &[])
        .unwrap()
        .get::<_, String>(0);

    for (role, sub) in [("authenticated", Some(caller.as_str())), ("authenticated", Some(stranger.as_str())), ("anon", None)] {
        let report = as_role(&mut db.client, role, sub, |tx| sqlstate(tx.query_one("select report('30d')", &[])));
        let dashboard = as_role(&mut db.client, role, sub, |tx| sqlstate(tx.query_one("select dashboard_today()", &[])));
        let refused = (report, dashboard);
        assert_eq!(refused, ("42501".to_string(), "42501".to_string()), "{role} {sub:?}");
    }
}

#[test]
fn the_api_role_is_the_request_s_role_also_inside_a_function_run_as_its_owner() {
    let mut db = Db::new();
    db.client
        .batch_execute(
            "create function public.api_role_as_owner() returns text language sql security definer
               set search_path = '' as $$ select engine.api_role() $$;
             grant execute on function public.api_role_as_owner() to authenticated, service_role;",
        )
        .unwrap();

    let as_authenticated =
        as_role(&mut db.client, "authenticated", None, |tx| tx.query_one("select public.api_role_as_owner()", &[]).unwrap().get::<_, String>(0));
    let as_service =
        as_role(&mut db.client, "service_role", None, |tx| tx.query_one("select public.api_role_as_owner()", &[]).unwrap().get::<_, String>(0));
    let as_login: String = db.client.query_one("select public.api_role_as_owner()", &[]).unwrap().get(0);
    let login: String = db.client.query_one("select session_user::text", &[]).unwrap().get(0);

    assert_eq!((as_authenticated.as_str(), as_service.as_str()), ("authenticated", "service_role"));
    assert_eq!(as_login, login);
}

#[test]
fn the_stored_zone_list_answers_as_pg_timezone_names_did() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);

    let stored = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        tx.query_one("select time_zone_names()", &[]).unwrap().get::<_, Value>(0)
    });
    let from_postgresql: Value = db.client.query_one(ZONES_FROM_POSTGRESQL, &[]).unwrap().get(0);

    assert!(stored.as_array().unwrap().len() > 300);
    assert_eq!(stored, from_postgresql);
}

#[test]
fn only_the_service_role_refreshes_the_zone_list_and_a_refresh_restores_it() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    db.client.execute("delete from engine.time_zone_names where name <> 'UTC'", &[]).unwrap();

    let by_admin = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        sqlstate(tx.query_one("select engine.refresh_time_zone_names()", &[]))
    });
    let listed = as_role(&mut db.client, "service_role", None, |tx| {
        let listed: i32 = tx.query_one("select engine.refresh_time_zone_names()", &[]).unwrap().get(0);
        let zones: Value = tx.query_one("select time_zone_names()", &[]).unwrap().get(0);
        (listed, zones)
    });
    let from_postgresql: Value = db.client.query_one(ZONES_FROM_POSTGRESQL, &[]).unwrap().get(0);

    assert_eq!(by_admin, "42501");
    assert_eq!(usize::try_from(listed.0).unwrap(), from_postgresql.as_array().unwrap().len());
    assert_eq!(listed.1, from_postgresql);
}

#[test]
fn update_settings_checks_postgresql_s_own_zones_not_the_stored_list() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    db.client
        .batch_execute(
            "delete from engine.time_zone_names where name = 'Asia/Tokyo';
             insert into engine.time_zone_names (name) values ('Mars/Olympus_Mons');",
        )
        .unwrap();

    let (tokyo, legacy, mars) = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        let tokyo = sqlstate(tx.query_one("select update_settings(p_time_zone => 'Asia/Tokyo')", &[]));
        let legacy = sqlstate(tx.query_one("select update_settings(p_time_zone => 'US/Eastern')", &[]));
        let mars = sqlstate(tx.query_one("select update_settings(p_time_zone => 'Mars/Olympus_Mons')", &[]));
        (tokyo, legacy, mars)
    });

    assert_eq!((tokyo.as_str(), legacy.as_str()), ("ok (no error)", "ok (no error)"));
    assert_eq!(mars, "22023");
}

#[test]
fn a_local_day_s_bounds_are_its_two_local_midnights_also_on_daylight_saving_days() {
    let mut db = utc_session();
    let bounds = |db: &mut Db, day: &str, zone: &str| -> (String, String, f64) {
        let row = db
            .client
            .query_one(
                "select b.starts::text, b.ends::text, extract(epoch from b.ends - b.starts)::float8 / 3600
                   from engine.local_day_bounds($1::text::date, $2) b",
                &[&day, &zone],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    };

    assert_eq!(
        bounds(&mut db, "2026-11-30", "Asia/Kolkata"),
        ("2026-11-29 18:30:00+00".to_string(), "2026-11-30 18:30:00+00".to_string(), 24.0)
    );
    assert_eq!(bounds(&mut db, "2026-03-08", "America/New_York").2, 23.0, "spring forward");
    assert_eq!(
        bounds(&mut db, "2026-11-01", "America/New_York"),
        ("2026-11-01 04:00:00+00".to_string(), "2026-11-02 05:00:00+00".to_string(), 25.0),
        "fall back"
    );
}

#[test]
fn a_caller_s_closed_leads_page_is_read_in_order_from_the_closed_index_without_sorting() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("Asha"));
    db.client
        .execute(
            "insert into leads (phone, status, caller_id, assigned_at, created_at, status_changed_at)
             select '+9195' || lpad(i::text, 8, '0'), (array['converted', 'lost', 'new'])[1 + i % 3], $1,
                    now() - i * interval '1 hour', now() - i * interval '1 hour',
                    case when i % 7 = 0 then null else now() - i * interval '1 minute' end
               from generate_series(1, 60) as i",
            &[&caller],
        )
        .unwrap();
    // A handful of rows would be read by a sequential scan whatever the
    // indexes; this asks whether the index can serve the page at all.
    db.client.batch_execute("set time zone 'UTC'; set enable_seqscan = off; set enable_bitmapscan = off").unwrap();
    let page = "select id from leads where caller_id = $1 and status in ('converted', 'lost')
                 order by status_changed_at desc nulls last, id desc limit 20";

    let plan: Vec<String> = db.client.query(&format!("explain {page}"), &[&caller]).unwrap().iter().map(|r| r.get(0)).collect();
    let plan = plan.join("\n");
    let rows: Vec<(Option<String>, i64)> = db
        .client
        .query(&page.replace("select id", "select status_changed_at::text, id"), &[&caller])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    assert!(plan.contains("leads_caller_closed_idx"), "the page uses the closed index:\n{plan}");
    assert!(!plan.contains("Sort"), "the index gives the order, nothing is sorted:\n{plan}");
    assert_eq!(rows.len(), 20);
    let latest_first = rows.windows(2).all(|w| match (&w[0].0, &w[1].0) {
        (Some(a), Some(b)) => a > b || (a == b && w[0].1 > w[1].1),
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (None, None) => w[0].1 > w[1].1,
    });
    assert!(latest_first, "latest change first, never-changed last: {rows:?}");
}

#[test]
fn a_caller_s_queue_counts_are_its_own_open_and_closed_leads_and_zero_for_anyone_else() {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let ravi = db.add_caller(Caller::named("Ravi"));
    db.client
        .execute(
            "insert into leads (phone, status, caller_id, assigned_at)
             select '+9194' || lpad(i::text, 8, '0'),
                    (array['new', 'contacted', 'qualified', 'converted', 'lost'])[1 + i % 5],
                    case when i % 4 = 0 then $2::bigint else $1::bigint end, now()
               from generate_series(1, 40) as i",
            &[&asha, &ravi],
        )
        .unwrap();
    db.client.execute("insert into leads (phone, status) values ('+919400000099', 'unassigned')", &[]).unwrap();
    let expected: Value = db
        .client
        .query_one(
            "select jsonb_build_object(
                      'open', count(*) filter (where status in ('new', 'contacted', 'qualified')),
                      'closed', count(*) filter (where status in ('converted', 'lost')))
               from leads where caller_id = $1",
            &[&asha],
        )
        .unwrap()
        .get(0);
    let caller = db.add_member("asha@example.com", "caller", Some(asha));
    let admin = db.add_member("admin@example.com", "admin", None);

    let counts = |db: &mut Db, user: &str| {
        as_role(&mut db.client, "authenticated", Some(user), |tx| {
            tx.query_one("select caller_queue_counts()", &[]).unwrap().get::<_, Value>(0)
        })
    };
    let as_caller = counts(&mut db, &caller);
    let as_admin = counts(&mut db, &admin);
    let as_anon = as_role(&mut db.client, "anon", None, |tx| sqlstate(tx.query_one("select caller_queue_counts()", &[])));

    assert_eq!(as_caller, expected);
    assert_eq!(as_caller["open"].as_i64().unwrap() + as_caller["closed"].as_i64().unwrap(), 30, "Asha holds 30 of the 40");
    assert_eq!(as_admin, serde_json::json!({"open": 0, "closed": 0}), "an admin holds no leads");
    assert_eq!(as_anon, "42501");
}
