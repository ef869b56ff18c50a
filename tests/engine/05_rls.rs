//! Row-level security and grants, as PostgREST applies them: `set local
//! role` plus `request.jwt.claims`.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::support::{as_role, phone, sqlstate, Caller, Db};

struct Team {
    db: Db,
    admin: String,
    alice: String,
    alice_caller: i64,
    bob: String,
    bob_caller: i64,
    alice_lead: i64,
    bob_lead: i64,
}

/// Two callers (Alice, Bob) with one lead each, and an admin.
fn team() -> Team {
    let mut db = Db::new();
    let alice_caller = db.add_caller(Caller::named("Alice"));
    let bob_caller = db.add_caller(Caller::named("Bob"));
    let alice_lead = db.ingest(json!({"phone": phone(1), "name": "For Alice"}));
    let bob_lead = db.ingest(json!({"phone": phone(2), "name": "For Bob"}));
    assert_eq!(alice_lead["caller_id"], alice_caller);
    assert_eq!(bob_lead["caller_id"], bob_caller);
    let admin = db.add_member("admin@example.com", "admin", None);
    let alice = db.add_member("alice@example.com", "caller", Some(alice_caller));
    let bob = db.add_member("bob@example.com", "caller", Some(bob_caller));
    Team {
        db,
        admin,
        alice,
        alice_caller,
        bob,
        bob_caller,
        alice_lead: alice_lead["lead_id"].as_i64().unwrap(),
        bob_lead: bob_lead["lead_id"].as_i64().unwrap(),
    }
}

fn ids(tx: &mut postgres::Transaction<'_>, sql: &str) -> Vec<i64> {
    tx.query(sql, &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

#[test]
fn anon_can_read_no_table() {
    let mut t = team();
    for table in ["leads", "callers", "assignment_logs", "team_members", "settings", "caller_daily_loads"] {
        let result = as_role(&mut t.db.client, "anon", None, |tx| {
            sqlstate(tx.query(&format!("select * from {table}"), &[]))
        });
        assert_eq!(result, "42501", "anon reading {table}");
    }
}

#[test]
fn a_caller_sees_only_its_own_leads() {
    let mut t = team();
    let (alice_lead, alice) = (t.alice_lead, t.alice.clone());

    let seen = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| ids(tx, "select id from leads"));

    assert_eq!(seen, vec![alice_lead]);
}

#[test]
fn a_signed_in_user_who_is_not_on_the_team_sees_no_leads() {
    let mut t = team();
    let stranger: String =
        t.db.client.query_one("insert into auth.users (email) values ('x@example.com') returning id::text", &[]).unwrap().get(0);

    let seen = as_role(&mut t.db.client, "authenticated", Some(&stranger), |tx| {
        (ids(tx, "select id from leads"), ids(tx, "select id from callers"))
    });

    assert_eq!(seen, (vec![], vec![]));
}

#[test]
fn a_caller_cannot_change_another_callers_lead() {
    let mut t = team();
    let (bob_lead, alice) = (t.bob_lead, t.alice.clone());

    let changed = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        tx.execute("update leads set status = 'lost', notes = 'mine now' where id = $1", &[&bob_lead]).unwrap()
    });

    assert_eq!(changed, 0);
    let status: String = t.db.client.query_one("select status from leads where id = $1", &[&bob_lead]).unwrap().get(0);
    assert_eq!(status, "new");
}

#[test]
fn a_caller_can_change_status_and_notes_of_its_own_lead() {
    let mut t = team();
    let (alice_lead, alice) = (t.alice_lead, t.alice.clone());

    let row = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        tx.query_one(
            "update leads set status = 'contacted', notes = 'call back at 5' where id = $1
             returning status, notes, contacted_at is not null",
            &[&alice_lead],
        )
        .unwrap()
    });

    assert_eq!(row.get::<_, String>(0), "contacted");
    assert_eq!(row.get::<_, String>(1), "call back at 5");
    assert!(row.get::<_, bool>(2));
}

#[test]
fn a_caller_cannot_change_caller_id_or_phone() {
    let mut t = team();
    let (alice_lead, alice, bob_caller) = (t.alice_lead, t.alice.clone(), t.bob_caller);

    let moved = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        sqlstate(tx.execute("update leads set caller_id = $1 where id = $2", &[&bob_caller, &alice_lead]))
    });
    let rephoned = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        sqlstate(tx.execute("update leads set phone = '+919999999999' where id = $1", &[&alice_lead]))
    });

    assert_eq!(moved, "42501");
    assert_eq!(rephoned, "42501");
}

#[test]
fn a_caller_cannot_change_a_leads_contact_fields() {
    let mut t = team();
    let (alice_lead, alice) = (t.alice_lead, t.alice.clone());

    let result = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        sqlstate(tx.execute("update leads set name = 'Renamed' where id = $1", &[&alice_lead]))
    });

    assert_eq!(result, "42501");
}

#[test]
fn a_caller_cannot_mark_a_lead_unassigned() {
    let mut t = team();
    let (alice_lead, alice) = (t.alice_lead, t.alice.clone());

    let result = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        sqlstate(tx.execute("update leads set status = 'unassigned' where id = $1", &[&alice_lead]))
    });

    assert_eq!(result, "42501");
}

#[test]
fn a_caller_cannot_reassign_leads() {
    let mut t = team();
    let (alice_lead, alice, alice_caller, bob_caller) = (t.alice_lead, t.alice.clone(), t.alice_caller, t.bob_caller);
    let _ = alice_caller;

    let result = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        sqlstate(tx.query_one("select reassign_lead($1, $2, null)", &[&alice_lead, &bob_caller]))
    });

    assert_eq!(result, "42501");
    let caller: Option<i64> =
        t.db.client.query_one("select caller_id from leads where id = $1", &[&alice_lead]).unwrap().get(0);
    assert_eq!(caller, Some(t.alice_caller));
}

#[test]
fn a_caller_reads_only_its_own_assignment_logs_load_and_caller_row() {
    let mut t = team();
    let (alice, alice_caller) = (t.alice.clone(), t.alice_caller);

    let seen = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        (
            ids(tx, "select caller_id from assignment_timeline"),
            ids(tx, "select caller_id from caller_daily_loads"),
            ids(tx, "select id from callers"),
        )
    });

    assert_eq!(seen, (vec![alice_caller], vec![alice_caller], vec![alice_caller]));
}

#[test]
fn a_caller_cannot_promote_itself_or_edit_callers() {
    let mut t = team();
    let (alice, alice_caller) = (t.alice.clone(), t.alice_caller);

    let promoted = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        tx.execute("update team_members set role = 'admin' where user_id = auth.uid()", &[]).unwrap()
    });
    let raised = as_role(&mut t.db.client, "authenticated", Some(&alice), |tx| {
        sqlstate(tx.execute("update callers set daily_lead_limit = 1000 where id = $1", &[&alice_caller]))
    });

    assert_eq!(promoted, 0);
    assert_eq!(raised, "42501");
}

#[test]
fn nobody_signed_in_can_call_the_ingest_or_maintenance_rpcs() {
    let mut t = team();
    let admin = t.admin.clone();
    let payload = json!({"phone": phone(9)});
    for (role, sub) in [("authenticated", Some(admin.as_str())), ("anon", None)] {
        for sql in [
            "select ingest_lead($1)",
            "select ingest_leads(jsonb_build_array($1::jsonb))",
        ] {
            let result = as_role(&mut t.db.client, role, sub, |tx| sqlstate(tx.query_one(sql, &[&payload])));
            assert_eq!(result, "42501", "{role}: {sql}");
        }
        for sql in ["select assign_backlog()", "select reassign_stale_leads()"] {
            let result = as_role(&mut t.db.client, role, sub, |tx| sqlstate(tx.query_one(sql, &[])));
            assert_eq!(result, "42501", "{role}: {sql}");
        }
    }
    assert_eq!(t.db.scalar_i64("select count(*) from leads"), 2);
}

#[test]
fn service_role_can_call_the_ingest_rpcs() {
    let mut t = team();

    let result: Value = as_role(&mut t.db.client, "service_role", None, |tx| {
        tx.query_one("select ingest_lead($1)", &[&json!({"phone": phone(9)})]).unwrap().get(0)
    });

    assert_eq!(result["status"], "assigned");
}

#[test]
fn an_admin_sees_and_edits_everything_and_reads_the_dashboard() {
    let mut t = team();
    let (admin, alice_lead, bob_lead, bob_caller) = (t.admin.clone(), t.alice_lead, t.bob_lead, t.bob_caller);

    let (leads, updated, callers, dashboard) = as_role(&mut t.db.client, "authenticated", Some(&admin), |tx| {
        let leads = ids(tx, "select id from leads order by id");
        let updated = tx.execute("update leads set name = 'Edited' where id = $1", &[&alice_lead]).unwrap();
        let callers = tx.execute("update callers set daily_lead_limit = 3 where id = $1", &[&bob_caller]).unwrap();
        let dashboard: Value = tx.query_one("select dashboard_today()", &[]).unwrap().get(0);
        (leads, updated, callers, dashboard)
    });

    assert_eq!(leads, vec![alice_lead, bob_lead]);
    assert_eq!((updated, callers), (1, 1));
    assert_eq!(dashboard["received"], 2);
    assert_eq!(dashboard["assigned"], 2);
    assert_eq!(dashboard["per_caller"].as_array().unwrap().len(), 2);
    assert_eq!(dashboard["leads_per_hour"].as_array().unwrap().len(), 24);
}

#[test]
fn a_caller_cannot_read_the_dashboard() {
    let mut t = team();
    let bob = t.bob.clone();

    let result = as_role(&mut t.db.client, "authenticated", Some(&bob), |tx| {
        sqlstate(tx.query_one("select dashboard_today()", &[]))
    });

    assert_eq!(result, "42501");
}

#[test]
fn members_learn_their_own_role_and_caller() {
    let mut t = team();
    let (bob, bob_caller, admin) = (t.bob.clone(), t.bob_caller, t.admin.clone());

    let bob_sees = as_role(&mut t.db.client, "authenticated", Some(&bob), |tx| {
        let row = tx.query_one("select my_role(), my_caller_id()", &[]).unwrap();
        (row.get::<_, Option<String>>(0), row.get::<_, Option<i64>>(1))
    });
    let admin_sees = as_role(&mut t.db.client, "authenticated", Some(&admin), |tx| {
        tx.query_one("select my_role()", &[]).unwrap().get::<_, Option<String>>(0)
    });

    assert_eq!(bob_sees, (Some("caller".into()), Some(bob_caller)));
    assert_eq!(admin_sees.as_deref(), Some("admin"));
}

#[test]
fn every_engine_table_has_row_level_security_and_realtime_streams_the_three_tables() {
    let mut db = Db::new();

    let without_rls = db.scalar_i64(
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity",
    );
    let published: Vec<String> = db
        .client
        .query("select tablename::text from pg_publication_tables where pubname = 'supabase_realtime' order by 1", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    assert_eq!(without_rls, 0);
    assert_eq!(published, vec!["assignment_logs", "callers", "leads"]);
}

#[test]
fn every_security_definer_function_has_a_fixed_search_path() {
    let mut db = Db::new();

    let unpinned: Vec<String> = db
        .client
        .query(
            "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
              where p.prosecdef and n.nspname in ('public', 'engine')
                and not exists (select 1 from unnest(p.proconfig) c where c like 'search_path=%')",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    assert!(unpinned.is_empty(), "{unpinned:?}");
}
