//! When the slot streams: only while someone subscribes to `postgres_changes`,
//! and for a while after the last one leaves, as Supabase's Realtime connects
//! to the database and streams a slot only while a tenant has subscribers.
//!
//! Decoding is not free: under the ingest benchmark's write load the
//! walsender decoding every change took about 0.3 of a core on a 2-core
//! machine, whether anyone listened or not (docs/benchmarks.md, issue 14).
//!
//! The promise a join makes is kept: its reply is sent only once a slot is
//! streaming, so every change committed after the reply is delivered. The
//! join's renewal of the demand and the poller's decision to stop are taken
//! under one lock, so a join either sees the stream running and keeps it
//! running, or waits for a new one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

/// How long the stream outlives its last subscriber (a page reload or a
/// reconnect within this keeps the same slot).
pub const DEFAULT_IDLE_STOP: Duration = Duration::from_secs(10);

/// The longest a join waits for a new slot to stream.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

struct State {
    streaming: bool,
    /// When a join last asked, or the poller last saw a subscriber.
    last_wanted: Option<Instant>,
}

pub struct Demand {
    state: Mutex<State>,
    /// Wakes the idle poller when a join asks.
    wake: Notify,
    /// Whether a slot streams, for joins waiting on one.
    streaming: watch::Sender<bool>,
    idle_stop: Duration,
}

impl Demand {
    pub fn new(idle_stop: Duration) -> Demand {
        Demand {
            state: Mutex::new(State { streaming: false, last_wanted: None }),
            wake: Notify::new(),
            streaming: watch::Sender::new(false),
            idle_stop,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// For a join: asks for the stream and returns once a slot streams, or
    /// an error after [`START_TIMEOUT`]. The demand is renewed as it
    /// returns, so the stream outlasts the join's registration by the idle
    /// period.
    pub async fn wait_streaming(&self) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let mut streaming = self.streaming.subscribe();
        loop {
            {
                let mut state = self.lock();
                state.last_wanted = Some(Instant::now());
                if state.streaming {
                    return Ok(());
                }
            }
            self.wake.notify_one();
            // Woken when a stream starts; the loop then checks under the
            // lock, since it may have stopped again before this task ran.
            let woken = tokio::time::timeout_at(deadline, streaming.wait_for(|on| *on)).await.is_ok_and(|r| r.is_ok());
            if !woken {
                return Err("Realtime could not start streaming changes from the database; try again".to_owned());
            }
        }
    }

    /// For the poller: whether a stream is wanted now.
    pub fn wanted(&self, subscribers: usize) -> bool {
        subscribers > 0 || self.lock().last_wanted.is_some_and(|at| at.elapsed() < self.idle_stop)
    }

    /// For the idle poller: returns when a join asks (at once if one asked
    /// since the last call).
    pub async fn asked(&self) {
        self.wake.notified().await;
    }

    /// For the poller, once its slot streams. A new stream counts as wanted
    /// for the idle period, so the joins waiting for it can register.
    pub fn started(&self) {
        let mut state = self.lock();
        state.streaming = true;
        state.last_wanted = Some(Instant::now());
        self.streaming.send_replace(true);
    }

    /// For the poller, when its slot failed: joins wait for the next one.
    pub fn stopped(&self) {
        self.lock().streaming = false;
        self.streaming.send_replace(false);
    }

    /// For the streaming poller: marks the stream stopped and returns true if
    /// nobody has wanted it for the idle period; the caller then closes the
    /// slot. With subscribers, renews the demand instead.
    pub fn stop_if_unwanted(&self, subscribers: usize) -> bool {
        let mut state = self.lock();
        if subscribers > 0 {
            state.last_wanted = Some(Instant::now());
            return false;
        }
        if state.last_wanted.is_some_and(|at| at.elapsed() < self.idle_stop) {
            return false;
        }
        state.streaming = false;
        self.streaming.send_replace(false);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_join_that_finds_the_stream_running_keeps_it_from_stopping() {
        let demand = Demand::new(Duration::from_millis(50));
        demand.started();
        tokio::time::sleep(Duration::from_millis(60)).await;
        demand.wait_streaming().await.unwrap();
        assert!(!demand.stop_if_unwanted(0), "just asked for");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(demand.stop_if_unwanted(0), "nobody asked for the idle period");
        assert!(!demand.wanted(0));
    }

    #[tokio::test]
    async fn a_join_waits_for_a_stream_that_is_not_running_and_wakes_the_poller() {
        let demand = std::sync::Arc::new(Demand::new(Duration::from_millis(50)));
        let join = tokio::spawn({
            let demand = demand.clone();
            async move { demand.wait_streaming().await }
        });
        tokio::time::timeout(Duration::from_secs(5), demand.asked()).await.expect("the poller is woken");
        assert!(demand.wanted(0));
        assert!(!join.is_finished(), "the join waits until a slot streams");
        demand.started();
        tokio::time::timeout(Duration::from_secs(5), join).await.expect("the join goes on").unwrap().unwrap();
    }

    #[tokio::test]
    async fn subscribers_keep_the_stream_and_a_failed_slot_makes_joins_wait() {
        let demand = Demand::new(Duration::from_millis(10));
        demand.started();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!demand.stop_if_unwanted(1));
        assert!(demand.wanted(1));
        demand.stopped();
        let waited = tokio::time::timeout(Duration::from_millis(100), demand.wait_streaming()).await;
        assert!(waited.is_err(), "no slot streams, so the join is still waiting");
    }
}
