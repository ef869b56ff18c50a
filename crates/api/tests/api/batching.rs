//! The batcher's dispatch policies (`BATCH_DISPATCH`, `BATCH_SLOTS`) against
//! a real localbase: however a batch forms, every lead is stored once and
//! answered with its own lead, and a lone lead is never held back waiting
//! for senders who are not coming.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

/// Posts `n` distinct leads at once (phones from `first`); returns each
/// answer's `(status, lead_id)`.
async fn burst(app: &TestApp, first: usize, n: usize) -> Vec<(u16, i64)> {
    let posts = (first..first + n).map(|i| async move {
        let response = app.post_json(&json!({"phone": format!("98{:08}", 10_000_000 + i), "state": "Delhi"})).await;
        let status = response.status().as_u16();
        let body = json(response).await;
        (status, body["lead_id"].as_i64().unwrap_or(-1))
    });
    futures::future::join_all(posts).await
}

async fn batch_rpcs(app: &TestApp) -> u64 {
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("bloc_ingest_batch_size_count")).expect("the batch histogram");
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_every_dispatch_policy_concurrent_leads_are_stored_once_each_with_their_own_answer() {
    let policies: [&[(&str, &str)]; 5] = [
        &[],
        &[("BATCH_DISPATCH", "balanced"), ("BATCH_SLOTS", "1")],
        &[("BATCH_DISPATCH", "settled")],
        &[("BATCH_DISPATCH", "settled"), ("BATCH_SLOTS", "1")],
        &[("BATCH_DISPATCH", "eager")],
    ];
    for policy in policies {
        let app = spawn_app_with(policy).await;
        app.add_caller("Ravi", &["DL"]).await;
        let answers = burst(&app, 0, 120).await;
        assert!(answers.iter().all(|(status, _)| *status == 201), "{policy:?}: {answers:?}");
        let mut ids: Vec<i64> = answers.iter().map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 120, "{policy:?}: every lead gets its own lead id");
        assert_eq!(app.lead_count().await, 120, "{policy:?}");
        let rpcs = batch_rpcs(&app).await;
        assert!(rpcs < 120, "{policy:?}: 120 concurrent leads were not coalesced at all ({rpcs} RPCs)");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_burst_a_lone_lead_is_sent_without_waiting_for_the_bursts_senders() {
    // Balanced dispatch expects a share of the burst's 80 senders, settled
    // as many leads as the last batch held; a lone lead on an idle database
    // must still go at once (settled: within the window), for each number
    // of slots.
    for (dispatch, slots) in [("balanced", "1"), ("balanced", "2"), ("settled", "1"), ("settled", "2")] {
        let label = format!("{dispatch}, slots {slots}");
        let app = spawn_app_with(&[("BATCH_DISPATCH", dispatch), ("BATCH_SLOTS", slots)]).await;
        app.add_caller("Ravi", &["DL"]).await;
        let answers = burst(&app, 0, 80).await;
        assert!(answers.iter().all(|(status, _)| *status == 201), "{answers:?}");
        let before = batch_rpcs(&app).await;
        let started = std::time::Instant::now();
        let lone = tokio::time::timeout(Duration::from_secs(5), burst(&app, 1000, 1)).await;
        let lone = lone.unwrap_or_else(|_| panic!("{label}: a lone lead after a burst was held back for 5 s"));
        assert_eq!(lone[0].0, 201, "{label}");
        assert!(started.elapsed() < Duration::from_secs(2), "{label}: {:?}", started.elapsed());
        assert_eq!(batch_rpcs(&app).await, before + 1, "{label}: the lone lead went as one call of its own");
        assert_eq!(app.lead_count().await, 81, "{label}");
    }
}
