//! Durable idempotency: a delivery reference on an item makes `ingest_lead`
//! and `ingest_leads` remember the item's answer in `engine.deliveries`, in
//! the same transaction as its lead, and answer repeats from it.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::support::{phone, Caller, Db};

const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// A lead with `phone` carrying the reference (sender, key, item, body hash).
fn keyed(phone: &str, sender: &str, key: &str, item: i32, body_hash: &str) -> Value {
    json!({
        "phone": phone,
        "state": "MH",
        "delivery": {"sender": sender, "key": key, "item": item, "body_hash": body_hash},
    })
}

fn leads(db: &mut Db) -> i64 {
    db.scalar_i64("select count(*) from leads")
}

fn logs(db: &mut Db) -> i64 {
    db.scalar_i64("select count(*) from assignment_logs")
}

fn deliveries(db: &mut Db) -> i64 {
    db.scalar_i64("select count(*) from engine.deliveries")
}

fn without_replayed(mut answer: Value) -> Value {
    answer.as_object_mut().unwrap().remove("replayed");
    answer
}

#[test]
fn a_replay_gives_the_stored_result_and_creates_nothing() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").states(&["MH"]));

    let first = db.ingest(keyed(&phone(1), "secret-1", "k1", 0, HASH_A));
    let (leads_before, logs_before) = (leads(&mut db), logs(&mut db));
    let again = db.ingest(keyed(&phone(1), "secret-1", "k1", 0, HASH_A));

    assert_eq!(first["status"], "assigned");
    assert_eq!(first.get("replayed"), None);
    assert_eq!(again["replayed"], true);
    assert_eq!(without_replayed(again), first, "the replay is the stored answer");
    assert_eq!(leads(&mut db), leads_before);
    assert_eq!(logs(&mut db), logs_before);
    assert_eq!(db.load(a), 1, "a replay books no load");
    let stored: Value = db.client.query_one("select result from engine.deliveries", &[]).unwrap().get(0);
    assert_eq!(stored, first, "the row holds exactly the answer returned");
}

#[test]
fn a_replay_through_the_batch_path_gives_the_stored_result_and_creates_nothing() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let delivery = json!([
        keyed(&phone(1), "secret-1", "arr", 0, HASH_A),
        {"phone": "not a phone", "delivery": {"sender": "secret-1", "key": "arr", "item": 1, "body_hash": HASH_A}},
        keyed(&phone(2), "secret-1", "arr", 2, HASH_A),
    ]);

    let first = db.ingest_batch(delivery.clone());
    let leads_before = leads(&mut db);
    let again = db.ingest_batch(delivery);

    assert_eq!(first[0]["status"], "assigned");
    assert_eq!(first[1]["status"], "invalid");
    assert_eq!(first[2]["status"], "assigned");
    for (first, again) in first.iter().zip(&again) {
        assert_eq!(again["replayed"], true);
        assert_eq!(&without_replayed(again.clone()), first);
    }
    assert_eq!(leads(&mut db), leads_before);
    assert_eq!(deliveries(&mut db), 3, "one row per item, the invalid one included");
}

#[test]
fn the_same_key_with_another_body_is_idempotency_key_reused_and_nothing_is_stored() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    db.ingest(keyed(&phone(1), "secret-1", "k1", 0, HASH_A));
    let (leads_before, rows_before) = (leads(&mut db), deliveries(&mut db));

    let single = db.ingest(keyed(&phone(2), "secret-1", "k1", 0, HASH_B));
    let batch = db.ingest_batch(json!([keyed(&phone(3), "secret-1", "k1", 0, HASH_B)]));

    let reused = json!({"status": "invalid", "error": "idempotency_key_reused"});
    assert_eq!(single, reused);
    assert_eq!(batch, vec![reused]);
    assert_eq!(leads(&mut db), leads_before, "no lead for a reused key");
    assert_eq!(deliveries(&mut db), rows_before, "nothing stored for a reused key");
    let stored_hash: String = db.client.query_one("select body_hash from engine.deliveries", &[]).unwrap().get(0);
    assert_eq!(stored_hash, HASH_A, "the first body's answer stays");
}

#[test]
fn a_key_reused_with_another_body_refuses_every_item_even_one_never_stored() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    db.ingest_batch(json!([keyed(&phone(1), "secret-1", "arr", 0, HASH_A)]));
    let leads_before = leads(&mut db);

    let answers = db.ingest_batch(json!([
        keyed(&phone(1), "secret-1", "arr", 0, HASH_B),
        keyed(&phone(2), "secret-1", "arr", 1, HASH_B),
    ]));
    let single = db.ingest(keyed(&phone(3), "secret-1", "arr", 5, HASH_B));

    let reused = json!({"status": "invalid", "error": "idempotency_key_reused"});
    assert_eq!(answers, vec![reused.clone(), reused.clone()]);
    assert_eq!(single, reused);
    assert_eq!(leads(&mut db), leads_before, "no item slipped in under the old key");
    assert_eq!(deliveries(&mut db), 1);
}

#[test]
fn another_item_of_the_same_body_under_a_known_key_is_processed() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    db.ingest(keyed(&phone(1), "secret-1", "arr", 0, HASH_A));

    let answer = db.ingest(keyed(&phone(2), "secret-1", "arr", 1, HASH_A));

    assert_eq!(answer["status"], "assigned");
    assert_eq!(answer.get("replayed"), None);
    assert_eq!(deliveries(&mut db), 2);
}

#[test]
fn different_senders_do_not_share_keys() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));

    let one = db.ingest(keyed(&phone(1), "secret-1", "same-key", 0, HASH_A));
    let two = db.ingest(keyed(&phone(2), "secret-2", "same-key", 0, HASH_B));

    assert_eq!(one["status"], "assigned");
    assert_eq!(two["status"], "assigned");
    assert_eq!(two.get("replayed"), None);
    assert_ne!(one["lead_id"], two["lead_id"]);
    assert_eq!(deliveries(&mut db), 2);
}

#[test]
fn the_same_reference_twice_in_one_call_is_answered_like_the_first() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));

    let answers = db.ingest_batch(json!([
        keyed(&phone(1), "secret-1", "k", 0, HASH_A),
        keyed(&phone(1), "secret-1", "k", 0, HASH_A),
        keyed(&phone(2), "secret-1", "k", 1, HASH_B),
    ]));

    assert_eq!(answers[0]["status"], "assigned");
    assert_eq!(answers[1]["replayed"], true);
    assert_eq!(without_replayed(answers[1].clone()), answers[0]);
    assert_eq!(answers[2], json!({"status": "invalid", "error": "idempotency_key_reused"}));
    assert_eq!(leads(&mut db), 1);
    assert_eq!(deliveries(&mut db), 1);
}

#[test]
fn a_batch_with_delivery_references_stores_one_row_per_item_in_the_same_transaction() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let batch: Vec<Value> = (0..5).map(|i| keyed(&phone(10 + i), "secret-1", "batch", i as i32, HASH_A)).collect();

    let mut tx = db.client.transaction().unwrap();
    let answers: Value = tx.query_one("select ingest_leads($1)", &[&json!(batch)]).unwrap().get(0);
    let inside: i64 = tx.query_one("select count(*) from engine.deliveries", &[]).unwrap().get(0);
    let leads_inside: i64 = tx.query_one("select count(*) from leads", &[]).unwrap().get(0);
    tx.rollback().unwrap();

    assert_eq!(answers.as_array().unwrap().len(), 5);
    assert_eq!(inside, 5, "one row per item");
    assert_eq!(leads_inside, 5);
    assert_eq!(deliveries(&mut db), 0, "rolled back with the leads");
    assert_eq!(leads(&mut db), 0);
    let after = db.ingest_batch(json!(batch));
    assert!(after.iter().all(|a| a.get("replayed").is_none()), "nothing remembered from the rolled-back call");
    assert_eq!(leads(&mut db), 5);
}

#[test]
fn a_malformed_delivery_reference_fails_the_call_and_stores_nothing() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let bad = json!({"phone": phone(1), "delivery": {"sender": "s", "key": "k", "item": -1, "body_hash": HASH_A}});

    let single = db.client.query_one("select ingest_lead($1)", &[&bad]);
    let batch = db.client.query_one("select ingest_leads($1)", &[&json!([bad])]);

    assert_eq!(crate::support::sqlstate(single), "22023");
    assert_eq!(crate::support::sqlstate(batch), "22023");
    assert_eq!(leads(&mut db), 0);
}

#[test]
fn the_purge_removes_only_deliveries_older_than_24_hours() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    db.set_now("2026-06-01 10:00+05:30");
    db.ingest(keyed(&phone(1), "secret-1", "old", 0, HASH_A));
    db.set_now("2026-06-01 12:00+05:30");
    db.ingest(keyed(&phone(2), "secret-1", "young", 0, HASH_A));

    db.set_now("2026-06-02 11:00+05:30");
    let purged = db.scalar_i64("select purge_deliveries()::bigint");

    assert_eq!(purged, 1);
    let left: Vec<String> =
        db.client.query("select key from engine.deliveries", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(left, vec!["young".to_string()]);
}

#[test]
fn an_answer_older_than_24_hours_is_not_replayed_even_before_the_purge() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    db.set_now("2026-06-01 10:00+05:30");
    let first = db.ingest(keyed(&phone(1), "secret-1", "k", 0, HASH_A));

    db.set_now("2026-06-02 10:00:01+05:30");
    let later = db.ingest(keyed(&phone(1), "secret-1", "k", 0, HASH_A));

    assert_eq!(later.get("replayed"), None);
    assert_eq!(later["status"], "assigned", "a new delivery, outside the duplicate window too");
    assert_ne!(later["lead_id"], first["lead_id"]);
    let stored: Value = db.client.query_one("select result from engine.deliveries", &[]).unwrap().get(0);
    assert_eq!(stored, later, "the expired row was replaced");
}

#[test]
fn purge_deliveries_is_for_the_service_role_only() {
    let mut db = Db::new();
    for role in ["anon", "authenticated"] {
        let outcome =
            crate::support::as_role(&mut db.client, role, None, |tx| tx.query_one("select purge_deliveries()", &[]));
        assert_eq!(crate::support::sqlstate(outcome), "42501", "{role}");
    }
    let outcome = crate::support::as_role(&mut db.client, "service_role", None, |tx| {
        tx.query_one("select purge_deliveries()", &[]).map(|r| r.get::<_, i32>(0))
    });
    assert_eq!(outcome.unwrap(), 0);
    let outcome = crate::support::as_role(&mut db.client, "authenticated", None, |tx| {
        tx.query_one("select count(*) from engine.deliveries", &[])
    });
    assert_eq!(crate::support::sqlstate(outcome), "42501", "no API role but the service reads deliveries");
}

#[test]
fn the_same_key_from_two_connections_at_once_stores_one_lead() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let url = db.db.url.clone();
    const ROUNDS: usize = 20;

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let results: Vec<Vec<Value>> = runtime.block_on(async {
        let mut handles = Vec::new();
        let barrier = Arc::new(Barrier::new(2));
        for connection in 0..2 {
            let (url, barrier) = (url.clone(), barrier.clone());
            handles.push(tokio::spawn(async move {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
                tokio::spawn(conn);
                let mut answers = Vec::new();
                for round in 0..ROUNDS {
                    // Even rounds: the same body (same phone, same hash) on both.
                    // Odd rounds: the same key with another body and phone on each.
                    let (p, hash) = if round % 2 == 0 {
                        (phone(round as u32), HASH_A)
                    } else {
                        (phone(1000 + (round * 2 + connection) as u32), if connection == 0 { HASH_A } else { HASH_B })
                    };
                    let key = format!("race-{round}");
                    let batched = connection == 1 && round % 4 < 2;
                    barrier.wait().await;
                    let answer: Value = if batched {
                        let items = json!([keyed(&p, "secret-1", &key, 0, hash)]);
                        let out: Value = client.query_one("select ingest_leads($1)", &[&items]).await.unwrap().get(0);
                        out[0].clone()
                    } else {
                        let item = keyed(&p, "secret-1", &key, 0, hash);
                        client.query_one("select ingest_lead($1)", &[&item]).await.unwrap().get(0)
                    };
                    answers.push(answer);
                }
                answers
            }));
        }
        let mut results = Vec::new();
        for handle in handles {
            results.push(handle.await.unwrap());
        }
        results
    });

    for (round, (a, b)) in results[0].iter().zip(&results[1]).enumerate() {
        let replays = [a, b].iter().filter(|x| x.get("replayed") == Some(&json!(true))).count();
        let reused = [a, b].iter().filter(|x| x["error"] == "idempotency_key_reused").count();
        if round % 2 == 0 {
            assert_eq!(replays, 1, "round {round}: exactly one of the two is a replay: {a} {b}");
            assert_eq!(without_replayed(a.clone()), without_replayed(b.clone()), "round {round}");
        } else {
            assert_eq!(reused, 1, "round {round}: exactly one of the two is refused: {a} {b}");
        }
    }
    assert_eq!(db.scalar_i64("select count(*) from leads"), ROUNDS as i64, "one lead per key");
    assert_eq!(db.scalar_i64("select count(*) from engine.deliveries"), ROUNDS as i64);
}
