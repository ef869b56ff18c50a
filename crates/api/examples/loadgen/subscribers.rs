//! `--subscribers N`: Realtime sockets subscribed as the admin dashboard is
//! (every event on `leads`, `callers` and `assignment_logs`), so a run can
//! measure ingest with dashboards open. localbase's slot streams only while
//! someone subscribes; without this flag nothing is decoded.
//!
//! They sign in with the service-role key, which bypasses row level security;
//! a signed-in manager's socket also costs localbase one batched RLS check
//! per table and batch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Open subscribers and the change events they have received.
pub struct Subscribers {
    pub changes: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Subscribers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens `count` sockets and waits until each has joined (its reply is
/// sent once the slot streams).
pub async fn open(api_url: &str, key: &str, count: usize) -> anyhow::Result<Subscribers> {
    let changes = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(count);
    let ws_url = format!("{}/realtime/v1/websocket?apikey={key}&vsn=2.0.0", api_url.replacen("http", "ws", 1));
    for i in 0..count {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.context("a Realtime socket")?;
        let bindings: Vec<Value> = ["leads", "callers", "assignment_logs"]
            .iter()
            .map(|table| json!({"event": "*", "schema": "public", "table": table}))
            .collect();
        let join = json!(["1", "1", format!("realtime:loadgen-{i}"), "phx_join",
            {"config": {"postgres_changes": bindings}, "access_token": key}]);
        ws.send(Message::Text(join.to_string().into())).await?;
        loop {
            let Some(frame) = ws.next().await else { bail!("the Realtime socket closed before the join's reply") };
            let Message::Text(text) = frame? else { continue };
            let frame: Value = serde_json::from_str(text.as_str())?;
            if frame[3] == "phx_reply" {
                if frame[4]["status"] != "ok" {
                    bail!("the Realtime join was refused: {}", frame[4]);
                }
                break;
            }
        }
        let counted = changes.clone();
        tasks.push(tokio::spawn(async move {
            let heartbeat = tokio::time::interval(std::time::Duration::from_secs(25));
            tokio::pin!(heartbeat);
            let mut next_ref = 2_u64;
            loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) if text.as_str().contains("\"postgres_changes\"") => {
                            counted.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    _ = heartbeat.tick() => {
                        next_ref += 1;
                        let beat = json!([null, next_ref.to_string(), "phoenix", "heartbeat", {}]);
                        if ws.send(Message::Text(beat.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }));
    }
    Ok(Subscribers { changes, tasks })
}
