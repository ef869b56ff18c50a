//! The caller queue (`caller_queue`, "My leads" one page at a time) and each
//! caller's conversion today (`caller_conversion_today()`), migration
//! 20261130002200.

#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::support::{as_role, phone, plain_numbers, sqlstate, Caller, Db};

/// The page the web app asks for (`order=follow_up.asc,assigned_at.asc,id.asc`).
const QUEUE_PAGE: &str = "select id from caller_queue where caller_id = $1 order by follow_up, assigned_at, id limit $2 offset $3";

fn ingest_at(db: &mut Db, at: &str, n: u32) -> i64 {
    db.set_now(at);
    db.ingest(json!({"phone": phone(n), "name": format!("Lead {n}")}))["lead_id"].as_i64().unwrap()
}

fn set_status(db: &mut Db, lead: i64, status: &str) {
    db.client.execute("update leads set status = $2 where id = $1", &[&lead, &status]).unwrap();
}

fn page(tx: &mut postgres::Transaction<'_>, caller: i64, limit: i64, offset: i64) -> Vec<i64> {
    tx.query(QUEUE_PAGE, &[&caller, &limit, &offset]).unwrap().iter().map(|r| r.get(0)).collect()
}

#[test]
fn the_queue_lists_leads_awaiting_contact_by_sla_due_time_then_follow_ups_and_hides_closed_ones() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("Asha"));
    let user = db.add_member("asha@example.com", "caller", Some(caller));
    let first = ingest_at(&mut db, "2026-03-02 09:00:00+05:30", 1);
    let followed = ingest_at(&mut db, "2026-03-02 09:10:00+05:30", 2);
    let second = ingest_at(&mut db, "2026-03-02 09:20:00+05:30", 3);
    let closed = ingest_at(&mut db, "2026-03-02 09:30:00+05:30", 4);
    let third = ingest_at(&mut db, "2026-03-02 09:40:00+05:30", 5);
    set_status(&mut db, followed, "contacted");
    set_status(&mut db, closed, "converted");

    let (pages, due) = as_role(&mut db.client, "authenticated", Some(&user), |tx| {
        let pages = [page(tx, caller, 2, 0), page(tx, caller, 2, 2), page(tx, caller, 2, 4)];
        let due: Vec<(i64, Option<String>)> = tx
            .query("select id, to_char(sla_due_at at time zone 'Asia/Kolkata', 'HH24:MI') from caller_queue order by id", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        (pages, due)
    });

    assert_eq!(pages, [vec![first, second], vec![third, followed], vec![]]);
    // The default SLA is 120 minutes; a contacted lead has met it.
    assert_eq!(
        due,
        vec![
            (first, Some("11:00".to_owned())),
            (followed, None),
            (second, Some("11:20".to_owned())),
            (third, Some("11:40".to_owned())),
        ]
    );
}

#[test]
fn a_caller_reads_only_its_own_queue_and_anon_reads_none() {
    let mut db = Db::new();
    let alice = db.add_caller(Caller::named("Alice"));
    let bob = db.add_caller(Caller::named("Bob"));
    let alice_lead = ingest_at(&mut db, "2026-03-02 09:00:00+05:30", 1);
    let bob_lead = ingest_at(&mut db, "2026-03-02 09:01:00+05:30", 2);
    assert_eq!(db.scalar_i64(&format!("select caller_id from leads where id = {bob_lead}")), bob);
    let user = db.add_member("alice@example.com", "caller", Some(alice));

    let seen: Vec<i64> = as_role(&mut db.client, "authenticated", Some(&user), |tx| {
        tx.query("select id from caller_queue", &[]).unwrap().iter().map(|r| r.get(0)).collect()
    });
    let anon = as_role(&mut db.client, "anon", None, |tx| sqlstate(tx.query("select id from caller_queue", &[])));

    assert_eq!(seen, vec![alice_lead]);
    assert_eq!(anon, "42501");
}

#[test]
fn a_queue_page_is_read_in_order_from_the_queue_index_without_sorting() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("Asha"));
    for n in 0..50 {
        ingest_at(&mut db, &format!("2026-03-02 09:{n:02}:00+05:30"), n);
    }
    // A handful of rows would be read by a sequential scan whatever the
    // indexes; this asks whether the index can serve the page at all.
    db.client.batch_execute("set enable_seqscan = off; set enable_bitmapscan = off").unwrap();

    let plan: Vec<String> = db
        .client
        .query(&format!("explain {}", QUEUE_PAGE), &[&caller, &20i64, &40i64])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");

    assert!(plan.contains("leads_caller_queue_idx"), "the page uses the queue index:\n{plan}");
    assert!(!plan.contains("Sort"), "the index gives the order, nothing is sorted:\n{plan}");
}

fn conversion(db: &mut Db, user: &str) -> Value {
    as_role(&mut db.client, "authenticated", Some(user), |tx| {
        tx.query_one("select caller_conversion_today()", &[]).unwrap().get(0)
    })
}

#[test]
fn a_callers_conversion_today_is_the_share_of_todays_leads_it_holds_that_converted() {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let idle = db.add_caller(Caller::named("Idle").inactive());
    let admin = db.add_member("admin@example.com", "admin", None);
    // Yesterday's lead, converted today: yesterday's cohort, not today's.
    let old = ingest_at(&mut db, "2026-03-01 18:00:00+05:30", 1);
    let leads: Vec<i64> = (2..6).map(|n| ingest_at(&mut db, &format!("2026-03-02 09:0{n}:00+05:30"), n)).collect();
    db.set_now("2026-03-02 12:00:00+05:30");
    set_status(&mut db, old, "converted");
    set_status(&mut db, leads[0], "converted");
    set_status(&mut db, leads[1], "lost");
    // Tomorrow starts at local midnight in the team's zone (Asia/Kolkata).
    db.set_now("2026-03-02 23:59:59+05:30");
    let today = conversion(&mut db, &admin);
    db.set_now("2026-03-03 00:00:01+05:30");
    let tomorrow = conversion(&mut db, &admin);

    assert_eq!(
        plain_numbers(today),
        json!([
            {"caller_id": asha, "received": 4, "converted": 1, "conversion_rate": 0.25},
            {"caller_id": idle, "received": 0, "converted": 0, "conversion_rate": null},
        ])
    );
    assert_eq!(tomorrow[0], json!({"caller_id": asha, "received": 0, "converted": 0, "conversion_rate": null}));
}

#[test]
fn a_lead_moved_to_another_caller_counts_for_the_caller_who_holds_it_as_in_the_report() {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let bina = db.add_caller(Caller::named("Bina"));
    let admin = db.add_member("admin@example.com", "admin", None);
    let moved = ingest_at(&mut db, "2026-03-02 09:00:00+05:30", 1);
    let kept = ingest_at(&mut db, "2026-03-02 09:01:00+05:30", 2);
    ingest_at(&mut db, "2026-03-02 09:02:00+05:30", 3);
    set_status(&mut db, kept, "converted");
    let from = db.scalar_i64(&format!("select caller_id from leads where id = {moved}"));
    let to = if from == asha { bina } else { asha };

    let (today, report): (Value, Value) = as_role(&mut db.client, "authenticated", Some(&admin), |tx| {
        tx.execute("select reassign_lead($1, $2, null)", &[&moved, &to]).unwrap();
        (
            tx.query_one("select caller_conversion_today()", &[]).unwrap().get(0),
            tx.query_one("select report('today')", &[]).unwrap().get(0),
        )
    });

    let received: i64 = today.as_array().unwrap().iter().map(|c| c["received"].as_i64().unwrap()).sum();
    assert_eq!(received, 3, "each of today's leads counts once: {today}");
    let pick = |v: &Value| json!([v["caller_id"], v["received"], v["converted"], v["conversion_rate"]]);
    let ours: Vec<Value> = today.as_array().unwrap().iter().map(pick).collect();
    let theirs: Vec<Value> = report["per_caller"].as_array().unwrap().iter().map(pick).collect();
    assert_eq!(ours, theirs, "the dashboard's per-caller figures are report('today')'s");
}

#[test]
fn only_admins_read_the_callers_conversion() {
    let mut db = Db::new();
    let asha = db.add_caller(Caller::named("Asha"));
    let user = db.add_member("asha@example.com", "caller", Some(asha));

    let caller = as_role(&mut db.client, "authenticated", Some(&user), |tx| {
        sqlstate(tx.query("select caller_conversion_today()", &[]))
    });
    let anon = as_role(&mut db.client, "anon", None, |tx| sqlstate(tx.query("select caller_conversion_today()", &[])));

    assert_eq!((caller.as_str(), anon.as_str()), ("42501", "42501"));
}
