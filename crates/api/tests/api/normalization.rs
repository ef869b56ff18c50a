use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phone_variants_land_on_one_e164_number_and_later_ones_are_duplicates() {
    let app = spawn_app().await;
    let first = app.post_json(&json!({"phone": "+91 98765-43210"})).await;
    assert_eq!(first.status().as_u16(), 202);
    let original = json(first).await["lead_id"].as_i64().unwrap();
    for variant in ["098765 43210", "9876543210", "91 9876543210"] {
        let response = app.post_json(&json!({"phone": variant})).await;
        assert_eq!(response.status().as_u16(), 200, "{variant}");
        let body = json(response).await;
        assert_eq!(body["status"], "duplicate");
        assert_eq!(body["lead_id"], original, "{variant}");
    }
    let numeric = app.post_json(&json!({"Mobile": 9876543210u64})).await;
    assert_eq!(numeric.status().as_u16(), 200);
    let phones: Vec<String> =
        app.db.query("select phone from public.leads", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(phones, ["+919876543210"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_aliases_are_stored_as_the_canonical_code_and_unknown_states_are_flagged() {
    let app = spawn_app().await;
    let cases = [
        ("9876543210", "maharashtra", "MH"),
        ("9876543211", " Tamil  Nadu ", "TN"),
        ("9876543212", "U.P.", "UP"),
        ("9876543213", "ka", "KA"),
        ("9876543214", "NCT of Delhi", "DL"),
        ("9876543215", "TG", "TS"),
        ("9876543216", "Atlantis", "Atlantis"),
    ];
    for (phone, state, code) in cases {
        let response = app.post_json(&json!({"phone": phone, "region": state})).await;
        assert!(response.status().is_success(), "{state}");
        let id = json(response).await["lead_id"].as_i64().unwrap();
        let (_, stored, metadata) = app.lead(id).await.unwrap();
        assert_eq!(stored.as_deref(), Some(code), "{state}");
        assert_eq!(metadata.get("state_unrecognized").is_some(), code == "Atlantis", "{state}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_state_routes_globally() {
    let app = spawn_app().await;
    let caller = app.add_caller("Anyone", &[]).await;
    let response = app.post_json(&json!({"phone": "9876543210", "state": "Atlantis"})).await;
    assert_eq!(response.status().as_u16(), 201);
    let body = json(response).await;
    assert_eq!(body["caller"]["id"], caller);
    assert_eq!(body["tier"], 2);
}
