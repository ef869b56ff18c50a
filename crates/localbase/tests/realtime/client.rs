//! The community Rust client `supabase-realtime-rs` (0.1.2) subscribing to
//! localbase Realtime. It speaks `vsn=1.0.0` (it sends no `vsn`).

use std::time::Duration;

use supabase_realtime_rs::{
    PostgresChangeEvent, PostgresChangesFilter, PostgresChangesPayload, RealtimeClient, RealtimeClientOptions,
};
use crate::support::{user_token, Fixture};
use tokio::sync::mpsc::Receiver;

async fn subscribe(fx: &Fixture, access_token: Option<String>, topic: &str) -> (RealtimeClient, Receiver<PostgresChangesPayload>) {
    let client = RealtimeClient::new(
        fx.url.clone(),
        RealtimeClientOptions { api_key: fx.anon_key.clone(), access_token, ..Default::default() },
    )
    .unwrap();
    client.connect().await.unwrap();
    let channel = client.channel(topic, Default::default()).await;
    let rx = channel
        .on_postgres_changes(PostgresChangesFilter::new(PostgresChangeEvent::All, "public").table("leads"))
        .await;
    channel.subscribe().await.unwrap();
    // The client does not wait for the join reply; wait for the server to register it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if fx.state.subscriber_count() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (client, rx)
}

#[tokio::test]
async fn supabase_realtime_rs_receives_a_callers_inserts_and_updates_but_not_another_callers() {
    let fx = Fixture::start().await;
    let (ravi, ravi_user) = fx.add_caller("Ravi").await;
    let (meera, _) = fx.add_caller("Meera").await;
    let (client, mut rx) = subscribe(&fx, Some(user_token(&ravi_user)), "ravi-leads").await;
    assert_eq!(fx.state.subscriber_count(), 1);

    fx.add_lead("+919800000020", Some(meera)).await;
    let own = fx.add_lead("+919800000021", Some(ravi)).await;
    fx.sql.execute("update public.leads set status = 'contacted' where id = $1", &[&own]).await.unwrap();

    let first = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    let PostgresChangesPayload::Insert(insert) = first else { panic!("expected an INSERT, got {first:?}") };
    assert_eq!(insert.new["id"], serde_json::json!(own));
    assert_eq!(insert.base.table, "leads");
    assert!(insert.base.columns.iter().any(|c| c.name == "caller_id" && c.column_type == "int8"));
    let second = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    let PostgresChangesPayload::Update(update) = second else { panic!("expected an UPDATE, got {second:?}") };
    assert_eq!(update.new["status"], "contacted");
    assert_eq!(update.old["id"], serde_json::json!(own));
    assert!(tokio::time::timeout(Duration::from_millis(600), rx.recv()).await.is_err(), "nothing else arrives");

    client.disconnect().await.unwrap();
    fx.stop().await;
}
