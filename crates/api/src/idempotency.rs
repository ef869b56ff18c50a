//! Idempotent delivery: an `Idempotency-Key` (or Standard Webhooks
//! `webhook-id`) makes a repeated delivery get the first response, status and
//! body, for 24 hours, also while the first is still being processed.
//!
//! The store is in process, per instance (see docs/ingest.md for why and what
//! holds across instances). A key is bound to the SHA-256 of the body it first
//! came with; the same key with another body is refused. Only final answers
//! are kept: a 5xx is handed to requests already waiting on it, then
//! forgotten, so the sender's next retry is processed afresh.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use tokio::sync::watch;

/// How long a response is replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Most finished responses kept (about 0.5–1 GB at worst). Past it, expired
/// entries are purged and, if still full, a new response is not kept: its
/// retries then fall back to the database's duplicate check (`200 duplicate`).
pub const MAX_ENTRIES: usize = 1_000_000;

/// A response as first sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

enum Entry {
    InFlight { fingerprint: [u8; 32], done: watch::Receiver<Option<StoredResponse>> },
    Done { fingerprint: [u8; 32], response: StoredResponse, expires: Instant },
}

/// What to do with a request that carries a key.
pub enum Begin {
    /// First time: process it, then [`Claim::finish`].
    Process(Claim),
    /// Seen before, finished: send this again.
    Replay(StoredResponse),
    /// The same key is being processed right now: wait for its answer.
    Wait(watch::Receiver<Option<StoredResponse>>),
    /// The key was used with a different body.
    Mismatch,
    /// The store's lock is poisoned (a thread panicked holding it): a
    /// transient fault of this instance, answered 503 so the sender retries.
    Unavailable,
}

/// The in-process idempotency store.
#[derive(Default, Clone)]
pub struct IdempotencyStore {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl IdempotencyStore {
    /// Looks up `key` for a request whose body hashes to `fingerprint`.
    pub fn begin(&self, key: &str, fingerprint: [u8; 32]) -> Begin {
        let Ok(mut entries) = self.entries.lock() else {
            return Begin::Unavailable;
        };
        match entries.get(key) {
            Some(Entry::Done { fingerprint: fp, response, expires }) if *expires > Instant::now() => {
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
                entries.insert(key.to_owned(), Entry::InFlight { fingerprint, done: rx });
                Begin::Process(Claim { store: self.clone(), key: key.to_owned(), fingerprint, tx: Some(tx) })
            }
        }
    }

    /// Drops expired entries; run periodically.
    pub fn purge_expired(&self) -> usize {
        let Ok(mut entries) = self.entries.lock() else { return 0 };
        let before = entries.len();
        let now = Instant::now();
        entries.retain(|_, e| match e {
            Entry::Done { expires, .. } => *expires > now,
            Entry::InFlight { .. } => true,
        });
        before - entries.len()
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
    /// Records the answer (unless it is a 5xx) and wakes every waiter with it.
    pub fn finish(mut self, response: StoredResponse) {
        if let Ok(mut entries) = self.store.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                let now = Instant::now();
                entries.retain(|_, e| !matches!(e, Entry::Done { expires, .. } if *expires <= now));
            }
            if !response.status.is_server_error() && entries.len() < MAX_ENTRIES {
                entries.insert(
                    self.key.clone(),
                    Entry::Done { fingerprint: self.fingerprint, response: response.clone(), expires: Instant::now() + RETENTION },
                );
            } else {
                entries.remove(&self.key);
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
            if let Ok(mut entries) = self.store.entries.lock() {
                entries.remove(&self.key);
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
        let Begin::Process(claim) = store.begin("k", [1; 32]) else { panic!("expected Process") };
        claim.finish(ok("first"));
        let Begin::Replay(r) = store.begin("k", [1; 32]) else { panic!("expected Replay") };
        assert_eq!(r, ok("first"));
    }

    #[test]
    fn the_same_key_with_another_body_is_a_mismatch() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("k", [1; 32]) else { panic!() };
        assert!(matches!(store.begin("k", [2; 32]), Begin::Mismatch));
        claim.finish(ok("first"));
        assert!(matches!(store.begin("k", [2; 32]), Begin::Mismatch));
    }

    #[tokio::test]
    async fn a_retry_in_flight_waits_for_the_first_answer() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("k", [1; 32]) else { panic!() };
        let Begin::Wait(mut rx) = store.begin("k", [1; 32]) else { panic!("expected Wait") };
        claim.finish(ok("first"));
        let got = rx.wait_for(Option::is_some).await.unwrap().clone();
        assert_eq!(got, Some(ok("first")));
    }

    #[test]
    fn a_server_error_is_not_kept() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("k", [1; 32]) else { panic!() };
        claim.finish(StoredResponse { status: StatusCode::SERVICE_UNAVAILABLE, body: vec![] });
        assert!(matches!(store.begin("k", [1; 32]), Begin::Process(_)));
    }

    /// The answer to `Unavailable` (503 with Retry-After) is checked in
    /// `routes::ingest`, which owns the refusals.
    #[test]
    fn a_poisoned_lock_is_unavailable_not_a_key_mismatch() {
        let store = IdempotencyStore::default();
        let entries = store.entries.clone();
        let _ = std::thread::spawn(move || {
            let _guard = entries.lock().unwrap();
            panic!("poison the idempotency lock");
        })
        .join();
        assert!(store.entries.is_poisoned());
        let Begin::Unavailable = store.begin("k", [1; 32]) else { panic!("expected Unavailable, not Mismatch") };
    }

    #[test]
    fn a_dropped_claim_releases_the_key() {
        let store = IdempotencyStore::default();
        let Begin::Process(claim) = store.begin("k", [1; 32]) else { panic!() };
        drop(claim);
        assert!(store.entries.lock().unwrap().is_empty());
        assert!(matches!(store.begin("k", [1; 32]), Begin::Process(_)));
    }
}
