//! One websocket: Phoenix channel joins, heartbeats, token refreshes and leaves.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::binding::Binding;
use super::catalog::quote_ident;
use super::hub::Subscriber;
use super::identity::{self, Identity};
use super::phoenix::{self, Inbound, Vsn};
use super::Shared;

/// Phoenix closes a socket that has sent nothing (not even a heartbeat) for this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often joined channels are checked for an expired token.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

/// A joined channel on this socket.
struct Channel {
    join_ref: Value,
    bindings: Vec<Binding>,
    identity: Arc<Identity>,
    /// The token the identity came from, so a repeated `access_token` is a no-op.
    token: Option<String>,
}

/// The state of one connection.
pub struct Connection {
    id: u64,
    vsn: Vsn,
    shared: Arc<Shared>,
    /// The identity of the socket's `apikey`, used when a join has no `access_token`.
    default_identity: Arc<Identity>,
    tx: mpsc::UnboundedSender<String>,
    channels: HashMap<String, Channel>,
}

/// Serves one upgraded websocket until it closes.
pub async fn serve(socket: WebSocket, shared: Arc<Shared>, vsn: Vsn, default_identity: Identity) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        // Everything queued goes out with one flush.
        'outer: while let Some(text) = rx.recv().await {
            if sink.feed(Message::Text(text.into())).await.is_err() {
                break;
            }
            while let Ok(text) = rx.try_recv() {
                if sink.feed(Message::Text(text.into())).await.is_err() {
                    break 'outer;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
    });
    let id = shared.next_socket.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut conn = Connection {
        id,
        vsn,
        shared: shared.clone(),
        default_identity: Arc::new(default_identity),
        tx,
        channels: HashMap::new(),
    };
    let mut expiry = tokio::time::interval(EXPIRY_CHECK);
    loop {
        tokio::select! {
            message = tokio::time::timeout(IDLE_TIMEOUT, stream.next()) => {
                match message {
                    Err(_) => {
                        tracing::debug!(socket = id, "closing an idle realtime socket");
                        break;
                    }
                    Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => break,
                    Ok(Some(Ok(Message::Text(text)))) => conn.handle_text(text.as_str()).await,
                    Ok(Some(Ok(Message::Binary(_)))) => conn.send_error_event(
                        "phoenix",
                        "binary frames (user broadcast) are not supported by localbase Realtime",
                    ),
                    Ok(Some(Ok(_))) => {}
                }
            }
            _ = expiry.tick() => conn.close_expired_channels(),
        }
    }
    shared.hub.remove_socket(id);
    drop(conn);
    let _ = writer.await;
}

impl Connection {
    fn send(&self, join_ref: &Value, r#ref: &Value, topic: &str, event: &str, payload: &Value) {
        let frame = phoenix::render(self.vsn, join_ref, r#ref, topic, event, &payload.to_string());
        let _ = self.tx.send(frame);
    }

    fn reply(&self, msg: &Inbound, status: &str, response: Value) {
        self.send(
            &msg.join_ref,
            &msg.r#ref,
            &msg.topic,
            "phx_reply",
            &json!({ "status": status, "response": response }),
        );
    }

    fn reply_error(&self, msg: &Inbound, reason: &str) {
        self.reply(msg, "error", json!({ "reason": reason }));
    }

    /// A `phx_error` for something that cannot be answered as a reply.
    fn send_error_event(&self, topic: &str, reason: &str) {
        self.send(&Value::Null, &Value::Null, topic, "phx_error", &json!({ "reason": reason }));
    }

    async fn handle_text(&mut self, text: &str) {
        let msg = match phoenix::parse(text) {
            Ok(msg) => msg,
            Err(bad) => {
                let topic = bad.topic.as_deref().unwrap_or("phoenix");
                if bad.r#ref.is_null() {
                    self.send_error_event(topic, &bad.reason);
                } else {
                    let payload = json!({ "status": "error", "response": { "reason": bad.reason } });
                    self.send(&bad.join_ref, &bad.r#ref, topic, "phx_reply", &payload);
                }
                return;
            }
        };
        let joined = self.channels.contains_key(&msg.topic);
        match (msg.topic.as_str(), msg.event.as_str()) {
            ("phoenix", "heartbeat") => self.reply(&msg, "ok", json!({})),
            (_, "phx_join") => self.join(msg).await,
            (_, "phx_leave") if joined => self.leave(&msg),
            (_, "access_token") if joined => self.refresh_token(&msg).await,
            (_, "broadcast" | "presence") if joined => {
                self.reply_error(&msg, &format!("{} is not supported by localbase Realtime", msg.event))
            }
            (_, _) if !joined => self.reply_error(&msg, "unmatched topic"),
            (_, event) => self.reply_error(&msg, &format!("unknown event {event:?}")),
        }
    }

    async fn join(&mut self, msg: Inbound) {
        let Some(channel_name) = msg.topic.strip_prefix("realtime:").map(str::to_owned) else {
            self.reply_error(&msg, "unmatched topic: Realtime topics start with \"realtime:\"");
            return;
        };
        // A second join of the same topic replaces the first, as in Phoenix.
        if let Some(old) = self.channels.remove(&msg.topic) {
            self.shared.hub.remove(self.id, &msg.topic);
            self.send(&old.join_ref, &old.join_ref, &msg.topic, "phx_close", &json!({}));
        }
        let config = msg.payload.get("config").cloned().unwrap_or(Value::Null);
        let raw_bindings = match config.get("postgres_changes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => {
                self.reply_error(&msg, "config.postgres_changes must be an array");
                return;
            }
        };
        let mut bindings = Vec::with_capacity(raw_bindings.len());
        for raw in &raw_bindings {
            match Binding::parse(raw) {
                Ok(b) => bindings.push(b),
                Err(reason) => {
                    self.reply_error(&msg, &reason);
                    return;
                }
            }
        }
        let token = match msg.payload.get("access_token") {
            Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
            None | Some(Value::Null) => None,
            Some(Value::String(_)) => None,
            Some(_) => {
                self.reply_error(&msg, "access_token must be a string");
                return;
            }
        };
        let identity = match &token {
            Some(t) => match self.identity_for(t).await {
                Ok(identity) => identity,
                Err(reason) => {
                    self.reply_error(&msg, &reason);
                    return;
                }
            },
            None => self.default_identity.clone(),
        };
        if let Err(reason) = self.check_bindings(&bindings).await {
            self.reply_error(&msg, &reason);
            return;
        }
        // The reply promises every change committed after it, so it waits
        // until a slot streams (one starts with the first subscriber).
        if !bindings.is_empty() {
            if let Err(reason) = self.shared.demand.wait_streaming().await {
                self.reply_error(&msg, &reason);
                return;
            }
        }
        let echo: Vec<Value> = bindings.iter().map(|b| b.echo.clone()).collect();
        self.reply(&msg, "ok", json!({ "postgres_changes": echo }));
        if !bindings.is_empty() {
            self.send(
                &Value::Null,
                &Value::Null,
                &msg.topic,
                "system",
                &json!({
                    "message": "Subscribed to PostgreSQL",
                    "status": "ok",
                    "extension": "postgres_changes",
                    "channel": channel_name,
                }),
            );
        }
        // Registered only after the reply, so no change can overtake it.
        self.register(&msg.topic, &bindings, &identity);
        self.channels.insert(msg.topic.clone(), Channel { join_ref: msg.join_ref, bindings, identity, token });
    }

    fn register(&self, topic: &str, bindings: &[Binding], identity: &Arc<Identity>) {
        if bindings.is_empty() {
            return;
        }
        self.shared.hub.insert(Subscriber {
            socket: self.id,
            topic: topic.to_owned(),
            vsn: self.vsn,
            bindings: bindings.to_vec(),
            identity: identity.clone(),
            tx: self.tx.clone(),
        });
    }

    fn leave(&mut self, msg: &Inbound) {
        self.reply(msg, "ok", json!({}));
        if let Some(channel) = self.channels.remove(&msg.topic) {
            self.shared.hub.remove(self.id, &msg.topic);
            self.send(&channel.join_ref, &channel.join_ref, &msg.topic, "phx_close", &json!({}));
        }
    }

    /// `access_token`: switch the channel to a new token. No reply on success;
    /// on failure a `system` error and `phx_close`, as Supabase does.
    async fn refresh_token(&mut self, msg: &Inbound) {
        let token = match msg.payload.get("access_token") {
            Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
            _ => None,
        };
        let Some(current) = self.channels.get(&msg.topic) else { return };
        if current.token == token {
            return;
        }
        let result = match &token {
            Some(t) => self.identity_for(t).await,
            None => Ok(self.default_identity.clone()),
        };
        match result {
            Ok(identity) => {
                if let Some(channel) = self.channels.get_mut(&msg.topic) {
                    channel.identity = identity.clone();
                    channel.token = token;
                }
                if let Some(channel) = self.channels.get(&msg.topic) {
                    self.register(&msg.topic, &channel.bindings, &identity);
                }
            }
            Err(reason) => self.close_channel(&msg.topic, &reason),
        }
    }

    /// Sends a `system` error and `phx_close`, and forgets the channel.
    fn close_channel(&mut self, topic: &str, reason: &str) {
        let Some(channel) = self.channels.remove(topic) else { return };
        self.shared.hub.remove(self.id, topic);
        let name = topic.strip_prefix("realtime:").unwrap_or(topic);
        self.send(
            &Value::Null,
            &Value::Null,
            topic,
            "system",
            &json!({ "message": reason, "status": "error", "extension": "system", "channel": name }),
        );
        self.send(&channel.join_ref, &channel.join_ref, topic, "phx_close", &json!({}));
    }

    fn close_expired_channels(&mut self) {
        let now = chrono::Utc::now().timestamp();
        let expired: Vec<(String, i64)> = self
            .channels
            .iter()
            .filter_map(|(topic, c)| c.identity.expired_for(now).map(|ago| (topic.clone(), ago)))
            .collect();
        for (topic, ago) in expired {
            self.close_channel(&topic, &format!("Token has expired {ago} seconds ago"));
        }
    }

    /// The identity of a token, with its role checked against the database.
    async fn identity_for(&self, token: &str) -> Result<Arc<Identity>, String> {
        let (role, claims) =
            identity::resolve(self.shared.verifier.as_ref(), token).map_err(|e| format!("Invalid JWT: {e}"))?;
        if let Some(ago) = claims
            .get("exp")
            .and_then(Value::as_i64)
            .map(|exp| chrono::Utc::now().timestamp() - exp)
            .filter(|ago| *ago >= 0)
        {
            return Err(format!("Token has expired {ago} seconds ago"));
        }
        let bypass = role_bypasses_rls(&self.shared, &role).await?;
        Ok(Arc::new(Identity::new(role, &claims, bypass)))
    }

    /// Refuses bindings on tables that do not exist or filters on columns they lack.
    async fn check_bindings(&self, bindings: &[Binding]) -> Result<(), String> {
        for b in bindings {
            let (Some(table), false) = (&b.table, b.schema == "*") else { continue };
            let columns: Option<Vec<String>> = sqlx::query_scalar(
                "select array(select attname::text from pg_attribute
                              where attrelid = c.oid and attnum > 0 and not attisdropped)
                 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                 where n.nspname = $1 and c.relname = $2",
            )
            .bind(&b.schema)
            .bind(table)
            .fetch_optional(&self.shared.pool)
            .await
            .map_err(|e| format!("database unavailable: {e}"))?;
            let unable = || {
                format!(
                    "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [schema: {}, table: {}, filters: [{}]]",
                    b.schema,
                    table,
                    b.filter.as_ref().map(|f| f.column.as_str()).unwrap_or("")
                )
            };
            let Some(columns) = columns else { return Err(unable()) };
            if let Some(f) = &b.filter {
                if !columns.contains(&f.column) {
                    return Err(unable());
                }
            }
        }
        Ok(())
    }
}

/// Whether `role` exists and skips RLS; an unknown role is an error.
pub async fn role_bypasses_rls(shared: &Shared, role: &str) -> Result<bool, String> {
    let bypass: Option<bool> = sqlx::query_scalar("select rolsuper or rolbypassrls from pg_roles where rolname = $1")
        .bind(role)
        .fetch_optional(&shared.pool)
        .await
        .map_err(|e| format!("database unavailable: {e}"))?;
    match bypass {
        Some(bypass) => Ok(bypass),
        None => Err(format!("Invalid JWT: role {} does not exist", quote_ident(role))),
    }
}
