//! The trigram indexes' GIN pending lists merged by
//! `engine.merge_search_pending_lists()` (migration 20261130003700, run every
//! minute by pg_cron; its schedule is tested in 16_pg_cron.rs; the name
//! dictionary's index joined it in 20261130004000): leads ingested
//! through the engine leave their trigrams pending, one call merges them all
//! and says how many pages, searches answer the same rows before and after,
//! and no API role may call it.
//!
//! The pending pages are read with `pgstatginindex` (contrib's pgstattuple,
//! shipped with every PostgreSQL server package), created in a schema of the
//! test's own.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::support::{as_role, phone, sqlstate, Caller, Db};

const INDEXES: [&str; 3] = ["public.leads_name_trgm_idx", "public.leads_phone_trgm_idx", "engine.lead_names_trgm_idx"];

/// A team with a caller and an admin, 300 leads ingested through
/// `ingest_leads` in batches of 50 (a third named Priya), and pgstattuple.
fn team_after_ingest() -> (Db, String) {
    let mut db = Db::new();
    db.add_caller(Caller::named("Asha").limit(1000));
    let admin = db.add_member("admin@example.com", "admin", None);
    for batch in 0..6u32 {
        let items: Vec<Value> = (0..50u32)
            .map(|i| {
                let n = batch * 50 + i;
                let name = if n % 3 == 0 { format!("Priya Naidu {n}") } else { format!("Rahul Verma {n}") };
                json!({"name": name, "phone": phone(n)})
            })
            .collect();
        let results = db.ingest_batch(json!(items));
        assert!(results.iter().all(|r| r["lead_id"].is_i64()), "every lead is stored: {results:?}");
    }
    db.client.batch_execute("create schema gin_stats; create extension pgstattuple with schema gin_stats").unwrap();
    (db, admin)
}

/// The pending-list pages of each trigram index: the leads' name and phone,
/// then the name dictionary's.
fn pending_pages(db: &mut Db) -> Vec<i32> {
    INDEXES
        .iter()
        .map(|index| {
            db.client
                .query_one("select pending_pages from gin_stats.pgstatginindex($1::text::regclass)", &[index])
                .unwrap()
                .get(0)
        })
        .collect()
}

fn merge(db: &mut Db) -> i64 {
    db.scalar_i64("select engine.merge_search_pending_lists()")
}

/// The ids a search returns as the admin, in its order.
fn search(db: &mut Db, admin: &str, term: &str, sort: &str) -> Vec<i64> {
    as_role(&mut db.client, "authenticated", Some(admin), |tx| {
        tx.query(
            "select id from lead_search(term => $1, sort => $2, descending => false, row_limit => 500)",
            &[&term, &sort],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    })
}

#[test]
fn leads_ingested_through_the_engine_leave_pages_on_every_trigram_indexs_pending_list() {
    let (mut db, _) = team_after_ingest();

    let pending = pending_pages(&mut db);

    assert!(pending.iter().all(|&pages| pages > 0), "name, phone and dictionary pending pages: {pending:?}");
}

#[test]
fn one_merge_empties_every_pending_list_and_returns_the_pages_it_merged() {
    let (mut db, _) = team_after_ingest();
    let pending: i64 = pending_pages(&mut db).iter().map(|&p| i64::from(p)).sum();

    let merged = merge(&mut db);

    assert_eq!(merged, pending, "every pending page of the three indexes, counted once");
    assert_eq!(pending_pages(&mut db), vec![0, 0, 0]);
}

#[test]
fn a_second_merge_with_nothing_pending_merges_no_page() {
    let (mut db, _) = team_after_ingest();
    assert!(merge(&mut db) > 0);

    let merged_again = merge(&mut db);

    assert_eq!(merged_again, 0);
}

#[test]
fn searches_return_the_same_rows_in_the_same_order_before_and_after_the_merge() {
    let (mut db, admin) = team_after_ingest();
    let searches =
        [("Priya", "name"), ("Naidu 29", "created_at"), ("rahul", "name"), ("9800000", "created_at"), ("zzqx", "name")];
    let before: Vec<Vec<i64>> = searches.iter().map(|(term, sort)| search(&mut db, &admin, term, sort)).collect();

    assert!(merge(&mut db) > 0);
    let after: Vec<Vec<i64>> = searches.iter().map(|(term, sort)| search(&mut db, &admin, term, sort)).collect();

    assert_eq!(after, before);
    assert_eq!(before[0].len(), 100, "a third of the 300 leads are Priya");
    assert_eq!(before[1].len(), 3, "Priya Naidu 291, 294 and 297");
    assert_eq!(before[2].len(), 200, "the other two thirds are Rahul");
    assert_eq!(before[3].len(), 300, "every phone has these digits");
    assert!(before[4].is_empty());
}

/// On Supabase the role that owns the tables and runs the jobs, `postgres`,
/// is not a superuser: owning the indexes (through the table) is what
/// gin_clean_pending_list asks for. Roles are the server's, not the
/// database's, so the owner is made and dropped in one rolled-back
/// transaction.
#[test]
fn the_owner_of_the_leads_table_may_merge_without_being_a_superuser_as_on_supabase() {
    let (mut db, _) = team_after_ingest();
    let pending: i64 = pending_pages(&mut db).iter().map(|&p| i64::from(p)).sum();
    let mut tx = db.client.transaction().unwrap();
    tx.batch_execute(
        "create role bloc_table_owner nosuperuser;
         alter table public.leads owner to bloc_table_owner;
         alter table engine.lead_names owner to bloc_table_owner;
         alter function engine.merge_search_pending_lists() owner to bloc_table_owner;
         grant usage on schema engine to bloc_table_owner;
         set local role bloc_table_owner",
    )
    .unwrap();

    let merged: i64 = tx.query_one("select engine.merge_search_pending_lists()", &[]).unwrap().get(0);
    tx.rollback().unwrap();

    assert!(pending > 0);
    assert_eq!(merged, pending);
}

#[test]
fn no_api_role_may_merge_the_pending_lists() {
    let mut db = Db::new();
    for role in ["anon", "authenticated", "service_role"] {
        let may: bool = db
            .client
            .query_one("select has_function_privilege($1, 'engine.merge_search_pending_lists()', 'execute')", &[&role])
            .unwrap()
            .get(0);
        let called = as_role(&mut db.client, role, None, |tx| {
            sqlstate(tx.query_one("select engine.merge_search_pending_lists()", &[]))
        });

        assert!(!may, "{role} has no EXECUTE");
        assert_eq!(called, "42501", "{role} is refused");
    }
}
