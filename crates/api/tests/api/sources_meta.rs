//! `/api/sources/meta`: Meta Lead Ads against a local Graph API stub.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::sources_helpers::*;

/// A delivery in Meta's documented shape: two entries, three leadgen
/// changes, a change of another field, and fields we do not know.
fn delivery(ids: &[&str]) -> String {
    let change = |id: &str| {
        json!({"field": "leadgen", "value": {
            "leadgen_id": id, "page_id": "153125381133", "form_id": "7000", "ad_id": "6000",
            "adgroup_id": "5000", "created_time": 1764496800, "new_field_from_meta": {"x": 1}
        }})
    };
    let (first, rest) = ids.split_at(ids.len().min(2));
    json!({"object": "page", "entry": [
        {"id": "153125381133", "time": 1764496800, "changes": first.iter().map(|id| change(id)).chain([json!({"field": "feed", "value": {"item": "post"}})]).collect::<Vec<Value>>()},
        {"id": "153125381133", "time": 1764496801, "unknown_entry_field": true, "changes": rest.iter().map(|id| change(id)).collect::<Vec<Value>>()}
    ]})
    .to_string()
}

fn stub_with_leads() -> GraphStub {
    let graph = GraphStub::start();
    graph.put_lead("1001", &[("full_name", "Asha Rao"), ("phone_number", "+919876543210"), ("state", "Maharashtra"), ("what_is_your_budget?", "10 lakh")]);
    graph.put_lead("1002", &[("full_name", "Omar Haddad"), ("phone_number", "+971501234567"), ("email", "OMAR@example.ae")]);
    graph.put_lead("1003", &[("first_name", "Li"), ("last_name", "Wei"), ("phone_number", "+6591234567")]);
    graph
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_delivery_stores_every_lead_read_from_the_graph_api() {
    let graph = stub_with_leads();
    let app = spawn_sources_app(&graph, &[]).await;
    let response = app.post_signed("meta", META_SECRET, &delivery(&["1001", "1002", "1003"])).await;
    let status = response.status().as_u16();
    let body = json(response).await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&str> = body["results"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["1001", "1002", "1003"]);
    assert!(body["results"].as_array().unwrap().iter().all(|r| r["status"] == "unassigned" && r["lead_id"].is_i64()), "{body}");

    let leads = app.leads().await;
    assert_eq!(leads.len(), 3);
    let (phone, name, state, source, metadata) = &leads[0];
    assert_eq!(phone, "+919876543210");
    assert_eq!(name.as_deref(), Some("Asha Rao"));
    assert_eq!(state.as_deref(), Some("MH"));
    assert_eq!(source.as_deref(), Some("Meta Lead Ads"));
    assert_eq!(metadata["what_is_your_budget?"], "10 lakh");
    assert_eq!(metadata["meta"]["leadgen_id"], "1001");
    assert_eq!(metadata["meta"]["page_id"], "153125381133");
    assert_eq!(leads[1].0, "+971501234567", "a UAE number stays a UAE number");
    assert_eq!(leads[2].0, "+6591234567");
    assert_eq!(leads[2].1.as_deref(), Some("Li Wei"));
    assert_eq!(graph.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_or_missing_signature_gets_401_and_nothing_is_read_or_stored() {
    let graph = stub_with_leads();
    let app = spawn_sources_app(&graph, &[]).await;
    let body = delivery(&["1001"]);
    let forged = app.post_signed("meta", "not-the-app-secret", &body).await;
    assert_eq!(forged.status().as_u16(), 401);
    assert_eq!(json(forged).await["error"], "unauthorized");
    let tampered = app.post_source("meta", &body.replace("1001", "1002"), &[("X-Hub-Signature-256", hub_signature(META_SECRET, &body))]).await;
    assert_eq!(tampered.status().as_u16(), 401);
    assert_eq!(app.post_source("meta", &body, &[]).await.status().as_u16(), 401);
    assert_eq!(graph.requests(), 0);
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verification_handshake_echoes_the_challenge_only_for_the_right_token() {
    let graph = GraphStub::start();
    let app = spawn_sources_app(&graph, &[]).await;
    let ok = app.verify_subscription("meta", META_TOKEN, "1158201444").await;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = app.verify_subscription("meta", "guess", "1158201444").await;
    assert_eq!(wrong.status().as_u16(), 403);
    assert!(!wrong.text().await.unwrap().contains("1158201444"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_api_that_is_down_gets_503_and_meta_redelivery_after_recovery_stores_each_lead_once() {
    let graph = stub_with_leads();
    let app = spawn_sources_app(&graph, &[]).await;
    let body = delivery(&["1001", "1002"]);
    graph.set(Graph::Down);
    let refused = app.post_signed("meta", META_SECRET, &body).await;
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(json(refused).await["error"], "graph_unavailable");
    assert_eq!(app.lead_count().await, 0, "nothing read, nothing stored");

    graph.set(Graph::Up);
    let mut replayed = Vec::new();
    for _ in 0..2 {
        let redelivered = app.post_signed("meta", META_SECRET, &body).await;
        assert_eq!(redelivered.status().as_u16(), 200);
        replayed.push(json(redelivered).await["results"][0]["replayed"].clone());
    }
    assert_eq!(replayed, [false, true], "stored by the first redelivery after recovery, replayed after");
    assert_eq!(app.lead_count().await, 2, "each lead exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_graph_api_gets_503_whether_meta_says_400_or_403() {
    let graph = stub_with_leads();
    let app = spawn_sources_app(&graph, &[]).await;
    for (status, code) in [(400, 4), (403, 17), (400, 32), (400, 613)] {
        graph.set(Graph::RateLimited { status, code });
        let response = app.post_signed("meta", META_SECRET, &delivery(&["1001"])).await;
        assert_eq!(response.status().as_u16(), 503, "{status} code {code}");
        assert_eq!(json(response).await["error"], "graph_unavailable");
    }
    assert_eq!(app.lead_count().await, 0);
    graph.set(Graph::Up);
    assert_eq!(app.post_signed("meta", META_SECRET, &delivery(&["1001"])).await.status().as_u16(), 200);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_graph_api_gets_503_within_the_timeout_and_the_lead_is_stored_on_redelivery() {
    let graph = stub_with_leads();
    let app = spawn_sources_app(&graph, &[("META_GRAPH_TIMEOUT_MS", "700")]).await;
    graph.set(Graph::Slow(Duration::from_secs(5)));
    let started = std::time::Instant::now();
    let response = app.post_signed("meta", META_SECRET, &delivery(&["1001"])).await;
    assert_eq!(response.status().as_u16(), 503);
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());
    assert_eq!(app.lead_count().await, 0);
    graph.set(Graph::Slow(Duration::from_millis(20)));
    assert_eq!(app.post_signed("meta", META_SECRET, &delivery(&["1001"])).await.status().as_u16(), 200);
    assert_eq!(app.lead_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_the_graph_api_will_not_give_gets_500_while_the_others_are_stored() {
    let graph = stub_with_leads();
    let app = spawn_sources_app(&graph, &[]).await;
    // 1999 is unknown to the stub: Graph error 100/33, the answer for a
    // deleted lead and for a token without permission alike.
    let body = delivery(&["1001", "1999"]);
    let response = app.post_signed("meta", META_SECRET, &body).await;
    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(json(response).await["error"], "graph_refused");
    assert_eq!(app.lead_count().await, 1, "the lead the Graph API gave is stored");

    graph.put_lead("1999", &[("full_name", "Late Permission"), ("phone_number", "+14155550123")]);
    assert_eq!(app.post_signed("meta", META_SECRET, &body).await.status().as_u16(), 200);
    let phones: Vec<String> = app.leads().await.into_iter().map(|l| l.0).collect();
    assert_eq!(phones, ["+919876543210", "+14155550123"], "after the fix, the redelivery stores the missing lead and not the first again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_page_access_token_gets_500_and_stores_nothing() {
    let graph = stub_with_leads();
    let app = spawn_sources_app(&graph, &[("META_PAGE_ACCESS_TOKEN", "expired-token")]).await;
    let response = app.post_signed("meta", META_SECRET, &delivery(&["1001"])).await;
    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(json(response).await["error"], "graph_refused");
    assert_eq!(app.lead_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_lead_is_stored_once_even_batched_with_another() {
    let graph = stub_with_leads();
    let app = spawn_sources_app(&graph, &[]).await;
    let first = json(app.post_signed("meta", META_SECRET, &delivery(&["1001"])).await).await;
    let again = app.post_signed("meta", META_SECRET, &delivery(&["1002", "1001"])).await;
    assert_eq!(again.status().as_u16(), 200);
    let again = json(again).await;
    assert_eq!(again["results"][1]["key"], "1001");
    assert_eq!(again["results"][1]["lead_id"], first["results"][0]["lead_id"]);
    assert_eq!(again["results"][1]["replayed"], true, "answered from the stored result, though batched differently");
    assert_eq!(again["results"][0]["replayed"], false);
    assert_eq!(app.lead_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_without_a_phone_is_acknowledged_as_invalid_and_not_stored() {
    let graph = stub_with_leads();
    graph.put_lead("1004", &[("full_name", "No Phone"), ("email", "np@example.com")]);
    let app = spawn_sources_app(&graph, &[]).await;
    let response = app.post_signed("meta", META_SECRET, &delivery(&["1004", "1001"])).await;
    assert_eq!(response.status().as_u16(), 200, "no redelivery can fix it, so Meta is not asked to retry");
    let body = json(response).await;
    assert_eq!(body["results"][0]["status"], "invalid");
    assert_eq!(body["results"][0]["error"], "missing_phone");
    assert_eq!(body["results"][1]["status"], "unassigned");
    assert_eq!(app.lead_count().await, 1);
}
