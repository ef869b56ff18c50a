//! Routing tiers: state match, language preference, global, weighted round robin.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use crate::support::{phone, Caller, Db};

#[test]
fn a_lead_goes_to_a_caller_covering_its_state() {
    let mut db = Db::new();
    let _karnataka = db.add_caller(Caller::named("Kavya").states(&["KA"]));
    let maharashtra = db.add_caller(Caller::named("Meera").states(&["MH"]));

    let result = db.ingest(json!({"phone": phone(1), "state": "MH", "name": "Asha"}));

    assert_eq!(result["status"], "assigned");
    assert_eq!(result["caller_id"], maharashtra);
    assert_eq!(result["caller_name"], "Meera");
    assert_eq!(result["reason"], "state_match");
    assert_eq!(result["tier"], 1);
}

#[test]
fn a_lead_from_a_state_nobody_covers_goes_to_the_global_tier() {
    let mut db = Db::new();
    let karnataka = db.add_caller(Caller::named("Kavya").states(&["KA"]));

    let result = db.ingest(json!({"phone": phone(1), "state": "TN"}));

    assert_eq!(result["caller_id"], karnataka);
    assert_eq!(result["reason"], "global");
    assert_eq!(result["tier"], 2);
}

#[test]
fn a_lead_without_a_state_goes_to_the_global_tier() {
    let mut db = Db::new();
    let any = db.add_caller(Caller::named("Kavya").states(&["KA"]));

    let result = db.ingest(json!({"phone": phone(1)}));

    assert_eq!(result["caller_id"], any);
    assert_eq!(result["tier"], 2);
}

#[test]
fn callers_speaking_the_leads_language_come_first_within_the_state_tier() {
    let mut db = Db::new();
    let marathi = db.add_caller(Caller::named("Mohan").states(&["MH"]).languages(&["mr"]));
    let hindi = db.add_caller(Caller::named("Harsh").states(&["MH"]).languages(&["hi", "en"]));
    // Hindi speaker already has more leads: plain round robin would pick Mohan.
    db.assign(&phone(1), Some("MH"));
    db.assign(&phone(2), Some("MH"));
    assert_eq!((db.load(marathi), db.load(hindi)), (1, 1));
    db.ingest(json!({"phone": phone(3), "state": "MH", "language": "hi"}));
    assert_eq!(db.load(hindi), 2);

    let result = db.ingest(json!({"phone": phone(4), "state": "MH", "language": "HI"}));

    assert_eq!(result["caller_id"], hindi, "a Hindi lead prefers the Hindi speaker despite the higher load");
    assert_eq!(result["tier"], 1);
}

#[test]
fn the_language_preference_never_pulls_a_lead_out_of_its_state_tier() {
    let mut db = Db::new();
    let _hindi_elsewhere = db.add_caller(Caller::named("Harsh").states(&["DL"]).languages(&["hi"]));
    let state_caller = db.add_caller(Caller::named("Mohan").states(&["MH"]).languages(&["mr"]));

    let result = db.ingest(json!({"phone": phone(1), "state": "MH", "language": "hi"}));

    assert_eq!(result["caller_id"], state_caller);
    assert_eq!(result["reason"], "state_match");
}

#[test]
fn without_a_speaker_in_the_state_tier_the_lead_still_goes_to_the_state_tier() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").states(&["MH"]));
    let b = db.add_caller(Caller::named("B").states(&["MH"]));

    let first = db.ingest(json!({"phone": phone(1), "state": "MH", "language": "ta"}));
    let second = db.ingest(json!({"phone": phone(2), "state": "MH", "language": "ta"}));

    assert_eq!(first["caller_id"], a);
    assert_eq!(second["caller_id"], b, "round robin still applies among non-speakers");
}

#[test]
fn inactive_and_paused_callers_are_never_chosen() {
    let mut db = Db::new();
    let _inactive = db.add_caller(Caller::named("Gone").states(&["MH"]).inactive());
    let paused = db.add_caller(Caller::named("Break").states(&["MH"]));
    db.client
        .execute("update callers set paused_until = now() + interval '1 hour' where id = $1", &[&paused])
        .unwrap();
    let available = db.add_caller(Caller::named("Here"));

    for n in 0..5 {
        let result = db.ingest(json!({"phone": phone(n), "state": "MH"}));
        assert_eq!(result["caller_id"], available);
        assert_eq!(result["tier"], 2);
    }
}

#[test]
fn a_pause_that_has_ended_no_longer_excludes_the_caller() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("Back").states(&["MH"]));
    db.client
        .execute("update callers set paused_until = now() - interval '1 minute' where id = $1", &[&caller])
        .unwrap();

    assert_eq!(db.assign(&phone(1), Some("MH")), Some(caller));
}

#[test]
fn equal_weights_spread_leads_evenly_within_a_tier() {
    let mut db = Db::new();
    let callers: Vec<i64> =
        ["A", "B", "C"].into_iter().map(|n| db.add_caller(Caller::named(n).states(&["KA"]))).collect();

    for n in 0..10 {
        db.assign(&phone(n), Some("KA"));
        let loads: Vec<i32> = callers.iter().map(|&c| db.load(c)).collect();
        let spread = loads.iter().max().unwrap() - loads.iter().min().unwrap();
        assert!(spread <= 1, "after {} leads the loads are {loads:?}", n + 1);
    }
}

#[test]
fn a_caller_with_weight_two_gets_twice_the_leads() {
    let mut db = Db::new();
    let heavy = db.add_caller(Caller::named("Heavy").weight(2));
    let light = db.add_caller(Caller::named("Light").weight(1));

    for n in 0..30 {
        db.assign(&phone(n), None);
    }

    assert_eq!((db.load(heavy), db.load(light)), (20, 10));
}

#[test]
fn among_callers_never_assigned_the_lowest_id_goes_first() {
    let mut db = Db::new();
    let first = db.add_caller(Caller::named("First"));
    let second = db.add_caller(Caller::named("Second"));
    let third = db.add_caller(Caller::named("Third"));

    let order: Vec<Option<i64>> = (0..6).map(|n| db.assign(&phone(n), None)).collect();

    let expected = [first, second, third, first, second, third].map(Some);
    assert_eq!(order, expected);
}

#[test]
fn the_least_recently_assigned_caller_wins_a_tie_even_with_a_higher_id() {
    let mut db = Db::new();
    let low = db.add_caller(Caller::named("Low"));
    let high = db.add_caller(Caller::named("High"));
    db.set_now("2026-03-02 10:00:00+05:30");
    db.client
        .execute(
            "insert into caller_daily_loads (caller_id, day, assigned) values ($1, '2026-03-02', 3), ($2, '2026-03-02', 3)",
            &[&low, &high],
        )
        .unwrap();
    db.client
        .execute(
            "update callers set last_assigned_at = case id when $1 then '2026-03-02 09:59+05:30'::timestamptz
                                                           else '2026-03-02 09:00+05:30'::timestamptz end",
            &[&low],
        )
        .unwrap();

    assert_eq!(db.assign(&phone(1), None), Some(high));
}

#[test]
fn every_assignment_writes_one_log_row_with_the_candidates_at_decision_time() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").states(&["MH"]).limit(5));
    let b = db.add_caller(Caller::named("B").limit(7).weight(2));
    db.assign(&phone(1), Some("MH"));

    let result = db.ingest(json!({"phone": phone(2), "state": "MH"}));

    let lead_id = result["lead_id"].as_i64().unwrap();
    let rows = db
        .client
        .query("select caller_id, reason, tier, candidates from assignment_logs where lead_id = $1", &[&lead_id])
        .unwrap();
    assert_eq!(rows.len(), 1);
    let caller: Option<i64> = rows[0].get(0);
    let reason: String = rows[0].get(1);
    let tier: Option<i32> = rows[0].get(2);
    let candidates: serde_json::Value = rows[0].get(3);
    assert_eq!(caller, result["caller_id"].as_i64());
    assert_eq!(reason, "state_match");
    assert_eq!(tier, Some(1));
    assert_eq!(
        candidates,
        json!([
            {"caller_id": a, "name": "A", "assigned_today": 1, "daily_lead_limit": 5, "weight": 1},
            {"caller_id": b, "name": "B", "assigned_today": 0, "daily_lead_limit": 7, "weight": 2},
        ])
    );
    assert_eq!(db.scalar_i64("select count(*) from assignment_logs"), 2);
}
