//! References checked per statement (issue 14 §1, migration
//! `…002700_engine_checks_its_references_per_statement`): the foreign keys on
//! the ingest path are gone, and what they guaranteed still holds — deleting
//! a caller restricts, sets null and cascades exactly as before, deleting a
//! lead takes its log rows, and no write can name a caller or lead that does
//! not exist, even racing a delete.

#![allow(clippy::unwrap_used)]

use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::support::{as_role, phone, sqlstate, Caller, Db};

/// The error of a failed statement: SQLSTATE, message and detail.
fn failure(result: Result<impl Sized, postgres::Error>) -> (String, String, String) {
    let error = result.err().expect("the statement must fail");
    let db = error.as_db_error().expect("a database error");
    (db.code().code().to_string(), db.message().to_string(), db.detail().unwrap_or_default().to_string())
}

#[test]
fn the_ingest_tables_have_no_row_level_foreign_key_checks_left() {
    let mut db = Db::new();

    let left: Vec<String> = db
        .client
        .query(
            "select conname::text from pg_constraint
              where contype = 'f'
                and conrelid in ('public.leads'::regclass, 'public.assignment_logs'::regclass,
                                 'public.caller_daily_loads'::regclass)
              order by 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn deleting_a_caller_who_has_leads_is_refused_as_the_foreign_key_refused_it() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A"));
    db.ingest(json!({"phone": phone(1)}));
    let admin = db.add_member("admin@example.com", "admin", None);

    let as_admin = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        failure(tx.execute("delete from callers where id = $1", &[&a]))
    });
    let as_owner = failure(db.client.execute("delete from callers where id = $1", &[&a]));

    for (code, message, detail) in [as_admin, as_owner] {
        assert_eq!(code, "23503");
        assert_eq!(
            message,
            "update or delete on table \"callers\" violates foreign key constraint \"leads_caller_id_fkey\" on table \"leads\""
        );
        assert_eq!(detail, format!("Key (id)=({a}) is still referenced from table \"leads\"."));
    }
    assert_eq!(db.scalar_i64(&format!("select count(*) from callers where id = {a}")), 1);
}

#[test]
fn deleting_a_caller_without_leads_nulls_it_in_the_log_and_drops_its_loads() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A"));
    let b = db.add_caller(Caller::named("B"));
    let first = db.ingest(json!({"phone": phone(1)}));
    let second = db.ingest(json!({"phone": phone(2)}));
    assert_eq!((first["caller_id"].as_i64(), second["caller_id"].as_i64()), (Some(a), Some(b)));
    let lead = first["lead_id"].as_i64().unwrap();
    let admin = db.add_member("admin@example.com", "admin", None);
    // A's lead moves to B: A keeps a log row as the caller and one as the
    // previous caller, and its load row, but no lead.
    let claims = json!({"sub": admin, "role": "authenticated"}).to_string();
    let mut tx = db.client.transaction().unwrap();
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims]).unwrap();
    tx.batch_execute("set local role authenticated").unwrap();
    tx.execute("select reassign_lead($1, $2, 'moved')", &[&lead, &b]).unwrap();
    tx.execute("delete from callers where id = $1", &[&a]).unwrap();
    tx.commit().unwrap();

    let logs: Vec<(i64, Option<i64>, Option<i64>, String)> = db
        .client
        .query("select lead_id, caller_id, previous_caller_id, reason from assignment_logs order by id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let other = second["lead_id"].as_i64().unwrap();
    assert_eq!(
        logs,
        vec![
            (lead, None, None, "global".to_string()),
            (other, Some(b), None, "global".to_string()),
            (lead, Some(b), None, "manual".to_string()),
        ],
        "A's log rows keep their history without A"
    );
    let loads: Vec<i64> =
        db.client.query("select caller_id from caller_daily_loads order by 1", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(loads, vec![b], "A's loads go with A, B's stay");
}

#[test]
fn deleting_a_lead_deletes_its_log_rows_and_no_others() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    let gone = db.ingest(json!({"phone": phone(1)}))["lead_id"].as_i64().unwrap();
    let kept = db.ingest(json!({"phone": phone(2)}))["lead_id"].as_i64().unwrap();
    let admin = db.add_member("admin@example.com", "admin", None);

    let deleted = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        let n = tx.execute("delete from leads where id = $1", &[&gone]).unwrap();
        let logs: Vec<i64> =
            tx.query("select lead_id from assignment_logs order by id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
        (n, logs)
    });

    assert_eq!(deleted, (1, vec![kept]), "an admin's delete takes the lead's log rows, even without a grant on them");
}

#[test]
fn an_update_of_a_leads_caller_to_a_missing_caller_is_refused_with_the_key() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A"));
    let lead = db.ingest(json!({"phone": phone(1)}))["lead_id"].as_i64().unwrap();

    let (code, message, detail) = as_role(&mut db.client, "service_role", None, |tx| {
        failure(tx.execute("update leads set caller_id = 999999 where id = $1", &[&lead]))
    });

    assert_eq!(code, "23503");
    assert_eq!(message, "insert or update on table \"leads\" violates foreign key constraint \"leads_caller_id_fkey\"");
    assert_eq!(detail, "Key (caller_id)=(999999) is not present in table \"callers\".");
    let caller: i64 = db.client.query_one("select caller_id from leads where id = $1", &[&lead]).unwrap().get(0);
    assert_eq!(caller, a);
}

#[test]
fn each_direct_insert_naming_something_missing_is_refused_with_its_key() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A"));
    let lead = db.ingest(json!({"phone": phone(1)}))["lead_id"].as_i64().unwrap();
    let cases = [
        (
            // One good row and one bad one in the same statement.
            "insert into leads (phone, status, caller_id, assigned_at)
             values ('+919900000001', 'new', $1, now()), ('+919900000002', 'new', 999999, now())",
            "Key (caller_id)=(999999) is not present in table \"callers\".",
        ),
        (
            "insert into assignment_logs (lead_id, caller_id, reason, tier, candidates)
             values ($2, $1, 'global', 2, '[]'), (999999, $1, 'global', 2, '[]')",
            "Key (lead_id)=(999999) is not present in table \"leads\".",
        ),
        (
            "insert into assignment_logs (lead_id, caller_id, reason, tier, candidates)
             values ($2, 999999, 'global', 2, '[]')",
            "Key (caller_id)=(999999) is not present in table \"callers\".",
        ),
        (
            "insert into assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, candidates)
             values ($2, $1, 999999, 'manual', null, '[]')",
            "Key (previous_caller_id)=(999999) is not present in table \"callers\".",
        ),
        (
            "insert into caller_daily_loads (caller_id, day, assigned) values (999999, current_date - 1, 1)",
            "Key (caller_id)=(999999) is not present in table \"callers\".",
        ),
        (
            "update assignment_logs set caller_id = 999999 where lead_id = $2",
            "Key (caller_id)=(999999) is not present in table \"callers\".",
        ),
    ];
    let logs_before = db.scalar_i64("select count(*) from assignment_logs");

    for (sql, expected) in cases {
        let statement = sql.replace("$1", &a.to_string()).replace("$2", &lead.to_string());
        let (code, _, detail) =
            as_role(&mut db.client, "service_role", None, |tx| failure(tx.execute(statement.as_str(), &[])));
        assert_eq!((code.as_str(), detail.as_str()), ("23503", expected), "{statement}");
    }
    assert_eq!(db.scalar_i64("select count(*) from leads"), 1);
    assert_eq!(db.scalar_i64("select count(*) from assignment_logs"), logs_before);
    assert_eq!(db.scalar_i64("select count(*) from caller_daily_loads where caller_id = 999999"), 0);
}

#[test]
fn a_caller_delete_racing_a_direct_insert_that_names_it_is_refused_once_the_insert_commits() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A"));
    let mut writer = db.connect();
    let mut deleter = db.connect();

    let mut tx = writer.transaction().unwrap();
    tx.execute("insert into leads (phone, status, caller_id, assigned_at) values ('+919900000001', 'new', $1, now())", &[&a])
        .unwrap();
    // The insert holds the caller FOR KEY SHARE: the delete must wait for it.
    let delete = thread::spawn(move || failure(deleter.execute("delete from callers where id = $1", &[&a])));
    thread::sleep(Duration::from_millis(500));
    assert!(!delete.is_finished(), "the delete must wait for the insert's transaction");
    tx.commit().unwrap();
    let (code, _, detail) = delete.join().unwrap();

    assert_eq!(code, "23503");
    assert_eq!(detail, format!("Key (id)=({a}) is still referenced from table \"leads\"."));
    assert_eq!(db.scalar_i64(&format!("select count(*) from callers where id = {a}")), 1);
}

#[test]
fn a_direct_insert_racing_a_caller_delete_is_refused_once_the_delete_commits() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A"));
    let mut deleter = db.connect();
    let mut writer = db.connect();

    let mut tx = deleter.transaction().unwrap();
    tx.execute("delete from callers where id = $1", &[&a]).unwrap();
    let insert = thread::spawn(move || {
        failure(writer.execute(
            "insert into leads (phone, status, caller_id, assigned_at) values ('+919900000001', 'new', $1, now())",
            &[&a],
        ))
    });
    thread::sleep(Duration::from_millis(500));
    assert!(!insert.is_finished(), "the insert's check must wait for the delete's transaction");
    tx.commit().unwrap();
    let (code, _, detail) = insert.join().unwrap();

    assert_eq!(code, "23503");
    assert_eq!(detail, format!("Key (caller_id)=({a}) is not present in table \"callers\"."));
    assert_eq!(db.scalar_i64("select count(*) from leads"), 0);
}

#[test]
fn renumbering_a_referenced_caller_is_refused() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A"));
    db.ingest(json!({"phone": phone(1)}));

    let code = sqlstate(db.client.execute("update callers set id = default where id = $1", &[&a]));

    assert_eq!(code, "23503");
    assert_eq!(db.scalar_i64(&format!("select count(*) from callers where id = {a}")), 1);
}
