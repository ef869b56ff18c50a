//! The dictionary of distinct lead names (`engine.lead_names`, migration
//! 20261130003900) that `lead_search` reads for a name-sorted search: its
//! pages equal those of the gather path it replaces (…3600's function,
//! created from the landed migration's text in a schema of the test's own
//! and called on the same data), the triggers keep every name a lead holds,
//! `engine.prune_lead_names()` drops names no lead holds and gives up
//! without loss while a writer holds the leads, and no API role reaches any
//! of it. The job's schedule is tested in 16_pg_cron.rs.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::{as_role, phone, sqlstate, Caller, Db};

/// …3600's lead_search as it landed, created as `gather_reference.lead_search`
/// (the same body: it still reads `public.leads` and the same helpers).
fn create_gather_reference(db: &mut Db) {
    let landed = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../supabase/migrations/20261130003600_lead_search_name_sort_streams.sql"
    ));
    let header = "create or replace function public.lead_search(";
    assert_eq!(landed.matches(header).count(), 1, "…3600 defines lead_search once");
    let reference = landed.replace(header, "create function gather_reference.lead_search(");
    db.client
        .batch_execute(&format!(
            "create schema gather_reference;
             {reference}
             grant usage on schema gather_reference to authenticated;
             grant execute on function gather_reference.lead_search to authenticated;"
        ))
        .unwrap();
}

/// Names that repeat, differ only in case, accents or a dotted capital I
/// (`İ`, whose lower case is two characters), hold `ß`, or are null.
const NAMES: [Option<&str>; 16] = [
    Some("Priya Naidu"),
    Some("PRIYA NAIDU"),
    Some("priya naidu"),
    Some("Priya"),
    Some("PRİYA Iyer"),
    Some("İpriya"),
    Some("Priyā Rao"),
    Some("Straße Priya"),
    Some("STRASSE priya"),
    Some("straße"),
    Some("Rahul Priyadarshi"),
    Some("Anita Rao"),
    Some("50% Off_Priya"),
    Some("  priya  "),
    Some("Zoë Priya"),
    None,
];

/// A team of two callers, an admin and one caller's login, and 2,600 leads
/// with names drawn from [`NAMES`] (with repeats and nulls), `created_at`
/// drawn from 40 minutes (so many ties on name and time), and statuses,
/// states and callers drawn at random, all from a fixed seed.
fn random_table() -> (Db, String, String) {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let ravi = db.add_caller(Caller::named("Ravi"));
    let admin = db.add_member("admin@example.com", "admin", None);
    let asha_user = db.add_member("asha@example.com", "caller", Some(asha));
    let names: Vec<Option<String>> = NAMES.iter().map(|n| n.map(str::to_string)).collect();
    db.client.execute("select setseed(0.28)", &[]).unwrap();
    db.client
        .execute(
            "insert into leads (name, phone, state, status, caller_id, assigned_at, created_at)
             select ($1::text[])[1 + floor(random() * array_length($1::text[], 1))::int],
                    '+9199' || lpad(g::text, 8, '0'),
                    (array['MH', 'KA', null])[1 + floor(random() * 3)::int],
                    s.status,
                    case when s.status <> 'unassigned' then c.caller end,
                    case when s.status <> 'unassigned' then now() end,
                    '2026-03-02 09:00:00+05:30'::timestamptz + make_interval(mins => floor(random() * 40)::int)
             from generate_series(1, 2600) g
             cross join lateral (select (array['new', 'contacted', 'converted', 'unassigned'])[1 + floor(random() * 4)::int] as status
                                 where g > 0) s
             cross join lateral (select (array[$2::bigint, $3::bigint])[1 + floor(random() * 2)::int] as caller
                                 where g > 0) c",
            &[&names, &asha, &ravi],
        )
        .unwrap();
    create_gather_reference(&mut db);
    (db, admin, asha_user)
}

/// The ids a search returns (or its SQLSTATE), from `schema`'s lead_search.
fn page(tx: &mut postgres::Transaction<'_>, schema: &str, args: &str) -> Result<Vec<i64>, String> {
    tx.query(&format!("select id from {schema}.lead_search({args})"), &[])
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .map_err(|e| sqlstate(Err::<(), _>(e)))
}

/// Every search below, as `schema`'s lead_search answers it for `user`.
fn every_page(db: &mut Db, user: &str, schema: &str, searches: &[String]) -> Vec<Result<Vec<i64>, String>> {
    as_role(&mut db.client, "authenticated", Some(user), |tx| searches.iter().map(|args| page(tx, schema, args)).collect())
}

/// Name-sorted searches: six terms, both directions, pages of 26 at
/// offsets 0 to 975, one of 1,000 and one row at offset 1,000, with no
/// filter, a received range, or a filter on another column; and two
/// refused pages (past the cap, no row).
fn name_sorted_searches() -> Vec<String> {
    let mut searches = Vec::new();
    for term in ["priya", "PRI", "straße", "İya", "rao", "iya n"] {
        for descending in [false, true] {
            for filter in [
                "",
                ", received_from => '2026-03-02 09:10:00+05:30'",
                ", received_before => '2026-03-02 09:25:00+05:30', received_from => '2026-03-02 09:05:00+05:30'",
                ", status => 'converted'",
                ", state => 'MH'",
                ", unassigned => true",
            ] {
                for (limit, offset) in [(26, 0), (26, 1), (26, 25), (26, 400), (26, 975), (1000, 1), (1, 1000)] {
                    searches.push(format!(
                        "term => '{term}', sort => 'name', descending => {descending}, row_limit => {limit}, row_offset => {offset}{filter}"
                    ));
                }
            }
        }
    }
    searches.push("term => 'priya', sort => 'name', row_limit => 26, row_offset => 976".into());
    searches.push("term => 'priya', sort => 'name', row_limit => 0".into());
    searches
}

#[test]
fn the_dictionary_path_returns_exactly_the_pages_the_gather_path_returns_as_an_admin() {
    let (mut db, admin, _) = random_table();
    let searches = name_sorted_searches();

    let gathered = every_page(&mut db, &admin, "gather_reference", &searches);
    let from_dictionary = every_page(&mut db, &admin, "public", &searches);

    for ((args, expected), found) in searches.iter().zip(&gathered).zip(&from_dictionary) {
        assert_eq!(found, expected, "lead_search({args})");
    }
    let full_pages = gathered.iter().filter(|p| matches!(p, Ok(ids) if ids.len() == 26)).count();
    let deep_full = searches.iter().zip(&gathered).filter(|(a, p)| a.contains("row_offset => 975") && matches!(p, Ok(ids) if ids.len() == 26)).count();
    assert!(full_pages > 100, "most pages are full: {full_pages}");
    assert!(deep_full >= 4, "page 40 is full for the common terms: {deep_full}");
    assert_eq!(gathered[gathered.len() - 2], Err("22023".to_string()), "past the cap");
}

#[test]
fn the_dictionary_path_returns_exactly_the_pages_the_gather_path_returns_as_a_caller() {
    let (mut db, _, asha_user) = random_table();
    let searches = name_sorted_searches();

    let gathered = every_page(&mut db, &asha_user, "gather_reference", &searches);
    let from_dictionary = every_page(&mut db, &asha_user, "public", &searches);

    for ((args, expected), found) in searches.iter().zip(&gathered).zip(&from_dictionary) {
        assert_eq!(found, expected, "lead_search({args})");
    }
    assert!(gathered.iter().filter(|p| matches!(p, Ok(ids) if ids.len() == 26)).count() > 50);
}

#[test]
fn a_name_search_sorted_by_name_reads_the_dictionary_and_skips_a_name_no_lead_holds() {
    let (mut db, admin, _) = random_table();
    let searches = name_sorted_searches();
    let before = every_page(&mut db, &admin, "public", &searches);

    // A name in the dictionary that no lead holds (as after a delete, before
    // the prune) changes nothing; emptying the dictionary empties the pages
    // of the unfiltered admin searches, which shows they read it.
    db.client.execute("insert into engine.lead_names values ('Priya Ghost'), ('ZZZ priya')", &[]).unwrap();
    let with_ghosts = every_page(&mut db, &admin, "public", &searches);
    db.client.execute("delete from engine.lead_names", &[]).unwrap();
    let emptied = every_page(&mut db, &admin, "public", &["term => 'priya', sort => 'name', row_limit => 26".to_string()]);

    assert_eq!(with_ghosts, before);
    assert_eq!(emptied, vec![Ok(vec![])]);
}

/// The dictionary's names, in order.
fn dictionary(db: &mut Db) -> BTreeSet<String> {
    db.client.query("select name from engine.lead_names", &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// The distinct names leads hold now.
fn held(db: &mut Db) -> BTreeSet<String> {
    db.client.query("select distinct name from leads where name is not null", &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

fn prune(db: &mut Db) -> Option<i64> {
    db.client.query_one("select engine.prune_lead_names()", &[]).unwrap().get(0)
}

#[test]
fn the_dictionary_holds_every_name_after_ingest_leads_ingest_lead_a_plain_insert_and_a_rename() {
    let mut db = Db::new();
    db.add_caller(Caller::named("Asha").limit(1000));
    let batch: Vec<_> = (0..40u32)
        .map(|n| json!({"name": format!("Batch Name {}", n % 7), "phone": phone(n)}))
        .chain([json!({"phone": phone(99)})])
        .collect();
    db.ingest_batch(json!(batch));
    db.ingest(json!({"name": "Single Lead", "phone": phone(200)}));
    db.client.execute("insert into leads (name, phone, status) values ('Plain Insert', $1, 'unassigned'), (null, $2, 'unassigned')", &[&phone(300), &phone(301)]).unwrap();
    let renamed: i64 = db.scalar_i64("select id from leads where name = 'Single Lead'");
    db.client.execute("update leads set name = 'Renamed Lead' where id = $1", &[&renamed]).unwrap();

    let names = dictionary(&mut db);

    assert!(names.is_superset(&held(&mut db)), "every held name: {names:?}");
    for name in ["Batch Name 0", "Batch Name 6", "Plain Insert", "Renamed Lead"] {
        assert!(names.contains(name), "{name} in {names:?}");
    }
    assert_eq!(held(&mut db).len(), 7 + 2);
}

#[test]
fn a_duplicate_of_an_ingested_lead_adds_no_name_and_changes_none() {
    let mut db = Db::new();
    db.add_caller(Caller::named("Asha").limit(1000));
    db.ingest(json!({"name": "First Name", "phone": phone(1)}));
    let before = dictionary(&mut db);

    db.ingest(json!({"name": "Second Name", "phone": phone(1)}));

    assert_eq!(db.scalar_i64("select count(*) from leads"), 1, "the second is a duplicate");
    assert_eq!(dictionary(&mut db), before);
    assert_eq!(db.scalar_i64("select count(*) from engine.lead_name_prune_candidates"), 0);
}

#[test]
fn a_deleted_leads_name_is_pruned_by_the_job_and_a_name_another_lead_holds_is_kept() {
    let mut db = Db::new();
    db.client
        .execute(
            "insert into leads (name, phone, status) values ('Only Once', $1, 'unassigned'), ('Held Twice', $2, 'unassigned'), ('Held Twice', $3, 'unassigned'), ('Never Deleted', $4, 'unassigned')",
            &[&phone(1), &phone(2), &phone(3), &phone(4)],
        )
        .unwrap();
    db.client.execute("delete from leads where phone in ($1, $2)", &[&phone(1), &phone(2)]).unwrap();
    assert!(dictionary(&mut db).contains("Only Once"), "kept until the job runs");

    let pruned = prune(&mut db);

    assert_eq!(pruned, Some(1));
    assert_eq!(dictionary(&mut db), BTreeSet::from(["Held Twice".to_string(), "Never Deleted".to_string()]));
    assert_eq!(db.scalar_i64("select count(*) from engine.lead_name_prune_candidates"), 0);
}

#[test]
fn a_renamed_leads_old_name_is_pruned_when_no_lead_holds_it() {
    let mut db = Db::new();
    db.client.execute("insert into leads (name, phone, status) values ('Old Name', $1, 'unassigned')", &[&phone(1)]).unwrap();
    db.client.execute("update leads set name = 'New Name'", &[]).unwrap();

    let pruned = prune(&mut db);

    assert_eq!(pruned, Some(1));
    assert_eq!(dictionary(&mut db), BTreeSet::from(["New Name".to_string()]));
}

#[test]
fn the_prune_job_with_no_candidate_prunes_nothing() {
    let mut db = Db::new();
    db.client.execute("insert into leads (name, phone, status) values ('Kept', $1, 'unassigned')", &[&phone(1)]).unwrap();

    assert_eq!(prune(&mut db), Some(0));
    assert_eq!(dictionary(&mut db), BTreeSet::from(["Kept".to_string()]));
}

#[test]
fn the_prune_job_gives_up_without_error_or_loss_while_a_writer_holds_the_leads() {
    let mut db = Db::new();
    db.client.execute("insert into leads (name, phone, status) values ('Gone', $1, 'unassigned')", &[&phone(1)]).unwrap();
    db.client.execute("delete from leads", &[]).unwrap();
    let mut writer = db.connect();
    let mut tx = writer.transaction().unwrap();
    tx.execute("insert into leads (name, phone, status) values ('Being Written', $1, 'unassigned')", &[&phone(2)]).unwrap();

    let while_writing = prune(&mut db);
    let kept = dictionary(&mut db);
    tx.commit().unwrap();
    let after_commit = prune(&mut db);

    assert_eq!(while_writing, None, "gave up at its lock timeout");
    assert!(kept.contains("Gone"), "the candidate waits for the next run");
    assert_eq!(db.scalar_i64("select count(*) from engine.lead_name_prune_candidates"), 0, "the next run cleared it");
    assert_eq!(after_commit, Some(1));
    assert_eq!(dictionary(&mut db), BTreeSet::from(["Being Written".to_string()]));
}

#[test]
fn the_prune_job_refuses_to_run_on_a_snapshot_older_than_its_lock() {
    let mut db = Db::new();
    db.client.execute("insert into leads (name, phone, status) values ('Gone', $1, 'unassigned')", &[&phone(1)]).unwrap();
    db.client.execute("delete from leads", &[]).unwrap();
    let mut tx = db.client.transaction().unwrap();
    tx.batch_execute("set transaction isolation level repeatable read").unwrap();

    let refused = sqlstate(tx.query_one("select engine.prune_lead_names()", &[]));
    tx.rollback().unwrap();

    assert_eq!(refused, "25000");
    assert!(dictionary(&mut db).contains("Gone"));
}

#[test]
fn truncating_the_leads_empties_the_dictionary() {
    let mut db = Db::new();
    db.client.execute("insert into leads (name, phone, status) values ('Truncated', $1, 'unassigned')", &[&phone(1)]).unwrap();

    db.client.batch_execute("truncate leads cascade").unwrap();

    assert!(dictionary(&mut db).is_empty());
}

#[test]
fn no_api_role_may_read_the_dictionary_or_call_its_functions() {
    let mut db = Db::new();
    let statements = [
        "select count(*) from engine.lead_names",
        "select count(*) from engine.lead_name_prune_candidates",
        "select engine.prune_lead_names()",
    ];
    let functions = [
        "engine.prune_lead_names()",
        "engine.lead_names_inserted()",
        "engine.lead_name_changed()",
        "engine.lead_names_deleted()",
        "engine.lead_names_truncated()",
    ];
    for role in ["anon", "authenticated", "service_role"] {
        for statement in statements {
            let refused = as_role(&mut db.client, role, None, |tx| sqlstate(tx.query_one(statement, &[])));
            assert_eq!(refused, "42501", "{role}: {statement}");
        }
        for function in functions {
            let may: bool = db
                .client
                .query_one("select has_function_privilege($1, $2, 'execute')", &[&role, &function])
                .unwrap()
                .get(0);
            assert!(!may, "{role} has no EXECUTE on {function}");
        }
    }
}
