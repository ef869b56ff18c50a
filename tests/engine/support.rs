//! Helpers shared by the engine tests: a migrated database, callers, leads,
//! signed-in users and the injectable clock.

#![allow(clippy::unwrap_used)]

use pgcluster::testing::TestDatabase;
use postgres::{Client, NoTls};
use serde_json::{json, Value};

/// A fresh database and a superuser connection to it. The connection is
/// declared first so it closes before the database is dropped.
pub struct Db {
    pub client: Client,
    pub db: TestDatabase,
}

impl Db {
    pub fn new() -> Db {
        let db = TestDatabase::new().expect("a migrated test database (is PostgreSQL 15 installed?)");
        let mut client = Client::connect(&db.url, NoTls).unwrap();
        // The test clock (`bloc.now`) counts only where the database allows
        // it; production never does (see docs/engine.md, "The clock").
        client.execute("update engine.clock_settings set override_allowed = true", &[]).unwrap();
        Db { client, db }
    }

    pub fn connect(&self) -> Client {
        Client::connect(&self.db.url, NoTls).unwrap()
    }

    /// Sets the engine's clock (`bloc.now`) for this session.
    pub fn set_now(&mut self, at: &str) {
        self.client.execute("select set_config('bloc.now', $1, false)", &[&at]).unwrap();
    }

    pub fn add_caller(&mut self, caller: Caller) -> i64 {
        let states: Vec<String> = caller.states.iter().map(|s| s.to_string()).collect();
        let languages: Vec<String> = caller.languages.iter().map(|s| s.to_string()).collect();
        self.client
            .query_one(
                "insert into callers (name, assigned_states, languages, daily_lead_limit, weight, active)
                 values ($1, $2, $3, $4, $5, $6) returning id",
                &[&caller.name, &states, &languages, &caller.limit, &caller.weight, &caller.active],
            )
            .unwrap()
            .get(0)
    }

    pub fn ingest(&mut self, payload: Value) -> Value {
        self.client.query_one("select ingest_lead($1)", &[&payload]).unwrap().get(0)
    }

    pub fn ingest_batch(&mut self, payloads: Value) -> Vec<Value> {
        let out: Value = self.client.query_one("select ingest_leads($1)", &[&payloads]).unwrap().get(0);
        out.as_array().unwrap().clone()
    }

    /// Ingests a lead with this phone and state and returns the chosen caller id.
    pub fn assign(&mut self, phone: &str, state: Option<&str>) -> Option<i64> {
        let result = self.ingest(json!({"phone": phone, "state": state}));
        result["caller_id"].as_i64()
    }

    pub fn scalar_i64(&mut self, sql: &str) -> i64 {
        self.client.query_one(sql, &[]).unwrap().get(0)
    }

    pub fn load(&mut self, caller_id: i64) -> i32 {
        self.client
            .query_opt(
                "select assigned from caller_daily_loads where caller_id = $1 and day = engine.local_day(engine.now())",
                &[&caller_id],
            )
            .unwrap()
            .map(|r| r.get(0))
            .unwrap_or(0)
    }

    /// Creates an auth user and its team membership; returns the user id.
    pub fn add_member(&mut self, email: &str, role: &str, caller_id: Option<i64>) -> String {
        let row = self
            .client
            .query_one("insert into auth.users (email) values ($1) returning id::text", &[&email])
            .unwrap();
        let id: String = row.get(0);
        self.client
            .execute(
                "insert into team_members (user_id, role, caller_id) values ($1::text::uuid, $2, $3)",
                &[&id, &role, &caller_id],
            )
            .unwrap();
        id
    }
}

/// A caller to create; `Caller::named("A")` covers nothing, limit 50, weight 1.
pub struct Caller {
    pub name: &'static str,
    pub states: Vec<&'static str>,
    pub languages: Vec<&'static str>,
    pub limit: i32,
    pub weight: i32,
    pub active: bool,
}

impl Caller {
    pub fn named(name: &'static str) -> Caller {
        Caller { name, states: vec![], languages: vec![], limit: 50, weight: 1, active: true }
    }
    pub fn states(mut self, states: &[&'static str]) -> Caller {
        self.states = states.to_vec();
        self
    }
    pub fn languages(mut self, languages: &[&'static str]) -> Caller {
        self.languages = languages.to_vec();
        self
    }
    pub fn limit(mut self, limit: i32) -> Caller {
        self.limit = limit;
        self
    }
    pub fn weight(mut self, weight: i32) -> Caller {
        self.weight = weight;
        self
    }
    pub fn inactive(mut self) -> Caller {
        self.active = false;
        self
    }
}

/// A phone number unique to `n`.
pub fn phone(n: u32) -> String {
    format!("+9198{n:08}")
}

/// Runs `f` inside a transaction as the API role `role` with the given JWT
/// subject, as PostgREST does, and rolls back afterwards.
pub fn as_role<T>(
    client: &mut Client,
    role: &str,
    sub: Option<&str>,
    f: impl FnOnce(&mut postgres::Transaction<'_>) -> T,
) -> T {
    let mut tx = client.transaction().unwrap();
    let claims = match sub {
        Some(sub) => json!({"sub": sub, "role": role}).to_string(),
        None => json!({"role": role}).to_string(),
    };
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims]).unwrap();
    tx.batch_execute(&format!("set local role {role}")).unwrap();
    let out = f(&mut tx);
    tx.rollback().unwrap();
    out
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(result: Result<impl Sized, postgres::Error>) -> String {
    match result {
        Ok(_) => "ok (no error)".to_string(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_else(|| e.to_string()),
    }
}

/// `value` with every non-integer number rebuilt from its `f64`, so a
/// numeric's trailing zeros compare equal to the literal a test writes:
/// PostgreSQL renders `round(1 / 4.0, 4)` as `0.2500`, and when serde_json's
/// `arbitrary_precision` feature is on (feature unification in a whole-workspace
/// build turns it on) `0.2500` and `0.25` are different `Number`s.
pub fn plain_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => {
            n.as_f64().and_then(serde_json::Number::from_f64).map(Value::Number).unwrap_or(Value::Number(n))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(plain_numbers).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, plain_numbers(v))).collect()),
        other => other,
    }
}
