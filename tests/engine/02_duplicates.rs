//! Duplicate phones, the duplicate window, and input validation.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use crate::support::{phone, sqlstate, Caller, Db};

#[test]
fn a_duplicate_phone_within_24h_returns_the_original_lead() {
    let mut db = Db::new();
    let caller = db.add_caller(Caller::named("A"));
    db.set_now("2026-03-02 10:00:00+05:30");
    let original = db.ingest(json!({"phone": phone(1), "name": "First"}));
    db.set_now("2026-03-02 15:00:00+05:30");

    let again = db.ingest(json!({"phone": phone(1), "name": "Second"}));

    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["lead_id"], original["lead_id"]);
    assert_eq!(again["caller_id"], caller);
    assert_eq!(again["caller_name"], "A");
    let row = db
        .client
        .query_one(
            "select duplicate_count, last_duplicate_at = '2026-03-02 15:00:00+05:30'::timestamptz, name from leads",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    assert!(row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(2), "First", "a duplicate does not overwrite the original");
    assert_eq!(db.scalar_i64("select count(*) from leads"), 1);
    assert_eq!(db.scalar_i64("select count(*) from assignment_logs"), 1, "a duplicate is not an assignment");
    assert_eq!(db.load(caller), 1);
}

#[test]
fn a_phone_seen_again_just_inside_the_window_is_a_duplicate() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    db.set_now("2026-03-02 10:00:00+05:30");
    db.ingest(json!({"phone": phone(1)}));
    db.set_now("2026-03-03 09:59:59+05:30");

    let again = db.ingest(json!({"phone": phone(1)}));

    assert_eq!(again["status"], "duplicate");
}

#[test]
fn a_phone_seen_again_just_outside_the_window_is_a_new_lead() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    db.set_now("2026-03-02 10:00:00+05:30");
    let first = db.ingest(json!({"phone": phone(1)}));
    db.set_now("2026-03-03 10:00:01+05:30");

    let again = db.ingest(json!({"phone": phone(1)}));

    assert_eq!(again["status"], "assigned");
    assert_ne!(again["lead_id"], first["lead_id"]);
    assert_eq!(db.scalar_i64("select count(*) from leads"), 2);
}

#[test]
fn the_duplicate_window_follows_the_settings() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    db.client.execute("update settings set duplicate_window = '1 hour'", &[]).unwrap();
    db.set_now("2026-03-02 10:00:00+05:30");
    db.ingest(json!({"phone": phone(1)}));
    db.set_now("2026-03-02 11:00:01+05:30");

    assert_eq!(db.ingest(json!({"phone": phone(1)}))["status"], "assigned");
}

#[test]
fn a_repeated_phone_within_one_batch_returns_the_first_items_lead() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));

    let results = db.ingest_batch(json!([{"phone": phone(1)}, {"phone": phone(2)}, {"phone": phone(1)}]));

    assert_eq!(results[0]["status"], "assigned");
    assert_eq!(results[2]["status"], "duplicate");
    assert_eq!(results[2]["lead_id"], results[0]["lead_id"]);
    assert_eq!(db.scalar_i64("select count(*) from leads"), 2);
}

#[test]
fn batch_results_come_back_in_input_order() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));

    let results = db.ingest_batch(json!([{"phone": phone(3)}, {"phone": phone(1)}, {"phone": phone(2)}]));

    let phones: Vec<String> = results
        .iter()
        .map(|r| {
            let id = r["lead_id"].as_i64().unwrap();
            db.client.query_one("select phone from leads where id = $1", &[&id]).unwrap().get(0)
        })
        .collect();
    assert_eq!(phones, vec![phone(3), phone(1), phone(2)]);
}

#[test]
fn an_invalid_lead_gets_a_clear_error_and_changes_nothing() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    let cases = [
        (json!({"name": "no phone"}), "phone is required"),
        (json!({"phone": "98765 43210"}), "E.164"),
        (json!({"phone": 919876543210_i64}), "phone must be a string"),
        (json!({"phone": phone(1), "state": 5}), "state must be a string or null"),
        (json!({"phone": phone(1), "metadata": [1]}), "metadata must be a JSON object"),
        (json!("just text"), "must be a JSON object"),
    ];

    for (payload, expected) in cases {
        let result = db.ingest(payload.clone());
        assert_eq!(result["status"], "invalid", "{payload}");
        let error = result["error"].as_str().unwrap();
        assert!(error.contains(expected), "{payload}: {error}");
    }
    assert_eq!(db.scalar_i64("select count(*) from leads"), 0);
    assert_eq!(db.scalar_i64("select count(*) from caller_daily_loads"), 0);
}

#[test]
fn one_invalid_item_in_a_batch_does_not_abort_the_others() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));

    let results =
        db.ingest_batch(json!([{"phone": phone(1)}, {"phone": "not a phone"}, {"phone": phone(2), "city": "Pune"}]));

    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["status"], "assigned");
    assert_eq!(results[1]["status"], "invalid");
    assert!(results[1]["error"].as_str().unwrap().contains("E.164"));
    assert_eq!(results[2]["status"], "assigned");
    assert_eq!(db.scalar_i64("select count(*) from leads"), 2);
}

#[test]
fn a_valid_batch_is_stored_in_one_pass_with_one_log_row_per_assignment_in_decision_order() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").states(&["MH"]));
    let b = db.add_caller(Caller::named("B").limit(2));
    let items: Vec<_> = (1..=8)
        .map(|n| json!({"phone": phone(n), "state": if n % 2 == 0 { Some("MH") } else { None }}))
        .chain([json!({"phone": "bad"}), json!({"phone": phone(1)})])
        .collect();

    let results = db.ingest_batch(json!(items));

    assert_eq!(results.len(), 10);
    assert_eq!(results[8]["status"], "invalid");
    assert_eq!(results[9]["status"], "duplicate");
    assert_eq!(results[9]["lead_id"], results[0]["lead_id"]);
    // The fast path is not silently redone item by item: a redo would have
    // consumed the first pass's lead ids (sequences do not roll back), so the
    // leads of this fresh database would not be 1..=8.
    let ids: Vec<i64> = results[..8].iter().map(|r| r["lead_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, (1..=8).collect::<Vec<i64>>(), "{results:?}");
    // One log row per assignment, ids in decision (= item) order, each with
    // the decision's time and the loads it saw: all earlier items' bookings.
    let logs = db
        .client
        .query(
            "select g.lead_id, g.caller_id, g.reason, g.created_at = l.assigned_at,
                    (select sum((c ->> 'assigned_today')::int) from json_array_elements(g.candidates) c)
               from assignment_logs g join leads l on l.id = g.lead_id order by g.id",
            &[],
        )
        .unwrap();
    assert_eq!(logs.len(), 8);
    for (n, row) in logs.iter().enumerate() {
        assert_eq!(row.get::<_, i64>(0), ids[n]);
        assert_eq!(Some(row.get::<_, i64>(1)), results[n]["caller_id"].as_i64());
        assert_eq!(row.get::<_, String>(2), results[n]["reason"].as_str().unwrap());
        assert!(row.get::<_, bool>(3), "log time is the decision time");
        assert_eq!(row.get::<_, i64>(4), n as i64, "decision {n} saw every earlier booking");
    }
    assert_eq!(db.load(a) + db.load(b), 8);
    assert_eq!(db.scalar_i64("select count(*) from leads"), 8);
}

#[test]
fn an_item_failing_inside_the_engine_is_reported_and_the_rest_of_the_batch_is_stored() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));
    // A constraint validation does not know about: the item passes the payload
    // checks but its insert fails, exercising the per-item subtransactions.
    db.client
        .batch_execute("alter table leads add constraint no_spam check (source is distinct from 'spam')")
        .unwrap();

    let results = db.ingest_batch(json!([
        {"phone": phone(1)}, {"phone": phone(2), "source": "spam"}, {"phone": phone(3)}
    ]));

    assert_eq!(results[0]["status"], "assigned");
    assert_eq!(results[1]["status"], "invalid");
    assert_eq!(results[1]["error"], "lead_violates_constraint", "a stable code, not the database's text");
    assert_eq!(results[2]["status"], "assigned");
    assert_eq!(db.scalar_i64("select count(*) from leads"), 2);
    assert_eq!(db.scalar_i64("select count(*) from assignment_logs"), 2);
    assert_eq!(db.scalar_i64("select sum(assigned) from caller_daily_loads"), 2, "the failed item booked no load");
}

#[test]
fn a_batch_that_is_not_an_array_is_rejected() {
    let mut db = Db::new();

    let result = db.client.query_one("select ingest_leads($1)", &[&json!({"phone": phone(1)})]);

    assert_eq!(sqlstate(result), "22023");
    assert_eq!(db.scalar_i64("select count(*) from leads"), 0);
}

#[test]
fn an_empty_batch_returns_an_empty_array() {
    let mut db = Db::new();

    assert!(db.ingest_batch(json!([])).is_empty());
}

#[test]
fn text_fields_are_trimmed_and_language_lowercased() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A"));

    db.ingest(json!({"phone": phone(1), "name": "  Asha  ", "city": "", "language": "HI", "metadata": {"row": 4}}));

    let row = db.client.query_one("select name, city, language, metadata from leads", &[]).unwrap();
    assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("Asha"));
    assert_eq!(row.get::<_, Option<String>>(1), None);
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("hi"));
    assert_eq!(row.get::<_, serde_json::Value>(3), json!({"row": 4}));
}
