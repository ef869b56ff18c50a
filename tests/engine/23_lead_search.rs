//! The leads table's search, one page at a time (`lead_search`), and the
//! Source filter's list (`lead_sources`), migrations 20261130002800 and
//! 20261130003200 (a search reaches its first 1,000 matches; sorted by
//! name it gathers only the sort keys) and 20261130003600 (sorted by name,
//! the keys stream into the sort instead of a materialised CTE), and the
//! CSV export of a search in calls of 250.

#![allow(clippy::unwrap_used)]

use postgres::types::ToSql;

use crate::support::{as_role, sqlstate, Caller, Db};

/// A lead as the table shows it, inserted directly with the fields a search
/// and its filters read.
struct Lead {
    name: &'static str,
    phone: &'static str,
    state: Option<&'static str>,
    source: Option<&'static str>,
    status: &'static str,
    caller: Option<i64>,
    /// Minutes after 2026-03-02 09:00 IST.
    minute: i32,
}

fn insert(db: &mut Db, lead: &Lead) -> i64 {
    db.client
        .query_one(
            "insert into leads (name, phone, state, source, status, caller_id, assigned_at, created_at)
             values ($1, $2, $3, $4, $5, $6, case when $6::bigint is not null then now() end,
                     '2026-03-02 09:00:00+05:30'::timestamptz + make_interval(mins => $7))
             returning id",
            &[&lead.name, &lead.phone, &lead.state, &lead.source, &lead.status, &lead.caller, &lead.minute],
        )
        .unwrap()
        .get(0)
}

/// Two callers, an admin, a caller's login and a hand-built table:
/// `ids[i]` is the i-th lead below, received a minute after the one before.
struct Table {
    db: Db,
    admin: String,
    asha_user: String,
    asha: i64,
    ravi: i64,
    ids: Vec<i64>,
}

fn table() -> Table {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let ravi = db.add_caller(Caller::named("Ravi"));
    let admin = db.add_member("admin@example.com", "admin", None);
    let asha_user = db.add_member("asha@example.com", "caller", Some(asha));
    let leads = [
        Lead { name: "Priya Sharma", phone: "+919876500001", state: Some("MH"), source: Some("WhatsApp"), status: "new", caller: Some(asha), minute: 0 },
        Lead { name: "Priya Naidu", phone: "+919876500002", state: Some("KA"), source: Some("Google Ads"), status: "contacted", caller: Some(ravi), minute: 1 },
        Lead { name: "Rahul Priyadarshi", phone: "+919876500003", state: Some("MH"), source: Some("Meta Lead Ads"), status: "new", caller: Some(asha), minute: 2 },
        Lead { name: "Anita Rao", phone: "+919123400004", state: None, source: None, status: "unassigned", caller: None, minute: 3 },
        Lead { name: "PRIYA Iyer", phone: "+919123400005", state: Some("TN"), source: Some("WhatsApp"), status: "converted", caller: Some(ravi), minute: 4 },
        Lead { name: "50% Off_Campaign", phone: "+919123400006", state: Some("MH"), source: Some("Expo 2026"), status: "new", caller: Some(asha), minute: 5 },
        Lead { name: "500 Offices", phone: "+919123400007", state: Some("MH"), source: Some("Expo 2026"), status: "new", caller: Some(asha), minute: 6 },
        Lead { name: "Priya Unassigned", phone: "+919555500008", state: Some("DL"), source: Some("WhatsApp"), status: "unassigned", caller: None, minute: 7 },
    ];
    let ids = leads.iter().map(|lead| insert(&mut db, lead)).collect();
    Table { db, admin, asha_user, asha, ravi, ids }
}

/// `lead_search` with named arguments, as REST calls it; the ids in the
/// order the function returns them.
fn search(tx: &mut postgres::Transaction<'_>, args: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<i64>, postgres::Error> {
    tx.query(&format!("select id from lead_search({args})"), params).map(|rows| rows.iter().map(|r| r.get(0)).collect())
}

fn as_admin<T>(t: &mut Table, f: impl FnOnce(&mut postgres::Transaction<'_>) -> T) -> T {
    let admin = t.admin.clone();
    as_role(&mut t.db.client, "authenticated", Some(&admin), f)
}

#[test]
fn a_name_search_finds_the_name_anywhere_in_any_case_newest_first() {
    let mut t = table();
    let found = as_admin(&mut t, |tx| search(tx, "term => 'priya'", &[]).unwrap());
    let i = &t.ids;
    assert_eq!(found, vec![i[7], i[4], i[2], i[1], i[0]]);
}

#[test]
fn a_search_pages_with_limit_and_offset_in_the_table_order() {
    let mut t = table();
    let q = "term => 'Priya', row_limit => $1, row_offset => $2";
    let pages = as_admin(&mut t, |tx| {
        [(2, 0), (2, 2), (2, 4), (2, 6)].map(|(limit, offset): (i32, i32)| search(tx, q, &[&limit, &offset]).unwrap())
    });
    let i = &t.ids;
    assert_eq!(pages, [vec![i[7], i[4]], vec![i[2], i[1]], vec![i[0]], vec![]]);
}

#[test]
fn a_search_with_one_row_more_than_a_page_tells_whether_a_next_page_exists() {
    let mut t = table();
    let (first, last) = as_admin(&mut t, |tx| {
        let first = search(tx, "term => 'Priya', row_limit => 3, row_offset => 0", &[]).unwrap();
        let last = search(tx, "term => 'Priya', row_limit => 3, row_offset => 2", &[]).unwrap();
        (first, last)
    });
    // Pages of 2, each asked as 3: a third row means a next page exists,
    // on the first page and on the second (offset 2).
    assert_eq!(first.len(), 3);
    assert_eq!(last.len(), 3);
    let beyond = as_admin(&mut t, |tx| search(tx, "term => 'Priya', row_limit => 3, row_offset => 4", &[]).unwrap());
    assert_eq!(beyond.len(), 1, "the last page has no row beyond it");
}

#[test]
fn each_sort_orders_by_its_column_then_the_time_received_then_id_in_one_direction() {
    let mut t = table();
    let i = t.ids.clone();
    let by = |t: &mut Table, sort: &str, descending: bool| {
        as_admin(t, |tx| search(tx, "term => 'priya', sort => $1, descending => $2", &[&sort, &descending]).unwrap())
    };
    // Names compare by the database's collation; only the relative order
    // of these matters: "PRIYA Iyer" < "Priya Naidu" < "Priya Sharma" <
    // "Priya Unassigned" < "Rahul Priyadarshi" in every collation that
    // folds case first or compares ASCII.
    let names = by(&mut t, "name", false);
    assert_eq!(names.last(), Some(&i[2]), "{names:?}");
    assert_eq!(by(&mut t, "name", true), names.iter().rev().copied().collect::<Vec<_>>());
    // state: DL, KA, MH (two, the older first), TN.
    assert_eq!(by(&mut t, "state", false), vec![i[7], i[1], i[0], i[2], i[4]]);
    assert_eq!(by(&mut t, "state", true), vec![i[4], i[2], i[0], i[1], i[7]]);
    // status: contacted, converted, new (two), unassigned.
    assert_eq!(by(&mut t, "status", false), vec![i[1], i[4], i[0], i[2], i[7]]);
    assert_eq!(by(&mut t, "created_at", false), vec![i[0], i[1], i[2], i[4], i[7]]);
    // assigned_at: nulls last going up, first going down, as the table orders.
    let assigned = by(&mut t, "assigned_at", false);
    assert_eq!(assigned.last(), Some(&i[7]), "{assigned:?}");
    assert_eq!(by(&mut t, "assigned_at", true).first(), Some(&i[7]));
}

#[test]
fn filters_combine_with_the_search() {
    let mut t = table();
    let (asha, ravi) = (t.asha, t.ravi);
    let i = t.ids.clone();
    let found = as_admin(&mut t, |tx| {
        [
            search(tx, "term => 'priya', status => 'new'", &[]).unwrap(),
            search(tx, "term => 'priya', state => 'MH'", &[]).unwrap(),
            search(tx, "term => 'priya', source => 'WhatsApp'", &[]).unwrap(),
            search(tx, "term => 'priya', caller_id => $1", &[&ravi]).unwrap(),
            search(tx, "term => 'priya', unassigned => true", &[]).unwrap(),
            search(
                tx,
                "term => 'priya', received_from => '2026-03-02 09:01:00+05:30', received_before => '2026-03-02 09:04:00+05:30'",
                &[],
            )
            .unwrap(),
            search(tx, "term => 'priya', status => 'new', state => 'MH', source => 'WhatsApp', caller_id => $1", &[&asha]).unwrap(),
            search(tx, "term => 'priya', status => 'lost'", &[]).unwrap(),
        ]
    });
    assert_eq!(
        found,
        [
            vec![i[2], i[0]],
            vec![i[2], i[0]],
            vec![i[7], i[4], i[0]],
            vec![i[4], i[1]],
            vec![i[7]],
            vec![i[2], i[1]],
            vec![i[0]],
            vec![],
        ]
    );
}

#[test]
fn a_caller_finds_only_its_own_leads_whatever_caller_it_names() {
    let mut t = table();
    let (user, ravi) = (t.asha_user.clone(), t.ravi);
    let i = t.ids.clone();
    let (own, others) = as_role(&mut t.db.client, "authenticated", Some(&user), |tx| {
        (search(tx, "term => 'priya'", &[]).unwrap(), search(tx, "term => 'priya', caller_id => $1", &[&ravi]).unwrap())
    });
    assert_eq!(own, vec![i[2], i[0]]);
    assert_eq!(others, Vec::<i64>::new());
}

#[test]
fn a_member_without_a_caller_or_a_role_finds_nothing_and_anon_may_not_search() {
    let mut t = table();
    let lone = t.db.add_member("lone@example.com", "caller", None);
    let stranger: String = t.db.client.query_one("insert into auth.users (email) values ('x@example.com') returning id::text", &[]).unwrap().get(0);
    let lone_found = as_role(&mut t.db.client, "authenticated", Some(&lone), |tx| search(tx, "term => 'priya'", &[]).unwrap());
    let stranger_found = as_role(&mut t.db.client, "authenticated", Some(&stranger), |tx| search(tx, "term => 'priya'", &[]).unwrap());
    let anon = as_role(&mut t.db.client, "anon", None, |tx| sqlstate(search(tx, "term => 'priya'", &[])));
    assert_eq!(lone_found, Vec::<i64>::new());
    assert_eq!(stranger_found, Vec::<i64>::new());
    assert_eq!(anon, "42501");
}

#[test]
fn percent_and_underscore_in_a_term_are_literal() {
    let mut t = table();
    let i = t.ids.clone();
    let (percent, underscore, backslash) = as_admin(&mut t, |tx| {
        (
            search(tx, "term => '50% off'", &[]).unwrap(),
            search(tx, "term => 'f_c'", &[]).unwrap(),
            search(tx, r"term => 'a\r'", &[]).unwrap(),
        )
    });
    // "500 Offices" would match `50%off` read as a pattern; only the literal matches.
    assert_eq!(percent, vec![i[5]]);
    // `f_c` as a pattern would match "Off_Campaign"'s "f_C" and "Offic": only the underscore counts.
    assert_eq!(underscore, vec![i[5]]);
    assert_eq!(backslash, Vec::<i64>::new());
}

#[test]
fn three_digits_or_more_also_match_the_phone_anywhere() {
    let mut t = table();
    let i = t.ids.clone();
    let (digits, spaced, name_only) = as_admin(&mut t, |tx| {
        (
            search(tx, "term => '12340'", &[]).unwrap(),
            search(tx, "term => '95555 000'", &[]).unwrap(),
            search(tx, "term => 'Rao'", &[]).unwrap(),
        )
    });
    assert_eq!(digits, vec![i[6], i[5], i[4], i[3]]);
    assert_eq!(spaced, vec![i[7]]);
    assert_eq!(name_only, vec![i[3]]);
}

#[test]
fn a_term_under_three_characters_is_refused_and_so_are_a_bad_sort_and_page() {
    let mut t = table();
    let codes = as_admin(&mut t, |tx| {
        let mut codes = Vec::new();
        for args in [
            "term => 'ri'",
            "term => '  ri  '",
            "term => null",
            "term => 'priya', sort => 'phone'",
            "term => 'priya', sort => 'name; drop table leads'",
            "term => 'priya', row_limit => 0",
            "term => 'priya', row_limit => 1001",
            "term => 'priya', row_offset => -1",
            "term => 'priya', row_offset => 10001",
            "term => 'priya', row_offset => 2147483647",
            "term => 'priya', descending => null",
        ] {
            let mut sub = tx.transaction().unwrap();
            codes.push(sqlstate(search(&mut sub, args, &[])));
        }
        codes
    });
    assert_eq!(codes, vec!["22023"; 11]);
    assert_eq!(t.db.scalar_i64("select count(*) from leads"), 8, "nothing changed");
}

#[test]
fn the_sources_in_use_are_listed_once_each_alphabetically_for_admins_only() {
    let mut t = table();
    let user = t.asha_user.clone();
    let sources: Vec<String> =
        as_admin(&mut t, |tx| tx.query("select s from lead_sources() s", &[]).unwrap().iter().map(|r| r.get(0)).collect());
    let caller = as_role(&mut t.db.client, "authenticated", Some(&user), |tx| sqlstate(tx.query("select lead_sources()", &[])));
    let anon = as_role(&mut t.db.client, "anon", None, |tx| sqlstate(tx.query("select lead_sources()", &[])));
    assert_eq!(sources, ["Expo 2026", "Google Ads", "Meta Lead Ads", "WhatsApp"]);
    assert_eq!(caller, "42501");
    assert_eq!(anon, "42501");
}

#[test]
fn deep_pages_and_the_name_order_give_the_same_rows_as_ordering_the_whole_table() {
    let mut t = table();
    t.db.client
        .execute(
            "insert into leads (name, phone, status, created_at)
             select case when i % 3 = 0 then 'Deep Zeta ' else 'Deep Alpha ' end || (i % 7),
                    '+9190000' || lpad(i::text, 5, '0'), 'unassigned',
                    '2026-03-01 09:00:00+05:30'::timestamptz + make_interval(mins => i / 2)
               from generate_series(1, 990) as i",
            &[],
        )
        .unwrap();
    let orders = [
        ("created_at", true, "created_at desc, id desc"),
        ("name", false, "name, created_at, id"),
        ("name", true, "name desc, created_at desc, id desc"),
        ("state", false, "state, created_at, id"),
    ];
    for (sort, descending, order_by) in orders {
        // 975 is the deepest page of 25 a search reaches (its first 1,000 matches).
        for offset in [0, 500, 975] {
            let expected: Vec<i64> = t
                .db
                .client
                .query(&format!("select id from leads where name like 'Deep %' order by {order_by} limit 26 offset {offset}"), &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let found = as_admin(&mut t, |tx| {
                search(tx, "term => 'deep', sort => $1, descending => $2, row_limit => 26, row_offset => $3", &[&sort, &descending, &offset])
                    .unwrap()
            });
            assert_eq!(found, expected, "sort {sort} descending {descending} offset {offset}");
            assert_eq!(found.len(), if offset == 975 { 15 } else { 26 });
        }
    }
}

#[test]
fn a_search_reaches_its_first_thousand_matches_and_refuses_a_page_beyond_them_naming_the_limit() {
    let mut t = table();
    t.db.client
        .execute(
            "insert into leads (name, phone, status, created_at)
             select 'Many Kiran ' || i, '+9191000' || lpad(i::text, 5, '0'), 'unassigned',
                    '2026-03-01 09:00:00+05:30'::timestamptz + make_interval(mins => i)
               from generate_series(1, 1100) as i",
            &[],
        )
        .unwrap();
    let (last_page, whole_cap, past) = as_admin(&mut t, |tx| {
        let q = "term => 'kiran', row_limit => $1, row_offset => $2";
        // The web app's 40th page of 25, with the row that tells a next page exists.
        let last_page = search(tx, q, &[&26, &975]).unwrap();
        // The export of a search: its first 1,000 matches in one call.
        let whole_cap = search(tx, q, &[&1000, &0]).unwrap();
        let mut past = Vec::new();
        for (limit, offset) in [(27, 975), (25, 1000), (1, 1001), (1000, 2)] {
            let mut sub = tx.transaction().unwrap();
            let refused = search(&mut sub, q, &[&limit, &offset]).unwrap_err();
            let db = refused.as_db_error().unwrap();
            past.push((db.code().code().to_owned(), db.message().to_owned(), db.hint().map(str::to_owned)));
        }
        (last_page, whole_cap, past)
    });
    let newest_first: Vec<i64> =
        t.db.client.query("select id from leads where name like 'Many Kiran %' order by created_at desc, id desc limit 1001", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(last_page, newest_first[975..1001]);
    assert_eq!(whole_cap, newest_first[..1000]);
    for (code, message, hint) in past {
        assert_eq!(code, "22023");
        assert_eq!(message, "a search reaches only its first 1,000 matches (row_offset + row_limit at most 1,001)");
        assert_eq!(hint.as_deref(), Some("add a word to the search or a filter to reach the others"));
    }
    assert_eq!(t.db.scalar_i64("select count(*) from leads"), 1108, "nothing changed");
}

/// The leads table's export of a search (crates/web/src/api/import.rs):
/// calls of 250 rows plus the one that says another follows, at offsets 0,
/// 250, …; the first 250 rows of each call, joined. Stops at a call without
/// its extra row, or at the 1,000th lead.
fn export_in_calls(tx: &mut postgres::Transaction<'_>, args: &str) -> (Vec<i64>, Vec<usize>) {
    let (mut leads, mut calls) = (Vec::new(), Vec::new());
    for offset in (0..1000).step_by(250) {
        let page = search(tx, &format!("{args}, row_limit => 251, row_offset => {offset}"), &[]).unwrap();
        calls.push(page.len());
        let more = page.len() > 250;
        leads.extend(page.into_iter().take(250));
        if !more {
            break;
        }
    }
    (leads, calls)
}

#[test]
fn a_search_exported_in_calls_of_250_gives_its_first_thousand_matches_in_each_order_once() {
    let mut t = table();
    // 1,200 "Calls" leads with repeated names and shared minutes (ties on
    // name and on the time received), and 600 "Halves" leads: an export
    // that ends before the cap.
    t.db.client
        .execute(
            "insert into leads (name, phone, status, created_at)
             select 'Calls ' || (array['Mehta', 'mehta', 'Bose', 'Ali'])[1 + i % 4] || ' ' || (i % 9),
                    '+9192000' || lpad(i::text, 5, '0'), 'unassigned',
                    '2026-03-01 09:00:00+05:30'::timestamptz + make_interval(mins => i / 3)
               from generate_series(1, 1200) as i
             union all
             select 'Halves ' || (i % 5), '+9193000' || lpad(i::text, 5, '0'), 'unassigned',
                    '2026-03-01 09:00:00+05:30'::timestamptz + make_interval(mins => i / 2)
               from generate_series(1, 600) as i",
            &[],
        )
        .unwrap();
    let orders = [
        ("created_at", true, "created_at desc, id desc"),
        ("name", false, "name, created_at, id"),
        ("name", true, "name desc, created_at desc, id desc"),
        ("status", false, "status, created_at, id"),
    ];
    for (sort, descending, order_by) in orders {
        for (term, like, calls_expected) in [("calls", "Calls %", vec![251, 251, 251, 251]), ("HALVES", "Halves %", vec![251, 251, 100])] {
            let expected: Vec<i64> = t
                .db
                .client
                .query(&format!("select id from leads where name like '{like}' order by {order_by} limit 1000"), &[])
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let args = format!("term => '{term}', sort => '{sort}', descending => {descending}");
            let (exported, calls) = as_admin(&mut t, |tx| export_in_calls(tx, &args));
            assert_eq!(calls, calls_expected, "{args}");
            assert_eq!(exported.len(), expected.len(), "{args}");
            assert_eq!(exported, expected, "{args}: the same leads, in the table's order, none twice");
        }
    }
}

#[test]
fn sorted_by_name_a_caller_with_filters_gets_the_same_page_as_ordering_its_own_leads() {
    let mut t = table();
    let (user, asha, ravi) = (t.asha_user.clone(), t.asha, t.ravi);
    t.db.client
        .execute(
            "insert into leads (name, phone, status, state, caller_id, assigned_at, created_at)
             select 'Named ' || (array['Zoya', 'arjun', 'Arjun', 'Meera'])[1 + i % 4],
                    '+9194000' || lpad(i::text, 5, '0'),
                    (array['new', 'contacted', 'lost'])[1 + i % 3],
                    (array['MH', 'KA'])[1 + i % 2],
                    case when i % 5 = 0 then $2::bigint else $1::bigint end, now(),
                    '2026-03-01 09:00:00+05:30'::timestamptz + make_interval(mins => i / 4)
               from generate_series(1, 400) as i",
            &[&asha, &ravi],
        )
        .unwrap();
    for (filters, sql_filters) in [
        ("", ""),
        (", status => 'new'", " and status = 'new'"),
        (", status => 'contacted', state => 'KA'", " and status = 'contacted' and state = 'KA'"),
    ] {
        for (descending, order_by) in [(false, "name, created_at, id"), (true, "name desc, created_at desc, id desc")] {
            for offset in [0, 25, 250] {
                let expected: Vec<i64> = t
                    .db
                    .client
                    .query(
                        &format!(
                            "select id from leads where name like 'Named %' and caller_id = $1{sql_filters} order by {order_by} limit 26 offset {offset}"
                        ),
                        &[&asha],
                    )
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let args = format!("term => 'named'{filters}, sort => 'name', descending => {descending}, row_limit => 26, row_offset => {offset}");
                let found = as_role(&mut t.db.client, "authenticated", Some(&user), |tx| search(tx, &args, &[]).unwrap());
                assert_eq!(found, expected, "{args}");
                assert!(offset >= 250 || !found.is_empty(), "{args}: a page the caller's own leads fill");
            }
        }
    }
}

#[test]
fn the_name_column_keeps_a_thousand_histogram_bounds_so_one_matching_bound_means_a_tenth_of_a_percent() {
    let mut db = Db::new();
    // 3,000 distinct names: more than 101, so a default target (100) would
    // keep only 101 bounds.
    db.client
        .batch_execute(
            "insert into leads (name, phone, status)
             select 'Lead ' || pg_catalog.lpad(g::text, 5, '0'), '+9198' || (10000000 + g)::text, 'unassigned'
               from pg_catalog.generate_series(1, 3000) g;
             analyze public.leads (name);",
        )
        .unwrap();
    let target: i32 = db
        .client
        .query_one("select attstattarget from pg_catalog.pg_attribute where attrelid = 'public.leads'::regclass and attname = 'name'", &[])
        .unwrap()
        .get(0);
    assert_eq!(target, 1000);
    let bounds: i32 = db
        .client
        .query_one(
            "select pg_catalog.array_length(histogram_bounds::text::text[], 1) from pg_catalog.pg_stats
              where schemaname = 'public' and tablename = 'leads' and attname = 'name'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(bounds, 1001, "the histogram of 3,000 distinct names has 1,001 bounds");
}
