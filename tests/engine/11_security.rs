//! The holes closed by issue 11, each as PostgREST would reach it: a sign-up
//! claiming a caller's seat, engine functions open to every role, a caller
//! stalling ingestion through the `callers` lock, callers reading their
//! colleagues' figures in the assignment log, and writable id sequences.
//! docs/security.md gives the threat model these belong to.

#![allow(clippy::unwrap_used)]

use postgres::Client;
use serde_json::json;

use crate::support::{as_role, phone, sqlstate, Caller, Db};

/// A login with `email`; confirmed when `confirmed`. Returns its id.
fn sign_up(client: &mut Client, email: &str, confirmed: bool) -> Result<String, postgres::Error> {
    client
        .query_one(
            "insert into auth.users (email, email_confirmed_at)
             values ($1, case when $2 then now() end) returning id::text",
            &[&email, &confirmed],
        )
        .map(|r| r.get(0))
}

fn create_caller(db: &mut Db, name: &str, email: &str) -> i64 {
    db.client
        .query_one("insert into callers (name, email) values ($1, $2) returning id", &[&name, &email])
        .unwrap()
        .get(0)
}

fn linked_user(db: &mut Db, caller_id: i64) -> Option<String> {
    db.client.query_one("select user_id::text from callers where id = $1", &[&caller_id]).unwrap().get(0)
}

fn membership(db: &mut Db, user_id: &str) -> Option<(String, Option<i64>)> {
    db.client
        .query_opt("select role, caller_id from team_members where user_id = $1::text::uuid", &[&user_id])
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

/// A second session holding the assignment lock until it is dropped.
fn hold_assignment_lock(db: &Db) -> Client {
    let mut holder = db.connect();
    holder.batch_execute("begin; select engine.lock_assignments();").unwrap();
    holder
}

// 1. Caller links: only a confirmed login gets a caller's seat.

#[test]
fn an_unconfirmed_sign_up_with_a_callers_email_gets_no_seat() {
    let mut db = Db::new();
    let priya = create_caller(&mut db, "Priya", "priya@example.com");

    let attacker = sign_up(&mut db.client, "priya@example.com", false).unwrap();

    assert_eq!(linked_user(&mut db, priya), None);
    assert_eq!(membership(&mut db, &attacker), None);
}

#[test]
fn a_caller_created_after_an_unconfirmed_sign_up_is_not_linked_to_it() {
    let mut db = Db::new();
    let attacker = sign_up(&mut db.client, "priya@example.com", false).unwrap();

    let priya = create_caller(&mut db, "Priya", "priya@example.com");

    assert_eq!(linked_user(&mut db, priya), None);
    assert_eq!(membership(&mut db, &attacker), None);
}

#[test]
fn confirming_the_email_links_the_login_to_its_caller() {
    let mut db = Db::new();
    let priya = create_caller(&mut db, "Priya", "priya@example.com");
    let user = sign_up(&mut db.client, "priya@example.com", false).unwrap();
    let before = linked_user(&mut db, priya);

    db.client.execute("update auth.users set email_confirmed_at = now() where id = $1::text::uuid", &[&user]).unwrap();

    assert_eq!(before, None);
    assert_eq!(linked_user(&mut db, priya), Some(user.clone()));
    assert_eq!(membership(&mut db, &user), Some(("caller".to_string(), Some(priya))));
}

#[test]
fn a_confirmed_email_change_to_a_callers_email_links_the_login() {
    let mut db = Db::new();
    let priya = create_caller(&mut db, "Priya", "priya@example.com");
    let user = sign_up(&mut db.client, "priya.personal@example.com", true).unwrap();

    // Auth keeps a pending address in `email_change` and writes `email` only
    // once the change is confirmed.
    db.client
        .execute("update auth.users set email_change = 'priya@example.com' where id = $1::text::uuid", &[&user])
        .unwrap();
    let while_pending = linked_user(&mut db, priya);
    db.client
        .execute(
            "update auth.users set email = email_change, email_change = '' where id = $1::text::uuid",
            &[&user],
        )
        .unwrap();

    assert_eq!(while_pending, None);
    assert_eq!(linked_user(&mut db, priya), Some(user.clone()));
    assert_eq!(membership(&mut db, &user), Some(("caller".to_string(), Some(priya))));
}

#[test]
fn an_email_written_without_a_confirmed_change_links_nothing() {
    let mut db = Db::new();
    let priya = create_caller(&mut db, "Priya", "priya@example.com");
    let user = sign_up(&mut db.client, "someone@example.com", true).unwrap();

    // As localbase's `PUT /auth/v1/user` did: no pending change, no confirmation.
    db.client.execute("update auth.users set email = 'priya@example.com' where id = $1::text::uuid", &[&user]).unwrap();

    assert_eq!(linked_user(&mut db, priya), None);
    assert_eq!(membership(&mut db, &user), None);
}

#[test]
fn an_email_change_on_an_unconfirmed_login_links_nothing() {
    let mut db = Db::new();
    let priya = create_caller(&mut db, "Priya", "priya@example.com");
    let user = sign_up(&mut db.client, "someone@example.com", false).unwrap();

    db.client.execute("update auth.users set email = 'priya@example.com' where id = $1::text::uuid", &[&user]).unwrap();

    assert_eq!(linked_user(&mut db, priya), None);
    assert_eq!(membership(&mut db, &user), None);
}

#[test]
fn a_sign_up_and_its_confirmation_do_not_wait_for_the_assignment_lock() {
    let mut db = Db::new();
    let priya = create_caller(&mut db, "Priya", "priya@example.com");
    let arjun = create_caller(&mut db, "Arjun", "arjun@example.com");
    let unconfirmed = sign_up(&mut db.client, "arjun@example.com", false).unwrap();
    let holder = hold_assignment_lock(&db);

    let mut auth = db.connect();
    auth.batch_execute("set lock_timeout = '1s'").unwrap();
    let signed_up = sign_up(&mut auth, "priya@example.com", true);
    let confirmed =
        auth.execute("update auth.users set email_confirmed_at = now() where id = $1::text::uuid", &[&unconfirmed]);
    drop(holder);

    let signed_up = signed_up.expect("a confirmed sign-up completes while an ingest holds the assignment lock");
    confirmed.expect("a confirmation completes while an ingest holds the assignment lock");
    assert_eq!(linked_user(&mut db, priya), Some(signed_up));
    assert_eq!(linked_user(&mut db, arjun), Some(unconfirmed));
}

// 2. Grants: engine functions and identity sequences.

#[test]
fn no_api_role_can_call_the_engines_routing_lock_or_backlog_functions() {
    let mut db = Db::new();
    db.add_caller(Caller::named("Asha"));
    let admin = db.add_member("admin@example.com", "admin", None);
    for (role, sub) in [("authenticated", Some(admin.as_str())), ("anon", None)] {
        for sql in [
            "select engine.choose_caller(null, null, null, now(), current_date)",
            "select engine.lock_assignments()",
            "select engine.drain_backlog()",
            "select engine.book(1, current_date, now())",
            "select engine.lock_phone('+919800000001')",
        ] {
            let result = as_role(&mut db.client, role, sub, |tx| sqlstate(tx.query(sql, &[])));
            assert_eq!(result, "42501", "{role}: {sql}");
        }
    }
}

#[test]
fn a_function_a_later_migration_adds_to_engine_is_executable_by_nobody_it_is_not_granted_to() {
    let mut db = Db::new();

    db.client
        .batch_execute("create function engine.added_later() returns int language sql as 'select 1'")
        .unwrap();
    let executable: Vec<bool> = db
        .client
        .query_one(
            "select array[has_function_privilege('anon', 'engine.added_later()', 'execute'),
                          has_function_privilege('authenticated', 'engine.added_later()', 'execute'),
                          has_function_privilege('service_role', 'engine.added_later()', 'execute')]",
            &[],
        )
        .unwrap()
        .get(0);

    assert_eq!(executable, vec![false, false, false]);
}

#[test]
fn service_role_still_runs_every_ingest_and_maintenance_rpc() {
    let mut db = Db::new();
    db.add_caller(Caller::named("Asha"));

    let results: Vec<String> = as_role(&mut db.client, "service_role", None, |tx| {
        vec![
            tx.query_one("select ingest_lead($1) ->> 'status'", &[&json!({"phone": phone(1)})]).unwrap().get(0),
            tx.query_one("select ingest_leads($1) -> 0 ->> 'status'", &[&json!([{"phone": phone(2)}])]).unwrap().get(0),
            tx.query_one("select assign_backlog()::text", &[]).unwrap().get(0),
            tx.query_one("select reassign_stale_leads()::text", &[]).unwrap().get(0),
            tx.query_one("select dashboard_today() ->> 'received'", &[]).unwrap().get(0),
        ]
    });

    assert_eq!(results[..2], ["assigned", "assigned"]);
    assert_eq!(results[4], "2");
}

#[test]
fn api_roles_cannot_read_advance_or_reset_the_identity_sequences() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);
    for (role, sub) in [("authenticated", Some(admin.as_str())), ("anon", None)] {
        for sequence in ["public.callers_id_seq", "public.leads_id_seq", "public.assignment_logs_id_seq"] {
            for sql in [
                format!("select setval('{sequence}', 1)"),
                format!("select nextval('{sequence}')"),
                format!("select last_value from {sequence}"),
            ] {
                let result = as_role(&mut db.client, role, sub, |tx| sqlstate(tx.query(&sql, &[])));
                assert_eq!(result, "42501", "{role}: {sql}");
            }
        }
    }
}

#[test]
fn an_admin_still_creates_a_caller_without_sequence_privileges() {
    let mut db = Db::new();
    let admin = db.add_member("admin@example.com", "admin", None);

    let created = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        tx.query_one("insert into callers (name) values ('Meera') returning id", &[]).map(|r| r.get::<_, i64>(0))
    });

    assert!(created.is_ok(), "{created:?}");
}

// 3. The lock: only admins, the engine and service_role may write callers.

#[test]
fn a_callers_write_to_callers_is_refused_before_it_takes_the_assignment_lock() {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let ravi = db.add_caller(Caller::named("Ravi"));
    let caller = db.add_member("asha@example.com", "caller", Some(asha));
    let stranger = sign_up(&mut db.client, "stranger@example.com", true).unwrap();
    let holder = hold_assignment_lock(&db);

    let mut refused = Vec::new();
    for sub in [&caller, &stranger] {
        for sql in [
            format!("update callers set daily_lead_limit = 1000 where id = {ravi}"),
            format!("delete from callers where id = {ravi}"),
            "insert into callers (name) values ('Mine')".to_string(),
        ] {
            let result = as_role(&mut db.client, "authenticated", Some(sub), |tx| {
                tx.batch_execute("set local lock_timeout = '1s'").unwrap();
                sqlstate(tx.execute(&sql, &[]))
            });
            refused.push((result, sql));
        }
    }
    drop(holder);

    for (result, sql) in refused {
        assert_eq!(result, "42501", "{sql} (55P03 means it waited for the assignment lock)");
    }
}

#[test]
fn an_admin_editing_a_caller_still_takes_the_assignment_lock() {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let admin = db.add_member("admin@example.com", "admin", None);
    let holder = hold_assignment_lock(&db);

    let result = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        tx.batch_execute("set local lock_timeout = '200ms'").unwrap();
        sqlstate(tx.execute("update callers set weight = 2 where id = $1", &[&asha]))
    });
    drop(holder);

    assert_eq!(result, "55P03", "the admin's edit waited for the assignment lock");
}

#[test]
fn service_role_can_still_edit_callers() {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));

    let changed = as_role(&mut db.client, "service_role", None, |tx| {
        tx.execute("update callers set weight = 2 where id = $1", &[&asha]).unwrap()
    });

    assert_eq!(changed, 1);
}

#[test]
fn every_callers_column_but_user_id_takes_the_assignment_lock() {
    let mut db = Db::new();

    let row = db
        .client
        .query_one(
            "select (select array_agg(a.attname::text order by a.attname)
                       from pg_attribute a
                      where a.attrelid = t.tgrelid and a.attnum = any (t.tgattr)),
                    (select array_agg(a.attname::text order by a.attname)
                       from pg_attribute a
                      where a.attrelid = t.tgrelid and a.attnum > 0 and not a.attisdropped
                        and a.attname <> 'user_id')
               from pg_trigger t
              where t.tgrelid = 'public.callers'::regclass and t.tgname = 'callers_01_lock'",
            &[],
        )
        .unwrap();
    let (locking, expected): (Option<Vec<String>>, Vec<String>) = (row.get(0), row.get(1));

    assert_eq!(locking, Some(expected));
}

// 4. What callers see: their own log rows, without the candidate snapshot.

struct Logged {
    db: Db,
    admin: String,
    caller: String,
    asha: i64,
    ravi: i64,
}

/// Two callers with one assigned lead each (so two log rows with candidates).
fn logged() -> Logged {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let ravi = db.add_caller(Caller::named("Ravi"));
    assert_eq!(db.assign(&phone(1), None), Some(asha));
    assert_eq!(db.assign(&phone(2), None), Some(ravi));
    let admin = db.add_member("admin@example.com", "admin", None);
    let caller = db.add_member("asha@example.com", "caller", Some(asha));
    Logged { db, admin, caller, asha, ravi }
}

#[test]
fn a_caller_reads_its_own_timeline_without_candidates() {
    let mut l = logged();
    let caller = l.caller.clone();

    let rows: Vec<(i64, bool)> = as_role(&mut l.db.client, "authenticated", Some(&caller), |tx| {
        tx.query("select caller_id, candidates is null from assignment_timeline", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    });

    assert_eq!(rows, vec![(l.asha, true)]);
}

#[test]
fn a_caller_reads_no_candidates_from_the_assignment_log_table() {
    let mut l = logged();
    let caller = l.caller.clone();

    let snapshots = as_role(&mut l.db.client, "authenticated", Some(&caller), |tx| {
        tx.query("select candidates::text from assignment_logs", &[]).map(|rows| rows.len())
    });

    assert!(matches!(snapshots, Ok(0) | Err(_)), "a caller read candidate snapshots: {snapshots:?}");
}

#[test]
fn an_admin_reads_every_timeline_row_with_its_candidates() {
    let mut l = logged();
    let admin = l.admin.clone();

    let (timeline, table): (Vec<(i64, i64)>, i64) = as_role(&mut l.db.client, "authenticated", Some(&admin), |tx| {
        let timeline = tx
            .query(
                "select caller_id, json_array_length(candidates)::int8 from assignment_timeline order by id",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let table = tx.query_one("select count(candidates) from assignment_logs", &[]).unwrap().get(0);
        (timeline, table)
    });

    assert_eq!(timeline, vec![(l.asha, 2), (l.ravi, 2)]);
    assert_eq!(table, 2);
}

/// The check Realtime runs for each change and subscriber (localbase's
/// realtime/visibility.rs, Supabase's apply_rls): the row, selected by its
/// primary key under the subscriber's role and claims.
fn realtime_would_deliver(db: &mut Db, role: &str, sub: Option<&str>, log_id: i64) -> bool {
    as_role(&mut db.client, role, sub, |tx| {
        tx.query("select 1 from public.assignment_logs t where t.id = $1", &[&log_id])
            .map(|rows| !rows.is_empty())
            .unwrap_or(false)
    })
}

#[test]
fn realtime_delivers_no_assignment_log_change_to_a_caller_and_every_one_to_an_admin() {
    let mut l = logged();
    let (admin, caller) = (l.admin.clone(), l.caller.clone());
    let own_log = l.db.scalar_i64(&format!("select id from assignment_logs where caller_id = {}", l.asha));

    let to_caller = realtime_would_deliver(&mut l.db, "authenticated", Some(&caller), own_log);
    let to_admin = realtime_would_deliver(&mut l.db, "authenticated", Some(&admin), own_log);

    assert!(!to_caller, "a caller would receive its log row, candidates included");
    assert!(to_admin);
}

#[test]
fn nobody_writes_through_the_timeline_and_anon_cannot_read_it() {
    let mut l = logged();
    let admin = l.admin.clone();

    let writes: Vec<String> = ["update assignment_timeline set note = 'edited'", "delete from assignment_timeline"]
        .iter()
        .map(|sql| as_role(&mut l.db.client, "authenticated", Some(&admin), |tx| sqlstate(tx.execute(*sql, &[]))))
        .collect();
    let anon = as_role(&mut l.db.client, "anon", None, |tx| sqlstate(tx.query("select * from assignment_timeline", &[])));

    assert_eq!(writes, vec!["42501", "42501"]);
    assert_eq!(anon, "42501");
}
