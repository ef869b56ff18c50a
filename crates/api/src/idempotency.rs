//! The in-process front of idempotent delivery.
//!
//! The database is what makes a keyed delivery idempotent: `ingest_lead(s)`
//! store each item's answer in `engine.deliveries` in the same transaction
//! as its lead, and answer a repeat from there, on any instance and after
//! any restart (see docs/ingest.md). This front only saves work:
//! - the same key arriving at this instance while its first delivery is
//!   still being processed waits for that answer instead of queueing a
//!   second call behind the database's locks;
//! - a small cache of finished answers that came from the database replays
//!   them without a round trip.
//!
//! Nothing here is needed for correctness: a key this front does not know
//! (another instance's, or one evicted from the cache) goes to the
//! database, which answers. The cache is bounded in bytes, not entries
//! ([`DEFAULT_MAX_BYTES`]), evicting the oldest answers first. Entries are
//! scoped by sender and key, as the database's are. A 5xx is handed to the
//! requests already waiting on it, then forgotten, so the sender's next
//! retry is processed afresh.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use tokio::sync::watch;

/// How long a finished answer stays in the cache: well inside the
/// database's 24 hours, so the cache never answers for a delivery the
/// database has already forgotten.
pub const CACHE_RETENTION: Duration = Duration::from_secs(60 * 60);

/// Most bytes of finished answers (keys and bodies) kept per instance.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Bookkeeping counted per cached answer beside its key and body.
const ENTRY_OVERHEAD: usize = 128;

/// A response as first sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

enum Entry {
    InFlight { fingerprint: [u8; 32], done: watch::Receiver<Option<StoredResponse>> },
    Done { fingerprint: [u8; 32], response: StoredResponse, expires: Instant, serial: u64 },
}

/// What to do with a request that carries a key.
pub enum Begin {
    /// Not in flight here and not cached: process it (the database answers
    /// a repeat), then [`Claim::finish`].
    Process(Claim),
    /// Finished here recently: send this again.
    Replay(StoredResponse),
    /// The same key is being processed right now: wait for its answer.
    Wait(watch::Receiver<Option<StoredResponse>>),
    /// The key is in flight or cached with a different body.
    Mismatch,
    /// The front's lock is poisoned (a thread panicked holding it): a
    /// transient fault of this instance, answered 503 so the sender retries.
    Unavailable,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Cached answers, oldest first: (map key, serial, bytes).
    order: VecDeque<(String, u64, usize)>,
    bytes: usize,
    next_serial: u64,
}

impl Inner {
    /// Drops the oldest cached answers until `bytes` fit, and any expired
    /// ones at the front.
    fn evict(&mut self, max_bytes: usize, now: Instant) {
        while let Some((key, serial, size)) = self.order.front().cloned() {
            let expired = matches!(self.entries.get(&key), Some(Entry::Done { expires, serial: s, .. }) if *s == serial && *expires <= now);
            let stale = !matches!(self.entries.get(&key), Some(Entry::Done { serial: s, .. }) if *s == serial);
            if self.bytes <= max_bytes && !expired && !stale {
                break;
            }
            self.order.pop_front();
            self.bytes -= size;
            if !stale {
                self.entries.remove(&key);
            }
        }
    }
}

/// The in-process front: in-flight deliveries and a byte-bounded cache.
#[derive(Clone)]
pub struct IdempotencyStore {
    inner: Arc<Mutex<Inner>>,
    max_bytes: usize,
}

impl Default for IdempotencyStore {
    fn default() -> Self {
        IdempotencyStore::with_max_bytes(DEFAULT_MAX_BYTES)
    }
}

impl IdempotencyStore {
    /// A front whose cache holds at most `max_bytes` of answers.
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        IdempotencyStore { inner: Arc::default(), max_bytes }
    }

    /// Looks up `key` of `sender` for a request whose body hashes to
    /// `fingerprint`.
    pub fn begin(&self, sender: &str, key: &str, fingerprint: [u8; 32]) -> Begin {
        let Ok(mut inner) = self.inner.lock() else {
            return Begin::Unavailable;
        };
        let map_key = format!("{sender}\n{key}");
        match inner.entries.get(&map_key) {
            Some(Entry::Done { fingerprint: fp, response, expires, .. }) if *expires > Instant::now() => {
                if *fp == fingerprint {
                    Begin::Replay(response.clone())
                } else {
                    Begin::Mismatch
                }
            }
            Some(Entry::InFlight { fingerprint: fp, done }) => {
                if *fp == fingerprint {
                    Begin::Wait(done.clone())
                } else {
                    Begin::Mismatch
                }
            }
            _ => {
                let (tx, rx) = watch::channel(None);
                inner.entries.insert(map_key.clone(), Entry::InFlight { fingerprint, done: rx });
                Begin::Process(Claim { store: self.clone(), key: map_key, fingerprint, tx: Some(tx) })
            }
        }
    }

    /// Drops expired answers; run periodically.
    pub fn purge_expired(&self) -> usize {
        let Ok(mut inner) = self.inner.lock() else { return 0 };
        let before = inner.entries.len();
        let now = Instant::now();
        inner.entries.retain(|_, e| match e {
            Entry::Done { expires, .. } => *expires > now,
            Entry::InFlight { .. } => true,
        });
        let max_bytes = self.max_bytes;
        inner.evict(max_bytes, now);
        before - inner.entries.len()
    }

    /// Bytes of cached answers now.
    pub fn cached_bytes(&self) -> usize {
        self.inner.lock().map(|inner| inner.bytes).unwrap_or(0)
    }
}

/// The right to process a key. Dropped without [`Claim::finish`] (the
/// processing was cancelled), the key is released and waiters retry.
pub struct Claim {
    store: IdempotencyStore,
    key: String,
    fingerprint: [u8; 32],
    tx: Option<watch::Sender<Option<StoredResponse>>>,
}

impl Claim {
    /// Wakes every waiter with `response`. Caches it when `cache` is true
    /// (the database recorded the delivery, so any instance would give the
    /// same answer) and it is not a 5xx; otherwise forgets the key.
    pub fn finish(mut self, response: StoredResponse, cache: bool) {
        let max_bytes = self.store.max_bytes;
        if let Ok(mut inner) = self.store.inner.lock() {
            let size = self.key.len() + response.body.len() + ENTRY_OVERHEAD;
            if cache && !response.status.is_server_error() && size <= max_bytes {
                let serial = inner.next_serial;
                inner.next_serial += 1;
                let expires = Instant::now() + CACHE_RETENTION;
                inner.entries.insert(
                    self.key.clone(),
                    Entry::Done { fingerprint: self.fingerprint, response: response.clone(), expires, serial },
                );
                inner.order.push_back((self.key.clone(), serial, size));
                inner.bytes += size;
                inner.evict(max_bytes, Instant::now());
            } else {
                inner.entries.remove(&self.key);
            }
        }
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Some(response));
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.tx.is_some() {
            if let Ok(mut inner) = self.store.inner.lock() {
                inner.entries.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ok(body: &str) -> StoredResponse {
        StoredResponse { status: StatusCode::CREATED, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn a_finished_key_replays_its_response() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("s", "k", [1; 32]) else { panic!("expected Process") };
        claim.finish(ok("first"), true);
        let Begin::Replay(r) = store.begin("s", "k", [1; 32]) else { panic!("expected Replay") };
        assert_eq!(r, ok("first"));
    }

    #[test]
    fn the_same_key_of_another_sender_is_another_delivery() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("s1", "k", [1; 32]) else { panic!() };
        claim.finish(ok("first"), true);
        assert!(matches!(store.begin("s2", "k", [2; 32]), Begin::Process(_)));
    }

    #[test]
    fn the_same_key_with_another_body_is_a_mismatch() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("s", "k", [1; 32]) else { panic!() };
        assert!(matches!(store.begin("s", "k", [2; 32]), Begin::Mismatch));
        claim.finish(ok("first"), true);
        assert!(matches!(store.begin("s", "k", [2; 32]), Begin::Mismatch));
    }

    #[tokio::test]
    async fn a_retry_in_flight_waits_for_the_first_answer() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("s", "k", [1; 32]) else { panic!() };
        let Begin::Wait(mut rx) = store.begin("s", "k", [1; 32]) else { panic!("expected Wait") };
        claim.finish(ok("first"), true);
        let got = rx.wait_for(Option::is_some).await.unwrap().clone();
        assert_eq!(got, Some(ok("first")));
    }

    #[test]
    fn a_server_error_is_not_kept() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("s", "k", [1; 32]) else { panic!() };
        claim.finish(StoredResponse { status: StatusCode::SERVICE_UNAVAILABLE, body: vec![] }, true);
        assert!(matches!(store.begin("s", "k", [1; 32]), Begin::Process(_)));
    }

    #[test]
    fn an_answer_the_database_did_not_record_is_not_kept() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("s", "k", [1; 32]) else { panic!() };
        claim.finish(StoredResponse { status: StatusCode::BAD_REQUEST, body: b"{}".to_vec() }, false);
        assert!(matches!(store.begin("s", "k", [2; 32]), Begin::Process(_)), "another body goes to the database");
    }

    #[test]
    fn the_cache_is_bounded_in_bytes_and_evicts_the_oldest_first() {
        let body = "x".repeat(1000);
        let one = "s\nk0".len() + body.len() + ENTRY_OVERHEAD;
        let store = IdempotencyStore::with_max_bytes(3 * one);
        for n in 0..5 {
            let Begin::Process(claim) = store.begin("s", &format!("k{n}"), [1; 32]) else { panic!() };
            claim.finish(ok(&body), true);
            assert!(store.cached_bytes() <= 3 * one, "after {n}: {} bytes", store.cached_bytes());
        }
        assert!(matches!(store.begin("s", "k1", [1; 32]), Begin::Process(_)), "the oldest went first");
        assert!(matches!(store.begin("s", "k4", [1; 32]), Begin::Replay(_)), "the newest stays");
        assert_eq!(store.cached_bytes(), 3 * one);
    }

    #[test]
    fn an_answer_larger_than_the_whole_cache_is_not_kept() {
        let store = IdempotencyStore::with_max_bytes(100);
        let Begin::Process(claim) = store.begin("s", "k", [1; 32]) else { panic!() };
        claim.finish(ok(&"x".repeat(1000)), true);
        assert_eq!(store.cached_bytes(), 0);
        assert!(matches!(store.begin("s", "k", [1; 32]), Begin::Process(_)));
    }

    /// The answer to `Unavailable` (503 with Retry-After) is checked in
    /// `routes::ingest`, which owns the refusals.
    #[test]
    fn a_poisoned_lock_is_unavailable_not_a_key_mismatch() {
        let store = IdempotencyStore::default();
        let inner = store.inner.clone();
        let _ = std::thread::spawn(move || {
            let _guard = inner.lock().unwrap();
            panic!("poison the idempotency lock");
        })
        .join();
        assert!(store.inner.is_poisoned());
        let Begin::Unavailable = store.begin("s", "k", [1; 32]) else { panic!("expected Unavailable, not Mismatch") };
    }

    #[test]
    fn a_dropped_claim_releases_the_key() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("s", "k", [1; 32]) else { panic!() };
        drop(claim);
        assert!(store.inner.lock().unwrap().entries.is_empty());
        assert!(matches!(store.begin("s", "k", [1; 32]), Begin::Process(_)));
    }
}
