//! The single dispatching task: takes streamed changes in commit order,
//! decides who may see each one, and hands rendered frames to the sockets.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::binding::ChangeKind;
use super::catalog::{Catalog, TableInfo};
use super::demand::Demand;
use super::identity::Identity;
use super::phoenix::{self, json_string};
use super::values;
use super::visibility;
use super::wal::{ChangeLine, RawChange, Slot};
use super::Shared;

/// How often the publication's table list and cached privileges are re-read
/// (and the longest the task waits for changes before it looks again).
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// How many times the privilege read and each batch of RLS checks are tried
/// (50 ms, then 200 ms apart).
const RLS_ATTEMPTS: u32 = 3;

/// One change, decoded and ready to filter.
struct Change {
    kind: ChangeKind,
    table: Arc<TableInfo>,
    commit_timestamp: String,
    record: Option<Map<String, Value>>,
    /// What is sent as `old_record`: only the primary key on RLS tables.
    old_record: Option<Map<String, Value>>,
    /// What filters see for a DELETE: the whole replica identity.
    old_values: Map<String, Value>,
    /// Primary key values as wal2json wrote them, for RLS checks.
    key: Map<String, Value>,
}

/// The rows one identity must be checked for on one table.
type RlsGroup = (Arc<Identity>, Arc<TableInfo>, BTreeSet<usize>);
/// An [`RlsGroup`] keyed by (identity key, table oid).
type KeyedGroup = ((String, u32), RlsGroup);

pub struct Poller {
    url: String,
    /// The streaming slot; `None` while nobody subscribes (see [`Demand`]).
    slot: Option<Slot>,
    catalog: Catalog,
    last_refresh: Instant,
    shared: Weak<Shared>,
    demand: Arc<Demand>,
    shutdown: watch::Receiver<bool>,
}

impl Poller {
    /// Reads the publication and checks that the database can stream (it
    /// creates a slot and drops it again), so a misconfiguration is reported
    /// at start. The stream itself starts with the first join.
    pub async fn start(url: &str, shared: &Arc<Shared>, shutdown: watch::Receiver<bool>) -> anyhow::Result<Poller> {
        let mut catalog = Catalog::default();
        catalog.refresh(&shared.pool).await?;
        Slot::create(url).await?.close().await;
        Ok(Poller {
            url: url.to_owned(),
            slot: None,
            catalog,
            last_refresh: Instant::now(),
            shared: Arc::downgrade(shared),
            demand: shared.demand.clone(),
            shutdown,
        })
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow() || self.shared.strong_count() == 0
    }

    /// Streams while someone subscribes, dispatching changes as the stream
    /// delivers them, until shutdown or until every `RealtimeState` is gone;
    /// then ends the stream and drops the slot.
    pub async fn run(mut self) {
        loop {
            if self.stopping() {
                break;
            }
            let Some(subscribers) = self.shared.upgrade().map(|shared| shared.hub.len()) else { break };
            let Some(slot) = self.slot.as_mut() else {
                if self.demand.wanted(subscribers) {
                    self.open().await;
                } else {
                    // The sleep notices a dropped `RealtimeState`.
                    tokio::select! {
                        _ = self.demand.asked() => {}
                        _ = self.shutdown.changed() => {}
                        _ = tokio::time::sleep(REFRESH_EVERY) => {}
                    }
                }
                continue;
            };
            if self.demand.stop_if_unwanted(subscribers) {
                let name = slot.name.clone();
                if let Some(slot) = self.slot.take() {
                    slot.close().await;
                }
                tracing::debug!(slot = %name, "no realtime subscribers; the slot is dropped until the next join");
                continue;
            }
            if self.last_refresh.elapsed() >= REFRESH_EVERY {
                let Some(shared) = self.shared.upgrade() else { break };
                self.refresh(&shared).await;
            }
            let wait = REFRESH_EVERY.saturating_sub(self.last_refresh.elapsed());
            let Some(slot) = self.slot.as_mut() else { continue };
            let batch = tokio::select! {
                batch = slot.next_batch(wait) => batch,
                _ = self.shutdown.changed() => continue,
            };
            match batch {
                Ok(changes) if !changes.is_empty() => {
                    let Some(shared) = self.shared.upgrade() else { break };
                    let started = Instant::now();
                    let count = changes.len();
                    self.dispatch(&shared, changes).await;
                    tracing::debug!(
                        changes = count,
                        dispatch_ms = started.elapsed().as_secs_f64() * 1e3,
                        "realtime batch"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    // The failed session took its temporary slot with it.
                    tracing::warn!(
                        error = %e,
                        "the realtime slot's session failed; changes until a new slot streams are not delivered"
                    );
                    self.slot = None;
                    self.demand.stopped();
                }
            }
        }
        self.demand.stopped();
        if let Some(slot) = self.slot.take() {
            slot.close().await;
        }
    }

    async fn refresh(&mut self, shared: &Shared) {
        self.last_refresh = Instant::now();
        if let Err(e) = self.catalog.refresh(&shared.pool).await {
            tracing::warn!(error = %e, "refreshing the realtime publication failed");
        }
    }

    /// Creates a slot and starts streaming it, retrying while it is wanted;
    /// joins waiting for it go on once it streams.
    async fn open(&mut self) {
        let mut delay = Duration::from_millis(100);
        loop {
            let Some(shared) = self.shared.upgrade() else { return };
            if self.stopping() || !self.demand.wanted(shared.hub.len()) {
                return;
            }
            match Slot::create(&self.url).await {
                Ok(slot) => {
                    tracing::debug!(slot = %slot.name, "realtime slot streaming");
                    self.slot = Some(slot);
                    self.refresh(&shared).await;
                    self.demand.started();
                    return;
                }
                Err(e) => {
                    drop(shared);
                    tracing::warn!(error = %e, "realtime could not create its slot");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.shutdown.changed() => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn dispatch(&mut self, shared: &Shared, lines: Vec<ChangeLine>) {
        let subscribers = shared.hub.snapshot();
        if subscribers.is_empty() {
            return;
        }
        let tables = &self.catalog.tables;
        let raw: Vec<RawChange> = lines
            .iter()
            .filter_map(|line| line.parse_if(|schema, table| tables.contains_key(&(schema.to_owned(), table.to_owned()))))
            .collect();
        let pool = &shared.pool;
        let mut oids: Vec<u32> = Vec::new();
        for change in &raw {
            oids.extend(change.columns.iter().map(|c| c.typeoid));
            oids.extend(change.identity.iter().map(|c| c.typeoid));
        }
        if let Err(e) = self.catalog.load_types(pool, oids.into_iter()).await {
            tracing::warn!(error = %e, "realtime could not read column types; sending them as text");
        }
        let changes: Vec<Change> = raw.iter().filter_map(|r| self.decode(r)).collect();

        // Who wants what, by bindings and filters.
        let mut candidates: Vec<(usize, usize, Vec<u32>)> = Vec::new();
        for (ci, change) in changes.iter().enumerate() {
            let values = change.record.as_ref().unwrap_or(&change.old_values);
            let column_type = |col: &str| change.table.column_type(col);
            for (si, sub) in subscribers.iter().enumerate() {
                let ids: Vec<u32> = sub
                    .bindings
                    .iter()
                    .filter(|b| {
                        b.covers(&change.table.schema, &change.table.name) && b.wants(change.kind, values, &column_type)
                    })
                    .map(|b| b.id)
                    .collect();
                if !ids.is_empty() {
                    candidates.push((ci, si, ids));
                }
            }
        }
        if candidates.is_empty() {
            return;
        }

        // Table privileges, then row level security, batched per identity and table.
        let pairs: Vec<(String, u32)> = candidates
            .iter()
            .map(|(ci, si, _)| (subscribers[*si].identity.role.clone(), changes[*ci].table.oid))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut retries = Retries::default();
        while let Err(e) = self.catalog.load_privileges(pool, &pairs).await {
            tracing::warn!(attempt = retries.failed, error = %e, "realtime could not read table privileges");
            if !retries.another().await {
                break;
            }
        }
        let privileged = |identity: &Identity, table: &TableInfo| {
            self.catalog
                .privileges
                .get(&(identity.role.clone(), table.oid))
                .copied()
                .unwrap_or(false)
        };
        let needs_rls = |ci: usize, identity: &Identity| {
            let change = &changes[ci];
            change.kind != ChangeKind::Delete && change.table.rls && !identity.bypass_rls
        };
        let mut groups: HashMap<(String, u32), RlsGroup> = HashMap::new();
        for (ci, si, _) in &candidates {
            let identity = &subscribers[*si].identity;
            let table = &changes[*ci].table;
            if needs_rls(*ci, identity) && privileged(identity, table) {
                groups
                    .entry((identity.key.clone(), table.oid))
                    .or_insert_with(|| (identity.clone(), table.clone(), BTreeSet::new()))
                    .2
                    .insert(*ci);
            }
        }
        // All identities of a table go in one round trip, split over the pool.
        let mut by_table: HashMap<u32, Vec<KeyedGroup>> = HashMap::new();
        for (key, group) in groups {
            by_table.entry(key.1).or_default().push((key, group));
        }
        let mut batches = Vec::new();
        for (_, entries) in by_table {
            let per_batch = entries.len().div_ceil(super::POOL_SIZE as usize).max(1);
            let mut entries = entries.into_iter().peekable();
            while entries.peek().is_some() {
                batches.push(entries.by_ref().take(per_batch).collect::<Vec<_>>());
            }
        }
        let changes_ref = &changes;
        let checks = batches.into_iter().map(|batch| async move {
            let table = batch[0].1 .1.clone();
            let checks: Vec<visibility::Check<'_>> = batch
                .iter()
                .map(|(_, (identity, _, indexes))| visibility::Check {
                    identity,
                    rows: indexes.iter().map(|i| (*i, &changes_ref[*i].key)).collect(),
                })
                .collect();
            let seen = checked_with_retries(pool, &table, &checks).await;
            batch.iter().map(|(key, _)| key.clone()).zip(seen).collect::<Vec<_>>()
        });
        let visible: HashMap<(String, u32), HashSet<usize>> =
            futures::future::join_all(checks).await.into_iter().flatten().collect();

        // Send, in commit order.
        let mut rendered: Vec<Option<String>> = vec![None; changes.len()];
        for (ci, si, ids) in candidates {
            let sub = &subscribers[si];
            let change = &changes[ci];
            let allowed = privileged(&sub.identity, &change.table)
                && (!needs_rls(ci, &sub.identity)
                    || visible
                        .get(&(sub.identity.key.clone(), change.table.oid))
                        .is_some_and(|seen| seen.contains(&ci)));
            if !allowed {
                continue;
            }
            let data = rendered[ci].get_or_insert_with(|| render_data(change));
            let ids = Value::from(ids).to_string();
            let payload = format!(r#"{{"ids":{ids},"data":{data}}}"#);
            let frame = phoenix::render(sub.vsn, &Value::Null, &Value::Null, &sub.topic, "postgres_changes", &payload);
            // A closed socket is removed by its own task; nothing to do here.
            let _ = sub.tx.send(frame);
        }
    }

    fn decode(&self, raw: &RawChange) -> Option<Change> {
        let kind = raw.kind()?;
        let table = self.catalog.tables.get(&(raw.schema.clone(), raw.table.clone()))?.clone();
        let types = &self.catalog.types;
        let record = (kind != ChangeKind::Delete).then(|| values::record(types, &raw.columns));
        let old_values = if kind == ChangeKind::Insert { Map::new() } else { values::record(types, &raw.identity) };
        let old_record = (kind != ChangeKind::Insert).then(|| {
            if table.rls {
                only_key(&old_values, &table.primary_key)
            } else {
                old_values.clone()
            }
        });
        let source = if kind == ChangeKind::Delete { &raw.identity } else { &raw.columns };
        let key = source
            .iter()
            .filter(|c| table.primary_key.contains(&c.name))
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect();
        Some(Change { kind, table, commit_timestamp: raw.commit_timestamp(), record, old_record, old_values, key })
    }
}

/// Runs one batch of RLS checks, on a fresh connection after each transient
/// failure (a lost connection, a restart, a timeout), so that a blip of the
/// database does not silently drop changes. After [`RLS_ATTEMPTS`] failures
/// the batch's changes are not sent to these identities, and a warning says so.
async fn checked_with_retries(
    pool: &sqlx::PgPool,
    table: &TableInfo,
    checks: &[visibility::Check<'_>],
) -> Vec<HashSet<usize>> {
    let mut retries = Retries::default();
    loop {
        let outcome = match pool.acquire().await {
            Ok(mut conn) => {
                let result = visibility::visible_many(&mut conn, table, checks).await;
                if result.is_err() {
                    // Whatever state it is in, it is not handed out again.
                    conn.close_on_drop();
                }
                result
            }
            Err(e) => Err(e),
        };
        let e = match outcome {
            Ok(seen) => return seen,
            Err(e) => e,
        };
        tracing::warn!(table = %table.name, attempt = retries.failed, error = %e, "realtime RLS check failed");
        if !retries.another().await {
            let rows: usize = checks.iter().map(|c| c.rows.len()).sum();
            tracing::warn!(
                table = %table.name, rows,
                "realtime RLS check failed on all {RLS_ATTEMPTS} attempts; these changes are not sent to these subscribers"
            );
            return checks.iter().map(|_| HashSet::new()).collect();
        }
    }
}

/// Counts the failed tries of one database read the dispatcher needs, and
/// waits before the next: 50 ms, then four times as long each time.
struct Retries {
    /// Tries failed so far, counting the one just reported.
    failed: u32,
    delay: Duration,
}

impl Default for Retries {
    fn default() -> Self {
        Retries { failed: 1, delay: Duration::from_millis(50) }
    }
}

impl Retries {
    /// After a failed try: `false` once [`RLS_ATTEMPTS`] have failed;
    /// otherwise waits, and `true` for another try.
    async fn another(&mut self) -> bool {
        if self.failed >= RLS_ATTEMPTS {
            return false;
        }
        tokio::time::sleep(self.delay).await;
        self.delay *= 4;
        self.failed += 1;
        true
    }
}

fn only_key(values: &Map<String, Value>, key: &[String]) -> Map<String, Value> {
    values
        .iter()
        .filter(|(name, _)| key.contains(name))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// The `data` object of a `postgres_changes` event.
fn render_data(change: &Change) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(r#"{"schema":"#);
    out.push_str(&json_string(&change.table.schema));
    out.push_str(r#","table":"#);
    out.push_str(&json_string(&change.table.name));
    out.push_str(r#","commit_timestamp":"#);
    out.push_str(&json_string(&change.commit_timestamp));
    out.push_str(r#","type":""#);
    out.push_str(change.kind.as_str());
    out.push_str(r#"","columns":"#);
    out.push_str(&change.table.columns_json);
    if let Some(record) = &change.record {
        out.push_str(r#","record":"#);
        push_object(&mut out, record);
    }
    if let Some(old) = &change.old_record {
        out.push_str(r#","old_record":"#);
        push_object(&mut out, old);
    }
    out.push_str(r#","errors":null}"#);
    out
}

/// Appends `map` as compact JSON, as `Value::Object(map).to_string()` would
/// write it, without copying the map first (every event's record went
/// through a clone of its whole tree, `candidates` included). A map of JSON
/// values always serializes; `null` stands in should that ever change.
fn push_object(out: &mut String, map: &Map<String, Value>) {
    match serde_json::to_string(map) {
        Ok(text) => out.push_str(&text),
        Err(_) => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_written_as_the_value_it_holds_would_write_itself() {
        let record = serde_json::json!({
            "id": 7,
            "name": "Ravi \"R\" Kumar\n",
            "candidates": [{"caller_id": 1, "load": 0.5, "states": ["MH", "KA"]}, {"caller_id": 2, "paused": null}],
            "metadata": {},
        });
        let Value::Object(map) = record.clone() else { unreachable!("an object literal") };
        let mut out = String::from("x");
        push_object(&mut out, &map);
        assert_eq!(out, format!("x{record}"));
    }
}
