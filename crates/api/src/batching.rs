//! Adaptive micro-batching: concurrent leads share one `ingest_leads` call.
//!
//! A per-lead RPC holds the assignment lock until its commit is flushed, so
//! one lead per transaction tops out at a few hundred leads/s; a batch pays
//! one flush for all its leads. When no batch is at the database, a lead is
//! sent at once (with whatever is already queued behind it), so a lone lead
//! on a quiet service never waits for the window; a batch of one goes as
//! `ingest_lead`, which is cheaper than a batch call. Only while the
//! database is busy does the batcher gather. At most `slots` (default
//! [`MAX_IN_FLIGHT`]) batches are at the database: one deciding under the
//! assignment lock, one waiting for it, so the lock never idles between
//! them.
//!
//! When the gathered batch leaves is the [`Dispatch`] policy:
//!
//! - [`Dispatch::Balanced`] (the default): a batch that has a slot keeps
//!   gathering until it holds its share of the senders, that is the most
//!   leads the service has held at once in the last quarter to half second
//!   (at the database, gathering or queued) divided by the slots, or `max`
//!   are waiting, or no other batch is at the database: then it goes at
//!   once, since the lock would otherwise idle while it waited. So the
//!   senders split into `slots` groups of equal size taking turns, and a
//!   lone lead on an idle service goes at once.
//! - [`Dispatch::Settled`] (`BATCH_DISPATCH=settled`, the default before):
//!   the target is as many leads as the batch that answered last (as many
//!   *more*, when that batch's answer is what freed the slot this batch was
//!   waiting for), and on an idle database a batch waits until no lead has
//!   arrived for `window`. Its groups keep whatever sizes they first took
//!   (at 256 senders on the 2-core VM, 197 and 59 recurring): the big
//!   group's senders are still coming back when the small group's turn at
//!   the lock ends, so the lock idles, and the big group's leads wait for
//!   its slowest senders.
//! - [`Dispatch::Eager`] (`BATCH_DISPATCH=eager`, the design before that,
//!   kept for comparison): the batch leaves the moment a slot is free,
//!   after at most `window` from its first lead.
//!
//! Why (issue 14, `loadgen` at 256 senders on the 2-core development VM,
//! docs/benchmarks.md): the assignment lock is busy nearly all the time,
//! and every call holds it for a fixed part plus a part per lead (plus
//! PostgREST's round trips to its commit), so leads per call decide
//! throughput. With eager dispatch the senders settle into three groups of
//! ~80 taking turns (one deciding, one waiting at the lock, one
//! gathering): the batch sent when a slot frees holds the senders who came
//! back before, and those of the batch that just answered arrive a moment
//! too late and wait one more turn. Settled dispatch merges them into two
//! groups, of uneven sizes; balanced dispatch makes the two equal (41
//! alternating rounds: median throughput +5%, median p99 124 → 113 ms,
//! docs/benchmarks.md). One slot (`BATCH_SLOTS=1`) makes one group of up
//! to 256 but leaves the lock idle while the senders come back; it measured
//! no better.
//!
//! Every lead gets exactly its own result. A batch that fails as a whole
//! fails each of its leads with the same [`RpcError`] (answered 503, safe to
//! retry because delivery is idempotent); nothing is answered as stored
//! unless the RPC returned, i.e. the transaction committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bloc_shared::ingest::{IngestPayload, IngestResult};
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::rpc::{Rest, RpcError};

// Defined beside the settings that choose them (a lower layer).
pub use crate::configuration::{Dispatch, Policy, MAX_IN_FLIGHT};

struct Job {
    payload: IngestPayload,
    reply: oneshot::Sender<Result<IngestResult, Arc<RpcError>>>,
}

/// Hands leads to the background batch task.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the batch task on the current Tokio runtime.
    pub fn start(rest: Rest, policy: Policy, metrics: Arc<Metrics>) -> Self {
        let Policy { window, max, dispatch, slots } = policy;
        let (tx, rx) = mpsc::channel(max * 16);
        match dispatch {
            Dispatch::Settled | Dispatch::Balanced => {
                tokio::spawn(run_slotted(rx, rest, window, max.max(1), slots.max(1), dispatch, metrics))
            }
            Dispatch::Eager => tokio::spawn(run(rx, rest, window, max.max(1), metrics)),
        };
        Batcher { tx }
    }

    /// Ingests one lead as part of whatever batch forms around it.
    pub async fn ingest(&self, payload: IngestPayload) -> Result<IngestResult, Arc<RpcError>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job { payload, reply })
            .await
            .map_err(|_| Arc::new(RpcError::Unreachable("the batch task has stopped".into())))?;
        answer
            .await
            .unwrap_or_else(|_| Err(Arc::new(RpcError::Unreachable("the batch task dropped the lead".into()))))
    }
}

/// [`Dispatch::Balanced`] and [`Dispatch::Settled`]: up to `slots` batches
/// at the database; a batch that has a slot waits for its target number of
/// leads, which is where the two differ.
async fn run_slotted(
    mut rx: mpsc::Receiver<Job>,
    rest: Rest,
    window: Duration,
    max: usize,
    slots: usize,
    dispatch: Dispatch,
    metrics: Arc<Metrics>,
) {
    let balanced = dispatch == Dispatch::Balanced;
    let in_flight = Arc::new(Semaphore::new(slots));
    // Signalled each time a batch leaves the database (its slot is free),
    // after its size is written to `last_size` and taken from `at_database`.
    let finished = Arc::new(Notify::new());
    let last_size = Arc::new(AtomicUsize::new(0));
    // Leads in batches at the database: sent and not yet answered.
    let at_database = Arc::new(AtomicUsize::new(0));
    // Balanced: how many leads the service has held at once lately.
    let mut population = Peak::default();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // Whatever is already queued goes along.
        while batch.len() < max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut permit: Option<OwnedSemaphorePermit> = None;
        let mut waited = false;
        // How many leads to wait for once the batch has a slot.
        let mut target = max;
        let mut settled_at = Instant::now();
        loop {
            if balanced {
                // Every sender's lead is somewhere in here except those just
                // answered and not yet back, so the recent peak counts them.
                population.see(at_database.load(Ordering::Acquire) + batch.len() + rx.len(), Instant::now());
                target = population.get().div_ceil(slots).clamp(1, max);
            }
            if permit.is_none() {
                if let Ok(slot) = in_flight.clone().try_acquire_owned() {
                    if !balanced {
                        // A slot freed while we waited: that batch has just
                        // answered, and as many senders may be about to come
                        // back. A slot already free: expect as many as last time.
                        let last = last_size.load(Ordering::Acquire);
                        target = if waited { batch.len() + last } else { last }.clamp(1, max);
                    }
                    settled_at = Instant::now() + window;
                    permit = Some(slot);
                } else {
                    waited = true;
                }
            }
            // With no other batch at the database, the lock would idle while
            // this one waited: balanced dispatch sends it now; settled waits
            // for `window` without an arrival. While another batch is there,
            // only an arrival or its answer can change anything.
            let mut database_idle = false;
            if permit.is_some() {
                database_idle = in_flight.available_permits() + 1 == slots;
                let quiet = balanced || Instant::now() >= settled_at;
                if batch.len() >= target || (database_idle && quiet) {
                    break;
                }
            }
            tokio::select! {
                biased;
                () = finished.notified() => {}
                job = rx.recv(), if batch.len() < max => match job {
                    Some(job) => {
                        batch.push(job);
                        settled_at = settled_at.max(Instant::now() + window);
                    }
                    None => {
                        if permit.is_none() {
                            permit = in_flight.clone().acquire_owned().await.ok();
                        }
                        break;
                    }
                },
                () = tokio::time::sleep_until(settled_at), if database_idle => {}
            }
        }
        let Some(permit) = permit else { return };
        let size = batch.len();
        at_database.fetch_add(size, Ordering::AcqRel);
        let rest = rest.clone();
        let metrics = metrics.clone();
        let finished = finished.clone();
        let last_size = last_size.clone();
        let at_database = at_database.clone();
        tokio::spawn(async move {
            send(&rest, batch, &metrics).await;
            at_database.fetch_sub(size, Ordering::AcqRel);
            last_size.store(size, Ordering::Release);
            drop(permit);
            finished.notify_one();
        });
    }
}

/// The most leads seen in the service at once lately: the larger of this
/// period's peak and the last one's, so it follows the load down within two
/// periods.
struct Peak {
    current: usize,
    previous: usize,
    since: Instant,
}

/// How long one period of [`Peak`] lasts.
const PEAK_PERIOD: Duration = Duration::from_millis(250);

impl Default for Peak {
    fn default() -> Self {
        Peak { current: 0, previous: 0, since: Instant::now() }
    }
}

impl Peak {
    fn see(&mut self, leads: usize, now: Instant) {
        if now >= self.since + PEAK_PERIOD {
            self.previous = self.current;
            self.current = 0;
            self.since = now;
        }
        self.current = self.current.max(leads);
    }

    fn get(&self) -> usize {
        self.current.max(self.previous)
    }
}

/// [`Dispatch::Eager`].
async fn run(mut rx: mpsc::Receiver<Job>, rest: Rest, window: Duration, max: usize, metrics: Arc<Metrics>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // Whatever is already queued goes along.
        while batch.len() < max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Gather only while the database is busy: an idle one gets the lead now.
        if in_flight.available_permits() < MAX_IN_FLIGHT {
            let deadline = Instant::now() + window;
            while batch.len() < max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(job)) => batch.push(job),
                    Ok(None) | Err(_) => break,
                }
            }
        }
        // Keep gathering while the database is busy with earlier batches.
        let permit = loop {
            tokio::select! {
                biased;
                permit = in_flight.clone().acquire_owned() => break permit,
                job = rx.recv(), if batch.len() < max => match job {
                    Some(job) => batch.push(job),
                    None => break in_flight.clone().acquire_owned().await,
                },
            }
        };
        let Ok(permit) = permit else { return };
        let rest = rest.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            send(&rest, batch, &metrics).await;
            drop(permit);
        });
    }
}

async fn send(rest: &Rest, batch: Vec<Job>, metrics: &Metrics) {
    metrics.observe_batch(batch.len());
    let (payloads, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|j| (j.payload, j.reply)).unzip();
    let answers = match payloads.as_slice() {
        // One lead: the per-lead RPC, which skips the batch path's set-up.
        [one] => rest.ingest_lead(one).await.map(|result| vec![result]),
        _ => rest.ingest_leads(&payloads).await,
    };
    match answers {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(error) => {
            tracing::warn!(leads = payloads.len(), %error, "ingest_leads batch failed");
            let error = Arc::new(error);
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recent_peak_counts_a_rise_at_once_and_follows_a_fall_within_two_periods() {
        let mut peak = Peak::default();
        let start = peak.since;
        peak.see(256, start);
        peak.see(100, start);
        assert_eq!(peak.get(), 256);
        peak.see(40, start + PEAK_PERIOD);
        assert_eq!(peak.get(), 256, "the last period's peak still counts");
        peak.see(30, start + PEAK_PERIOD * 2);
        assert_eq!(peak.get(), 40);
        peak.see(300, start + PEAK_PERIOD * 2);
        assert_eq!(peak.get(), 300, "a rise counts at once");
    }
}
