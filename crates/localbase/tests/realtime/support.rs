//! Shared by the Realtime test files: a migrated database, the Realtime
//! router on a loopback port, an HS256 token verifier, and a raw Phoenix
//! client over tokio-tungstenite.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use localbase::realtime::{router, RealtimeState, TokenVerifier};
use pgcluster::testing::TestDatabase;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_postgres::{Client, NoTls};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const SECRET: &str = "realtime-test-secret-at-least-32-characters";
pub const PUBLISHABLE_KEY: &str = "sb_publishable_realtime_tests";

/// Verifies HS256 tokens signed with [`SECRET`], like a legacy Supabase project.
pub struct HsVerifier {
    pub anon_key: String,
    pub service_role_key: String,
}

impl TokenVerifier for HsVerifier {
    fn api_key_role(&self, apikey: &str) -> Option<String> {
        if apikey == self.anon_key || apikey == PUBLISHABLE_KEY {
            Some("anon".into())
        } else if apikey == self.service_role_key {
            Some("service_role".into())
        } else {
            None
        }
    }

    fn verify(&self, token: &str) -> Result<Value, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.leeway = 0;
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(SECRET.as_bytes()), &validation)
            .map(|data| data.claims)
            .map_err(|e| e.to_string())
    }
}

pub fn sign(claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An access token for a signed-in user.
pub fn user_token(user_id: &str) -> String {
    sign(&json!({"sub": user_id, "role": "authenticated", "aud": "authenticated", "exp": now() + 3600, "iat": now()}))
}

/// A database with the project's schema and Realtime serving it.
pub struct Fixture {
    db: TestDatabase,
    pub state: RealtimeState,
    pub url: String,
    pub anon_key: String,
    pub service_role_key: String,
    pub sql: Client,
    server: tokio::task::JoinHandle<()>,
}

/// Realtime's own log (debug and up) goes to the test's captured output, so
/// a failed test shows what the poller and the sockets did.
fn log_to_test_output() {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("localbase::realtime=debug"))
            .with_test_writer()
            .try_init();
    });
}

impl Fixture {
    pub async fn start() -> Fixture {
        Fixture::start_with(None).await
    }

    /// With the slot stopping `idle_stop` after the last subscriber leaves
    /// (`None`: Realtime's default).
    pub async fn start_with(idle_stop: Option<Duration>) -> Fixture {
        log_to_test_output();
        let db = tokio::task::spawn_blocking(TestDatabase::new).await.unwrap().expect("a migrated test database");
        let anon_key = sign(&json!({"role": "anon", "iss": "supabase", "exp": now() + 86400}));
        let service_role_key = sign(&json!({"role": "service_role", "iss": "supabase", "exp": now() + 86400}));
        let verifier = Arc::new(HsVerifier { anon_key: anon_key.clone(), service_role_key: service_role_key.clone() });
        let state = match idle_stop {
            None => RealtimeState::start(db.url.clone(), verifier).await,
            Some(idle_stop) => RealtimeState::start_with_idle_stop(db.url.clone(), verifier, idle_stop).await,
        }
        .expect("realtime starts");
        let app = axum::Router::new().nest("/realtime/v1", router(state.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let (sql, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
        tokio::spawn(connection);
        // Throwaway clusters run with synchronous_commit=off, where a commit reaches
        // logical decoding only after the WAL writer flushes (up to ~600 ms). Commit
        // synchronously, like localbase's durable cluster, so that "nothing arrives
        // within QUIET" means something.
        sql.batch_execute("set synchronous_commit = on").await.unwrap();
        Fixture {
            db,
            state,
            url: format!("ws://{addr}/realtime/v1/websocket"),
            anon_key,
            service_role_key,
            sql,
            server,
        }
    }

    /// Connects with `apikey` and `vsn` (`None` leaves the parameter out).
    pub async fn connect(&self, apikey: &str, vsn: Option<&str>) -> Phx {
        let mut url = format!("{}?apikey={apikey}", self.url);
        if let Some(v) = vsn {
            url.push_str(&format!("&vsn={v}"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
        Phx { ws, v2: vsn == Some("2.0.0"), next_ref: 0 }
    }

    /// A caller with a login: returns (caller id, user id).
    pub async fn add_caller(&self, name: &str) -> (i64, String) {
        let user: uuid::Uuid = self
            .sql
            .query_one(
                "insert into auth.users (email) values ($1) returning id",
                &[&format!("{}@example.com", name.to_lowercase())],
            )
            .await
            .unwrap()
            .get(0);
        let caller: i64 = self
            .sql
            .query_one("insert into public.callers (name, user_id) values ($1, $2) returning id", &[&name, &user])
            .await
            .unwrap()
            .get(0);
        self.sql
            .execute(
                "insert into public.team_members (user_id, role, caller_id) values ($1, 'caller', $2)",
                &[&user, &caller],
            )
            .await
            .unwrap();
        (caller, user.to_string())
    }

    /// A second SQL session on the test database (synchronous commits).
    pub async fn sql_session(&self) -> Client {
        let (sql, connection) = tokio_postgres::connect(&self.db.url, NoTls).await.unwrap();
        tokio::spawn(connection);
        sql.batch_execute("set synchronous_commit = on").await.unwrap();
        sql
    }

    /// Inserts a lead for `caller`; returns its id.
    pub async fn add_lead(&self, phone: &str, caller: Option<i64>) -> i64 {
        self.sql
            .query_one(
                "insert into public.leads (phone, name, state, caller_id, metadata, assigned_at)
                 values ($1, 'Asha', 'MH', $2, '{\"source_row\": 7}', now()) returning id",
                &[&phone, &caller],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Stops Realtime (which drops its slot), then the database.
    pub async fn stop(self) {
        self.state.shutdown().await;
        self.server.abort();
        drop(self.sql);
        drop(self.db);
    }
}

/// A frame from the server, whatever the serializer.
#[derive(Debug, Clone)]
pub struct Frame {
    pub join_ref: Value,
    pub r#ref: Value,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

/// A raw Phoenix client.
pub struct Phx {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub v2: bool,
    next_ref: u64,
}

impl Phx {
    pub fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.ws.send(Message::Text(text.to_owned().into())).await.unwrap();
    }

    /// Sends in the socket's serializer; returns the ref used.
    pub async fn push(&mut self, join_ref: Option<&str>, topic: &str, event: &str, payload: Value) -> String {
        let r = self.make_ref();
        let frame = if self.v2 {
            json!([join_ref, r, topic, event, payload])
        } else {
            json!({"join_ref": join_ref, "ref": r, "topic": topic, "event": event, "payload": payload})
        };
        self.send_raw(&frame.to_string()).await;
        r
    }

    /// Joins `realtime:<name>` with these bindings; returns the join ref.
    pub async fn join(&mut self, name: &str, bindings: Value, access_token: Option<&str>) -> String {
        let mut payload = json!({
            "config": {"broadcast": {"ack": false, "self": false}, "presence": {"key": "", "enabled": false},
                       "postgres_changes": bindings, "private": false}
        });
        if let Some(t) = access_token {
            payload["access_token"] = json!(t);
        }
        let join_ref = self.make_ref();
        let frame = if self.v2 {
            json!([join_ref, join_ref, format!("realtime:{name}"), "phx_join", payload])
        } else {
            json!({"join_ref": join_ref, "ref": join_ref, "topic": format!("realtime:{name}"), "event": "phx_join", "payload": payload})
        };
        self.send_raw(&frame.to_string()).await;
        join_ref
    }

    /// Joins and asserts the ok reply and the system message; returns the binding ids.
    pub async fn subscribe(&mut self, name: &str, bindings: Value, access_token: Option<&str>) -> Vec<i64> {
        self.join(name, bindings, access_token).await;
        let reply = self.next().await;
        assert_eq!(reply.event, "phx_reply", "{reply:?}");
        assert_eq!(reply.payload["status"], "ok", "{reply:?}");
        let system = self.next().await;
        assert_eq!(system.event, "system", "{system:?}");
        assert_eq!(system.payload["message"], "Subscribed to PostgreSQL");
        reply.payload["response"]["postgres_changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_i64().unwrap())
            .collect()
    }

    /// The next text frame, parsed in the socket's serializer (panics after 5 s).
    pub async fn next(&mut self) -> Frame {
        self.next_within(Duration::from_secs(5)).await.expect("a frame within 5 s")
    }

    pub async fn next_within(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()??.ok()?;
            let Message::Text(text) = msg else { continue };
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            return Some(if self.v2 {
                let items = value.as_array().unwrap_or_else(|| panic!("a 2.0.0 array frame, got {value}"));
                assert_eq!(items.len(), 5);
                Frame {
                    join_ref: items[0].clone(),
                    r#ref: items[1].clone(),
                    topic: items[2].as_str().unwrap().to_owned(),
                    event: items[3].as_str().unwrap().to_owned(),
                    payload: items[4].clone(),
                }
            } else {
                let obj = value.as_object().unwrap_or_else(|| panic!("a 1.0.0 object frame, got {value}"));
                Frame {
                    join_ref: obj["join_ref"].clone(),
                    r#ref: obj["ref"].clone(),
                    topic: obj["topic"].as_str().unwrap().to_owned(),
                    event: obj["event"].as_str().unwrap().to_owned(),
                    payload: obj["payload"].clone(),
                }
            });
        }
    }

    /// The next `postgres_changes` event (panics after 5 s).
    pub async fn change(&mut self) -> Frame {
        let frame = self.next().await;
        assert_eq!(frame.event, "postgres_changes", "{frame:?}");
        frame
    }

    /// Asserts that no frame arrives for `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        if let Some(frame) = self.next_within(wait).await {
            panic!("expected no frame, got {frame:?}");
        }
    }
}
