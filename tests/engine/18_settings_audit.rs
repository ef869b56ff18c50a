//! Team settings (issue 12): update_settings validates each field on its
//! own, every change lands in settings_audit, only admins may change
//! settings or read the audit, and team_today() is the engine's own day,
//! in a zone with daylight saving (America/New_York) and one without
//! (Asia/Kolkata).

#![allow(clippy::unwrap_used)]

use postgres::Transaction;
use serde_json::{json, Value};

use crate::support::{as_role, phone, sqlstate, Caller, Db};

/// The SQLSTATE and message of a failed statement.
fn refusal(result: Result<impl Sized, postgres::Error>) -> (String, String) {
    match result {
        Ok(_) => ("ok (no error)".to_string(), String::new()),
        Err(e) => match e.as_db_error() {
            Some(db) => (db.code().code().to_string(), db.message().to_string()),
            None => (e.to_string(), String::new()),
        },
    }
}

fn settings_row(db: &mut Db) -> (String, String, i32, i32) {
    let row = db
        .client
        .query_one("select time_zone, duplicate_window::text, sla_minutes, max_reassignments from settings", &[])
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// The audit rows, oldest first: (field, old, new, email).
fn audit(tx: &mut Transaction<'_>) -> Vec<(String, Option<String>, Option<String>, Option<String>)> {
    tx.query("select field, old_value, new_value, changed_by_email from settings_audit order by id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// update_settings with its arguments read from one JSON object (absent = null).
const UPDATE_SQL: &str = "select update_settings(p_time_zone => $1::jsonb->>'time_zone',
                                p_duplicate_window_minutes => ($1::jsonb->>'duplicate_window_minutes')::int,
                                p_sla_minutes => ($1::jsonb->>'sla_minutes')::int,
                                p_max_reassignments => ($1::jsonb->>'max_reassignments')::int)";

/// Makes the test connection a signed-in user outside any explicit
/// transaction, so each statement commits on its own as a request would.
fn sign_in(db: &mut Db, user: &str) {
    let claims = json!({"sub": user, "role": "authenticated"}).to_string();
    db.client.execute("select set_config('request.jwt.claims', $1, false)", &[&claims]).unwrap();
    db.client.batch_execute("set role authenticated").unwrap();
}

fn sign_out(db: &mut Db) {
    db.client.batch_execute("reset role; select set_config('request.jwt.claims', '', false)").unwrap();
}

fn update(tx: &mut Transaction<'_>, args: Value) -> Result<Value, postgres::Error> {
    tx.query_one(
        UPDATE_SQL,
        &[&args],
    )
    .map(|r| r.get(0))
}

// 1. An admin changes the settings; each change is audited

#[test]
fn an_admin_changes_every_setting_and_each_change_is_audited_with_who_old_and_new() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    db.set_now("2026-11-25 10:00+00");

    let (returned, rows, stamped) = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        let returned = update(
            tx,
            json!({"time_zone": "America/New_York", "duplicate_window_minutes": 90, "sla_minutes": 30, "max_reassignments": 5}),
        )
        .unwrap();
        let stamped: bool = tx
            .query_one(
                "select bool_and(changed_at = '2026-11-25 10:00+00' and changed_by = $1::text::uuid) from settings_audit",
                &[&admin],
            )
            .unwrap()
            .get(0);
        (returned, audit(tx), stamped)
    });

    assert_eq!(
        returned,
        json!({"time_zone": "America/New_York", "duplicate_window_minutes": 90, "sla_minutes": 30,
               "max_reassignments": 5, "updated_at": returned["updated_at"]})
    );
    let email = Some("admin@example.com".to_string());
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        rows,
        vec![
            ("time_zone".into(), some("Asia/Kolkata"), some("America/New_York"), email.clone()),
            ("duplicate_window_minutes".into(), some("1440"), some("90"), email.clone()),
            ("sla_minutes".into(), some("120"), some("30"), email.clone()),
            ("max_reassignments".into(), some("3"), some("5"), email),
        ]
    );
    assert!(stamped, "each audit row carries the engine's clock and the admin's user id");
}

#[test]
fn a_field_left_null_keeps_its_value_and_an_unchanged_value_writes_no_audit_row() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);

    let (returned, rows) = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        let returned = update(tx, json!({"sla_minutes": 120, "max_reassignments": 4})).unwrap();
        (returned, audit(tx))
    });

    assert_eq!(
        (returned["time_zone"].clone(), returned["duplicate_window_minutes"].clone(), returned["sla_minutes"].clone(), returned["max_reassignments"].clone()),
        (json!("Asia/Kolkata"), json!(1440), json!(120), json!(4))
    );
    assert_eq!(rows, vec![("max_reassignments".into(), Some("3".into()), Some("4".into()), Some("admin@example.com".into()))]);
}

#[test]
fn a_change_made_in_sql_is_audited_too_without_a_user() {
    let mut db = Db::new();

    db.client.execute("update settings set sla_minutes = 45", &[]).unwrap();

    let row = db.client.query_one("select field, old_value, new_value, changed_by is null from settings_audit", &[]).unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2), row.get::<_, bool>(3)),
        ("sla_minutes".to_string(), "120".to_string(), "45".to_string(), true)
    );
}

// 2. Each field is validated on its own

#[test]
fn each_bad_field_is_refused_with_22023_naming_the_field_and_nothing_changes() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    let before = settings_row(&mut db);
    let cases = [
        (json!({"time_zone": "Mars/Olympus_Mons"}), "time_zone"),
        (json!({"time_zone": ""}), "time_zone"),
        (json!({"duplicate_window_minutes": -1}), "duplicate_window_minutes"),
        (json!({"duplicate_window_minutes": 525_601}), "duplicate_window_minutes"),
        (json!({"sla_minutes": 0}), "sla_minutes"),
        (json!({"sla_minutes": 10_081}), "sla_minutes"),
        (json!({"max_reassignments": -1}), "max_reassignments"),
        (json!({"max_reassignments": 101}), "max_reassignments"),
        // A good field beside a bad one is not saved either.
        (json!({"time_zone": "Europe/London", "sla_minutes": -5}), "sla_minutes"),
    ];

    sign_in(&mut db, &admin);
    for (args, field) in cases {
        let (code, message) = refusal(db.client.query_one(UPDATE_SQL, &[&args]));
        assert_eq!(code, "22023", "{args}");
        assert!(message.starts_with(&format!("{field} ")), "{args}: the message names {field}: {message}");
    }
    sign_out(&mut db);

    assert_eq!(settings_row(&mut db), before, "no refused request changed anything");
    assert_eq!(db.scalar_i64("select count(*) from settings_audit"), 0);
}

#[test]
fn the_bounds_are_inclusive_and_a_committed_change_is_kept() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    sign_in(&mut db, &admin);

    let saved = db
        .client
        .query_one("select update_settings(p_duplicate_window_minutes => 0, p_sla_minutes => 10080, p_max_reassignments => 0)", &[])
        .unwrap()
        .get::<_, Value>(0);

    sign_out(&mut db);
    assert_eq!((saved["duplicate_window_minutes"].clone(), saved["sla_minutes"].clone(), saved["max_reassignments"].clone()), (json!(0), json!(10080), json!(0)));
    assert_eq!(settings_row(&mut db), ("Asia/Kolkata".to_string(), "00:00:00".to_string(), 10080, 0));
    assert_eq!(db.scalar_i64("select count(*) from settings_audit"), 3);
}

// 3. Only admins

#[test]
fn a_caller_a_stranger_and_anon_cannot_change_the_settings_or_read_the_audit() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("A"));
    let caller_user = db.add_member("caller@example.com", "caller", Some(caller));
    let stranger: String =
        db.client.query_one("insert into auth.users (email) values ('x@example.com') returning id::text", &[]).unwrap().get(0);
    db.client.execute("update settings set sla_minutes = 60", &[]).unwrap();

    for user in [&caller_user, &stranger] {
        let changed = as_role(&mut db.client, "authenticated", Some(user), |tx| sqlstate(update(tx, json!({"sla_minutes": 30}))));
        let seen = as_role(&mut db.client, "authenticated", Some(user), |tx| audit(tx).len());
        assert_eq!((changed.as_str(), seen), ("42501", 0), "user {user}");
    }
    let anon_changes = as_role(&mut db.client, "anon", None, |tx| sqlstate(update(tx, json!({"sla_minutes": 30}))));
    let anon_reads = as_role(&mut db.client, "anon", None, |tx| sqlstate(tx.query("select * from settings_audit", &[])));
    assert_eq!((anon_changes.as_str(), anon_reads.as_str()), ("42501", "42501"));
    assert_eq!(settings_row(&mut db).2, 60);
}

#[test]
fn nobody_can_write_or_erase_the_audit_through_the_api() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    db.client.execute("update settings set sla_minutes = 60", &[]).unwrap();

    for role in ["authenticated", "service_role"] {
        let outcome = [
            "insert into settings_audit (changed_at, field) values (now(), 'sla_minutes')",
            "update settings_audit set new_value = '1'",
            "delete from settings_audit",
        ]
        .map(|sql| as_role(&mut db.client, role, Some(&admin), |tx| sqlstate(tx.execute(sql, &[]))));
        assert_eq!(outcome, ["42501", "42501", "42501"], "{role}");
    }
    let seen = as_role(&mut db.client, "authenticated", Some(&admin), |tx| audit(tx).len());
    assert_eq!(seen, 1, "the admin reads the audit");
}

// 4. The team's day, as the engine computes it

/// team_today() and the engine's own day at the clock `at`, as the admin:
/// (team_today, engine.local_day(engine.now()), dashboard_today().day).
fn days_at(db: &mut Db, admin: &str, at: &str) -> (Value, String, String) {
    db.set_now(at);
    as_role(&mut db.client, "authenticated", Some(admin), |tx| {
        let row = tx
            .query_one(
                "select team_today(), engine.local_day(engine.now())::text, dashboard_today()->>'day'",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1), row.get(2))
    })
}

/// A timestamptz of team_today() as UTC text, `2026-11-01 04:00:00`.
fn utc(db: &mut Db, value: &Value) -> String {
    db.client
        .query_one("select (($1::jsonb #>> '{}')::timestamptz at time zone 'UTC')::text", &[&value])
        .unwrap()
        .get(0)
}

#[test]
fn in_new_york_the_day_that_ends_daylight_saving_is_25_hours_and_matches_the_engine() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    db.client.execute("update settings set time_zone = 'America/New_York'", &[]).unwrap();
    // 2026-11-01: EDT (−04:00) until 06:00 UTC, then EST (−05:00).
    let cases = [
        ("2026-11-01 03:59:59+00", "2026-10-31", -240),
        ("2026-11-01 04:00:00+00", "2026-11-01", -240),
        ("2026-11-01 05:30:00+00", "2026-11-01", -240),
        ("2026-11-01 06:30:00+00", "2026-11-01", -300),
        ("2026-11-02 04:59:59+00", "2026-11-01", -300),
        ("2026-11-02 05:00:00+00", "2026-11-02", -300),
    ];

    for (at, day, offset) in cases {
        let (today, engine_day, dashboard_day) = days_at(&mut db, &admin, at);
        assert_eq!(today["day"], json!(day), "{at}");
        assert_eq!((engine_day.as_str(), dashboard_day.as_str()), (day, day), "{at}: the engine's day");
        assert_eq!(today["utc_offset_minutes"], json!(offset), "{at}");
        assert_eq!(today["time_zone"], json!("America/New_York"));
    }

    let (today, _, _) = days_at(&mut db, &admin, "2026-11-01 05:30:00+00");
    assert_eq!(
        (utc(&mut db, &today["starts_at"]), utc(&mut db, &today["ends_at"]), utc(&mut db, &today["refresh_at"])),
        ("2026-11-01 04:00:00".into(), "2026-11-02 05:00:00".into(), "2026-11-01 06:00:00".into()),
        "25 hours, and the answer is stale when the offset changes at 02:00 EDT"
    );
    let (today, _, _) = days_at(&mut db, &admin, "2026-11-01 06:30:00+00");
    assert_eq!(utc(&mut db, &today["refresh_at"]), "2026-11-02 05:00:00", "after the change, refresh at midnight");
}

#[test]
fn in_new_york_the_day_that_starts_daylight_saving_is_23_hours() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    db.client.execute("update settings set time_zone = 'America/New_York'", &[]).unwrap();

    // 2026-03-08: EST until 07:00 UTC, then EDT.
    let (before, engine_day, _) = days_at(&mut db, &admin, "2026-03-08 06:59:00+00");
    let (after, _, _) = days_at(&mut db, &admin, "2026-03-08 07:00:00+00");

    assert_eq!((before["day"].clone(), engine_day), (json!("2026-03-08"), "2026-03-08".to_string()));
    assert_eq!((before["utc_offset_minutes"].clone(), after["utc_offset_minutes"].clone()), (json!(-300), json!(-240)));
    assert_eq!(
        (utc(&mut db, &before["starts_at"]), utc(&mut db, &before["ends_at"]), utc(&mut db, &before["refresh_at"])),
        ("2026-03-08 05:00:00".into(), "2026-03-09 04:00:00".into(), "2026-03-08 07:00:00".into())
    );
}

#[test]
fn in_kolkata_the_day_starts_at_18_30_utc_and_the_offset_never_changes() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);

    let (today, engine_day, dashboard_day) = days_at(&mut db, &admin, "2026-11-25 19:00:00+00");

    assert_eq!((today["day"].clone(), engine_day.as_str(), dashboard_day.as_str()), (json!("2026-11-26"), "2026-11-26", "2026-11-26"));
    assert_eq!((today["time_zone"].clone(), today["utc_offset_minutes"].clone()), (json!("Asia/Kolkata"), json!(330)));
    assert_eq!(
        (utc(&mut db, &today["starts_at"]), utc(&mut db, &today["ends_at"]), utc(&mut db, &today["refresh_at"]), utc(&mut db, &today["now"])),
        ("2026-11-25 18:30:00".into(), "2026-11-26 18:30:00".into(), "2026-11-26 18:30:00".into(), "2026-11-25 19:00:00".into())
    );
}

#[test]
fn the_bounds_of_the_day_are_the_ones_the_dashboard_counts_leads_in() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    db.add_caller(Caller::named("A"));
    db.client.execute("update settings set time_zone = 'America/New_York'", &[]).unwrap();
    // Leads at the last instant of 31 Oct, the first of 1 Nov, the last of
    // 1 Nov (25 hours later) and the first of 2 Nov, New York time.
    for (n, at) in [(1, "2026-11-01 03:59:59.999+00"), (2, "2026-11-01 04:00:00+00"), (3, "2026-11-02 04:59:59.999+00"), (4, "2026-11-02 05:00:00+00")] {
        db.set_now(at);
        db.ingest(json!({"phone": phone(n)}));
    }

    let (today, _, _) = days_at(&mut db, &admin, "2026-11-01 12:00:00+00");
    let received = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        tx.query_one("select (dashboard_today()->>'received')::int", &[]).unwrap().get::<_, i32>(0)
    });
    let in_bounds = db
        .client
        .query_one(
            "select count(*) from leads where created_at >= ($1::jsonb->>'starts_at')::timestamptz
                                          and created_at < ($1::jsonb->>'ends_at')::timestamptz",
            &[&today],
        )
        .unwrap()
        .get::<_, i64>(0);

    assert_eq!((received, in_bounds), (2, 2), "leads 2 and 3 are on 1 Nov in New York");
}

#[test]
fn a_zone_change_moves_the_day_at_once() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    // 02:00 UTC: 07:30 on the 26th in Kolkata, 21:00 on the 25th in New York.
    let (kolkata, _, _) = days_at(&mut db, &admin, "2026-11-26 02:00:00+00");

    let (new_york, engine_day) = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        update(tx, json!({"time_zone": "America/New_York"})).unwrap();
        let row = tx.query_one("select team_today(), engine.local_day(engine.now())::text", &[]).unwrap();
        (row.get::<_, Value>(0), row.get::<_, String>(1))
    });

    assert_eq!(kolkata["day"], json!("2026-11-26"));
    assert_eq!((new_york["day"].clone(), engine_day), (json!("2026-11-25"), "2026-11-25".to_string()));
    assert_eq!(new_york["utc_offset_minutes"], json!(-300));
}

#[test]
fn team_members_read_the_day_and_strangers_and_anon_do_not() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("A"));
    let caller_user = db.add_member("caller@example.com", "caller", Some(caller));
    let stranger: String =
        db.client.query_one("insert into auth.users (email) values ('x@example.com') returning id::text", &[]).unwrap().get(0);

    let mut call = |user: &str, sql: &str| as_role(&mut db.client, "authenticated", Some(user), |tx| sqlstate(tx.query(sql, &[])));
    let as_caller = (call(&caller_user, "select team_today()"), call(&caller_user, "select team_settings()"));
    let as_stranger = (call(&stranger, "select team_today()"), call(&stranger, "select team_settings()"));
    let as_anon = as_role(&mut db.client, "anon", None, |tx| sqlstate(tx.query("select team_today()", &[])));

    assert_eq!(as_caller, ("ok (no error)".to_string(), "ok (no error)".to_string()));
    assert_eq!(as_stranger, ("42501".to_string(), "42501".to_string()));
    assert_eq!(as_anon, "42501");
}

// 5. The zone list

#[test]
fn the_zone_list_has_the_iana_region_zones_with_their_offsets_and_no_aliases() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);

    let zones = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        tx.query_one("select time_zone_names()", &[]).unwrap().get::<_, Value>(0)
    });

    let zones = zones.as_array().unwrap();
    let names: Vec<&str> = zones.iter().map(|z| z["name"].as_str().unwrap()).collect();
    assert!(names.len() > 300, "{} zones", names.len());
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "by name");
    let kolkata = zones.iter().find(|z| z["name"] == "Asia/Kolkata").unwrap();
    assert_eq!(kolkata["utc_offset_minutes"], json!(330));
    for name in ["America/New_York", "Europe/London", "UTC", "Australia/Lord_Howe"] {
        assert!(names.contains(&name), "{name} is offered");
    }
    for name in ["posix/Asia/Kolkata", "US/Eastern", "EST5EDT", "Etc/GMT+5", "GMT"] {
        assert!(!names.contains(&name), "{name} is an alias and not offered");
    }
    let unknown: i64 = db
        .client
        .query_one(
            "select count(*) from jsonb_array_elements($1::jsonb) z
              where not exists (select 1 from pg_timezone_names n where n.name = z->>'name')",
            &[&Value::Array(zones.clone())],
        )
        .unwrap()
        .get(0);
    assert_eq!(unknown, 0, "every offered zone passes update_settings' check");
}
