//! Concurrency: thousands of leads from many connections at once, with
//! duplicate phones racing, low limits forcing overflow, and callers being
//! activated mid-stream. Afterwards every invariant of the routing rule is
//! checked, including a replay of the assignment log: each decision's
//! candidate snapshot must equal the loads produced by all decisions before
//! it, which is exactly "each decision sees every decision before it".

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::support::{phone, Caller, Db};

const CONNECTIONS: usize = 32;
const ROUNDS: usize = 64; // 32 x 64 = 2,048 requests
const ACTIVE_CALLERS: usize = 8;
const LIMIT: i32 = 150; // 8 x 150 = 1,200 < 1,536 distinct phones: overflow is forced

/// The request plan: per round, one phone per connection; in a quarter of
/// the slots the phone is the same as the neighbouring connection's in that
/// very round, so the two copies arrive together.
fn plan() -> Vec<Vec<String>> {
    let mut next = 0u32;
    (0..ROUNDS)
        .map(|_| {
            let mut round: Vec<String> = Vec::with_capacity(CONNECTIONS);
            for slot in 0..CONNECTIONS {
                // slots 1, 5, 9, ... repeat the phone of the slot before them
                if slot % 4 == 1 {
                    let prev: String = round[slot - 1].clone();
                    round.push(prev);
                } else {
                    next += 1;
                    round.push(phone(next));
                }
            }
            round
        })
        .collect()
}

fn states(n: usize) -> Option<&'static str> {
    match n % 3 {
        0 => Some("MH"),
        1 => Some("KA"),
        _ => None,
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

fn team(db: &mut Db) -> Vec<i64> {
    let active: Vec<i64> = (0..ACTIVE_CALLERS)
        .map(|i| {
            let name: &'static str = Box::leak(format!("Caller {i}").into_boxed_str());
            db.add_caller(Caller::named(name).states(&["MH", "KA"]).limit(LIMIT))
        })
        .collect();
    db.add_caller(Caller::named("Inactive").states(&["MH"]).inactive());
    let paused = db.add_caller(Caller::named("Paused").states(&["KA"]));
    db.client
        .execute("update callers set paused_until = now() + interval '1 day' where id = $1", &[&paused])
        .unwrap();
    active
}

#[test]
fn two_thousand_leads_from_32_connections_keep_every_invariant() {
    let mut db = Db::new();
    let active = team(&mut db);
    let plan = Arc::new(plan());
    let url = db.db.url.clone();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let results: Vec<(String, Value)> = runtime.block_on(async {
        let barrier = Arc::new(Barrier::new(CONNECTIONS));
        let mut tasks = Vec::new();
        for slot in 0..CONNECTIONS {
            let (plan, barrier, url) = (plan.clone(), barrier.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let client = connect(&url).await;
                let mut out = Vec::new();
                for (r, round) in plan.iter().enumerate() {
                    let phone = &round[slot];
                    let payload = json!({"phone": phone, "state": states(r * CONNECTIONS + slot), "source": "load"});
                    barrier.wait().await;
                    let row = client.query_one("select ingest_lead($1)", &[&payload]).await.unwrap();
                    out.push((phone.clone(), row.get::<_, Value>(0)));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });

    let requests = CONNECTIONS * ROUNDS;
    assert_eq!(results.len(), requests);
    assert!(requests >= 2000);
    let duplicates = results.iter().filter(|(_, r)| r["status"] == "duplicate").count();
    assert!(duplicates * 5 >= requests, "at least 20% duplicates: {duplicates} of {requests}");
    check_results(&results);
    let distinct = check_database(&mut db, &active);
    assert_eq!(distinct, results.iter().map(|(p, _)| p).collect::<std::collections::HashSet<_>>().len());
    assert!(distinct as i32 > ACTIVE_CALLERS as i32 * LIMIT, "the load must force overflow");
}

#[test]
fn concurrent_batches_sharing_phones_neither_deadlock_nor_duplicate() {
    let mut db = Db::new();
    let active = team(&mut db);
    let url = db.db.url.clone();
    // Each round, connection k sends a batch of 10 phones; batches k and k+1
    // share 2 phones, listed in opposite orders, so without ordered phone
    // locks they would deadlock.
    let batch_for = |round: usize, k: usize| -> Vec<String> {
        let base = (round * CONNECTIONS * 8 + k * 8) as u32;
        let mut phones: Vec<String> = (0..8).map(|i| phone(base + i)).collect();
        let next = (round * CONNECTIONS * 8 + ((k + 1) % CONNECTIONS) * 8) as u32;
        phones.insert(0, phone(next + 1));
        phones.insert(0, phone(next));
        if k % 2 == 1 {
            phones.reverse();
        }
        phones
    };

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let results: Vec<(String, Value)> = runtime.block_on(async {
        let barrier = Arc::new(Barrier::new(CONNECTIONS));
        let mut tasks = Vec::new();
        for k in 0..CONNECTIONS {
            let (barrier, url) = (barrier.clone(), url.clone());
            let batches: Vec<Vec<String>> = (0..8).map(|r| batch_for(r, k)).collect();
            tasks.push(tokio::spawn(async move {
                let client = connect(&url).await;
                let mut out = Vec::new();
                for (r, phones) in batches.into_iter().enumerate() {
                    let payloads: Vec<Value> = phones
                        .iter()
                        .enumerate()
                        .map(|(i, p)| json!({"phone": p, "state": states(r + i)}))
                        .collect();
                    barrier.wait().await;
                    let row = client.query_one("select ingest_leads($1)", &[&Value::from(payloads)]).await.unwrap();
                    let answers: Value = row.get(0);
                    for (p, a) in phones.iter().zip(answers.as_array().unwrap()) {
                        out.push((p.clone(), a.clone()));
                    }
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });

    assert_eq!(results.len(), CONNECTIONS * 8 * 10);
    check_results(&results);
    check_database(&mut db, &active);
}

#[test]
fn activating_callers_while_leads_stream_in_leaves_no_lead_unassigned() {
    let mut db = Db::new();
    let first = db.add_caller(Caller::named("Late A").inactive());
    let second = db.add_caller(Caller::named("Late B").inactive());
    let url = db.db.url.clone();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let results: Vec<(String, Value)> = runtime.block_on(async {
        let mut tasks = Vec::new();
        for k in 0..16u32 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let client = connect(&url).await;
                let mut out = Vec::new();
                for i in 0..40u32 {
                    let p = phone(k * 1000 + i);
                    let row = client.query_one("select ingest_lead($1)", &[&json!({"phone": p})]).await.unwrap();
                    out.push((p, row.get::<_, Value>(0)));
                }
                out
            }));
        }
        let admin = connect(&url).await;
        // Activate while the stream is running: after 100 and after 300 leads.
        for (caller, after) in [(first, 100i64), (second, 300i64)] {
            loop {
                let seen: i64 = admin.query_one("select count(*) from leads", &[]).await.unwrap().get(0);
                if seen >= after {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            admin.execute("update callers set active = true where id = $1", &[&caller]).await.unwrap();
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });

    let unassigned_answers = results.iter().filter(|(_, r)| r["status"] == "unassigned").count();
    assert!(unassigned_answers > 0, "the activation must land mid-stream for this test to mean anything");
    assert!(results.iter().any(|(_, r)| r["status"] == "assigned"));
    assert_eq!(db.scalar_i64("select count(*) from leads where status = 'unassigned'"), 0);
    assert_eq!(db.scalar_i64("select count(*) from leads"), 640);
    assert_eq!(
        db.scalar_i64("select count(*) from assignment_logs where reason = 'backlog'"),
        unassigned_answers as i64,
        "every lead answered `unassigned` was drained exactly once"
    );
    check_log_replay(&mut db);
}

/// Per phone: exactly one `assigned` answer, every other answer `duplicate`
/// pointing at the same lead.
fn check_results(results: &[(String, Value)]) {
    let mut by_phone: HashMap<&str, Vec<&Value>> = HashMap::new();
    for (p, r) in results {
        by_phone.entry(p.as_str()).or_default().push(r);
    }
    for (p, answers) in by_phone {
        let assigned: Vec<&&Value> = answers.iter().filter(|a| a["status"] == "assigned").collect();
        assert_eq!(assigned.len(), 1, "{p}: {answers:?}");
        let lead = &assigned[0]["lead_id"];
        for a in &answers {
            assert!(a["status"] == "assigned" || a["status"] == "duplicate", "{p}: {a}");
            assert_eq!(&a["lead_id"], lead, "{p}: {answers:?}");
        }
    }
}

/// Database-side invariants; returns the number of leads.
fn check_database(db: &mut Db, active: &[i64]) -> usize {
    let leads = db.scalar_i64("select count(*) from leads");
    assert_eq!(db.scalar_i64("select count(distinct phone) from leads"), leads, "one lead per phone");
    assert_eq!(
        db.scalar_i64("select count(*) from leads where caller_id is null or status <> 'new'"),
        0,
        "every lead is assigned while callers are eligible"
    );
    assert_eq!(db.scalar_i64("select count(*) from assignment_logs"), leads, "one log row per assignment");
    assert_eq!(
        db.scalar_i64(
            "select count(*) from leads l where (select count(*) from assignment_logs g where g.lead_id = l.id) <> 1"
        ),
        0
    );
    assert_eq!(
        db.scalar_i64(
            "select count(*) from leads l join assignment_logs g on g.lead_id = l.id where g.caller_id <> l.caller_id"
        ),
        0,
        "the log names the lead's caller"
    );
    assert_eq!(
        db.scalar_i64(
            "select count(*) from caller_daily_loads d
              where d.assigned <> (select count(*) from assignment_logs g where g.caller_id = d.caller_id)"
        ),
        0,
        "loads equal the log"
    );
    assert_eq!(
        db.scalar_i64(
            "select count(*) from leads where caller_id not in (select id from callers where active and paused_until is null)"
        ),
        0,
        "inactive and paused callers got nothing"
    );
    let loads: Vec<i32> = active.iter().map(|&c| db.load(c)).collect();
    let spread = loads.iter().max().unwrap() - loads.iter().min().unwrap();
    assert!(spread <= 1, "equal weights and limits: loads {loads:?}");
    let overflow = db.scalar_i64("select count(*) from assignment_logs where tier = 4");
    assert_eq!(
        db.scalar_i64(
            "select count(*) from (select g.caller_id from assignment_logs g join callers c on c.id = g.caller_id
              where g.tier in (1, 2) group by g.caller_id, c.daily_lead_limit having count(*) > c.daily_lead_limit) o"
        ),
        0,
        "tiers 1 and 2 never exceed a limit"
    );
    assert_eq!(overflow, leads - (active.len() as i64 * LIMIT as i64), "overflow only once everyone was full");
    check_log_replay(db);
    leads as usize
}

/// Replays the assignment log in decision order (log id) and checks each
/// decision against the loads all earlier decisions produced.
fn check_log_replay(db: &mut Db) {
    let rows = db
        .client
        .query(
            "select g.caller_id, g.tier, g.candidates, l.state from assignment_logs g
               join leads l on l.id = g.lead_id order by g.id",
            &[],
        )
        .unwrap();
    let callers: HashMap<i64, (Vec<String>, i32, i32)> = db
        .client
        .query("select id, assigned_states, daily_lead_limit, weight from callers", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let mut loads: BTreeMap<i64, i64> = BTreeMap::new();
    for (n, row) in rows.iter().enumerate() {
        let chosen: i64 = row.get(0);
        let tier: Option<i32> = row.get(1);
        let candidates: Value = row.get(2);
        let state: Option<String> = row.get(3);
        let snapshot: Vec<(i64, i64)> = candidates
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["caller_id"].as_i64().unwrap(), c["assigned_today"].as_i64().unwrap()))
            .collect();
        for &(id, seen) in &snapshot {
            assert_eq!(seen, *loads.get(&id).unwrap_or(&0), "decision {n}: stale load for caller {id}");
        }
        // The chosen caller is the rule's minimum over the snapshot.
        let tier_of = |id: i64, load: i64| {
            let (states, limit, _) = &callers[&id];
            if load >= *limit as i64 {
                4
            } else if state.as_ref().is_some_and(|s| states.contains(s)) {
                1
            } else {
                2
            }
        };
        let best = snapshot
            .iter()
            .map(|&(id, load)| (tier_of(id, load), id, load))
            .min_by(|a, b| {
                let key = |(t, id, load): &(i32, i64, i64)| {
                    let w = callers[id].2 as f64;
                    (*t, if *t == 4 { *load as f64 } else { *load as f64 / w })
                };
                key(a).partial_cmp(&key(b)).unwrap()
            })
            .unwrap();
        assert_eq!(Some(best.0), tier, "decision {n}: tier");
        let best_key = if best.0 == 4 { best.2 as f64 } else { best.2 as f64 / callers[&best.1].2 as f64 };
        let chosen_load = *loads.get(&chosen).unwrap_or(&0);
        let chosen_key =
            if best.0 == 4 { chosen_load as f64 } else { chosen_load as f64 / callers[&chosen].2 as f64 };
        assert_eq!(tier_of(chosen, chosen_load), best.0, "decision {n}: chosen caller is in the best tier");
        assert!((chosen_key - best_key).abs() < 1e-9, "decision {n}: chosen caller has the lowest load ratio");
        *loads.entry(chosen).or_insert(0) += 1;
    }
}
