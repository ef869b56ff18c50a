//! Adaptive micro-batching: concurrent leads share one `ingest_leads` call.
//!
//! A per-lead RPC holds the assignment lock until its commit is flushed, so
//! one lead per transaction tops out at a few hundred leads/s; a batch pays
//! one flush for all its leads. When no batch is at the database, a lead is
//! sent at once (with whatever is already queued behind it), so a lone lead
//! on a quiet service never waits for the window; a batch of one goes as
//! `ingest_lead`, which is cheaper than a batch call. Only while the
//! database is busy does the batcher gather: for at most `window` (or until
//! `max` are waiting), and then for as long as [`MAX_IN_FLIGHT`] batches are
//! already in flight. So batches grow with load and shrink back to one lead
//! when it is quiet.
//!
//! Tuning (issue 14, `loadgen` at 256 senders on the 2-core development VM,
//! docs/benchmarks.md): batches there average ~80 leads and form while the
//! two slots are busy, so the window (0, 2 or 10 ms) changed nothing
//! measurable. One slot made batches of ~120 but was ~15% slower: nothing
//! overlaps a batch's HTTP and JSON hops with the other's database work.
//! Three slots (batches of ~60) were ~5% faster, within the noise, with a
//! longer p99 tail: the assignment lock runs one batch at a time, so a third
//! only waits at the database. Two stay. What limits the service there is
//! CPU shared by every process on the two cores, not the batcher: per lead
//! about 0.24 ms inside `ingest_leads`, ~0.19 ms of localbase's Realtime
//! decoding the WAL, and ~0.3 ms in the service, PostgREST and the load
//! tool together.
//!
//! Every lead gets exactly its own result. A batch that fails as a whole
//! fails each of its leads with the same [`RpcError`] (answered 503, safe to
//! retry because delivery is idempotent); nothing is answered as stored
//! unless the RPC returned, i.e. the transaction committed.

use std::sync::Arc;
use std::time::Duration;

use bloc_shared::ingest::{IngestPayload, IngestResult};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::rpc::{Rest, RpcError};

/// Batches at the database at once: one committing, one being sent.
pub const MAX_IN_FLIGHT: usize = 2;

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
    pub fn start(rest: Rest, window: Duration, max: usize, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(max * 16);
        tokio::spawn(run(rx, rest, window, max.max(1), metrics));
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
