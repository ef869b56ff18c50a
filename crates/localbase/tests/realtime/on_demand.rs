//! The slot streams only while someone subscribes: none without subscribers,
//! one started before a join's reply, dropped after the idle period.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::changes::{leads, slot_count};
use crate::support::Fixture;

async fn walsenders(sql: &tokio_postgres::Client) -> i64 {
    sql.query_one("select count(*) from pg_stat_replication where application_name = 'localbase realtime wal'", &[])
        .await
        .unwrap()
        .get(0)
}

/// Waits up to 5 s for `want` slots.
async fn slots_become(sql: &tokio_postgres::Client, want: i64) -> bool {
    for _ in 0..50 {
        if slot_count(sql).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn without_subscribers_nothing_is_decoded_and_a_join_is_answered_once_its_slot_streams() {
    let fx = Fixture::start().await;
    let (caller, _) = fx.add_caller("Ravi").await;
    fx.add_lead("+919800000301", Some(caller)).await;
    assert_eq!(slot_count(&fx.sql).await, 0, "no slot before anyone subscribes");
    assert_eq!(walsenders(&fx.sql).await, 0, "no walsender decodes for nobody");

    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("first", leads("INSERT"), None).await;
    // Checked right after the reply: the join waited for the stream.
    assert_eq!(slot_count(&fx.sql).await, 1);
    assert_eq!(walsenders(&fx.sql).await, 1);
    let lead = fx.add_lead("+919800000302", Some(caller)).await;
    assert_eq!(phx.change().await.payload["data"]["record"]["id"], json!(lead));
    fx.stop().await;
}

#[tokio::test]
async fn a_subscriber_keeps_the_slot_and_after_the_last_leaves_it_is_dropped_until_the_next_join() {
    let fx = Fixture::start_with(Some(Duration::from_millis(300))).await;
    let (caller, _) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("kept", leads("INSERT"), None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(slot_count(&fx.sql).await, 1, "five idle periods later the subscriber still has its slot");
    let lead = fx.add_lead("+919800000311", Some(caller)).await;
    assert_eq!(phx.change().await.payload["data"]["record"]["id"], json!(lead));

    phx.push(Some("1"), "realtime:kept", "phx_leave", json!({})).await;
    assert!(slots_become(&fx.sql, 0).await, "the slot is dropped once nobody subscribes");
    assert_eq!(walsenders(&fx.sql).await, 0);

    // A join while others write: its reply waits for a new slot, and a
    // change committed after the reply arrives.
    let writing = Arc::new(AtomicBool::new(true));
    let writer = tokio::spawn({
        let sql = fx.sql_session().await;
        let writing = writing.clone();
        async move {
            let mut n = 0;
            while writing.load(Ordering::Relaxed) && n < 2000 {
                n += 1;
                sql.execute(
                    "insert into public.leads (phone, name, state, caller_id, metadata, assigned_at)
                     values ($1, 'Writer', 'MH', $2, '{}', now())",
                    &[&format!("+9197{n:08}"), &caller],
                )
                .await
                .unwrap();
            }
            n
        }
    });
    let mut again = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    again.subscribe("again", json!([{"event": "INSERT", "schema": "public", "table": "leads", "filter": "name=eq.Asha"}]), None).await;
    let lead = fx.add_lead("+919800000312", Some(caller)).await;
    assert_eq!(again.change().await.payload["data"]["record"]["id"], json!(lead));
    writing.store(false, Ordering::Relaxed);
    assert!(writer.await.unwrap() > 0, "the writer wrote while the slot started");
    fx.stop().await;
}
