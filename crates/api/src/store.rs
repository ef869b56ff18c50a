//! Storing normalized leads: the one way a lead reaches `ingest_lead(s)`,
//! for the webhook route and the native sources alike.
//!
//! A keyed delivery's leads carry a [`DeliveryRef`] each, so the database
//! records their answers in the same transaction as the leads and answers a
//! repeat from that record (`IngestResult::replayed`), on any instance.

use std::sync::Arc;

use bloc_shared::ingest::{DeliveryRef, IngestPayload, IngestResult};
use sha2::{Digest, Sha256};

use crate::auth::to_hex;
use crate::error::IngestError;
use crate::rpc::RpcError;
use crate::state::AppState;

/// Stores `payloads` and returns one result per payload, in order.
///
/// One payload goes through the batcher (when batching is on), so
/// concurrent deliveries share a transaction; several go as one
/// `ingest_leads` call, one transaction. Nothing is answered as stored
/// unless the call returned, i.e. its transaction committed. A failed call
/// is [`IngestError::Unavailable`] (503, safe to retry: a keyed delivery is
/// answered from the database's record if it did commit) or
/// [`IngestError::UpstreamMisconfigured`] (500).
pub async fn ingest_payloads(state: &AppState, payloads: Vec<IngestPayload>) -> Result<Vec<IngestResult>, IngestError> {
    let count = payloads.len();
    let results = match payloads.len() {
        0 => return Ok(Vec::new()),
        1 => {
            let Some(payload) = payloads.into_iter().next() else { return Ok(Vec::new()) };
            match &state.batcher {
                Some(batcher) => batcher.ingest(payload).await.map(|result| vec![result]),
                None => state.rest.ingest_lead(&payload).await.map(|result| vec![result]).map_err(Arc::new),
            }
        }
        _ => {
            state.metrics.observe_batch(count);
            state.rest.ingest_leads(&payloads).await.map_err(Arc::new)
        }
    };
    let results = results.map_err(|error| not_stored(state, count, &error))?;
    if results.len() != count {
        tracing::error!(sent = count, answered = results.len(), "the lead store answered another number of items");
        return Err(IngestError::Unavailable);
    }
    Ok(results)
}

/// The reference of item `item` of a delivery sent by `sender` under `key`,
/// whose body hashes to `body_hash` ([`body_hash`], computed once per
/// delivery, not per item).
pub fn delivery_ref(sender: &str, key: &str, item: u32, body_hash: &str) -> DeliveryRef {
    DeliveryRef { sender: sender.to_owned(), key: key.to_owned(), item, body_hash: body_hash.to_owned() }
}

/// Lowercase hex SHA-256 of a raw body, as `engine.deliveries.body_hash`.
pub fn body_hash(body: &[u8]) -> String {
    to_hex(&Sha256::digest(body))
}

/// Counts and logs `leads` the store did not take, and says what to answer
/// ([`IngestError::from_rpc`]). The error text is already phone-masked
/// (see [`RpcError`]).
fn not_stored(state: &AppState, leads: usize, error: &RpcError) -> IngestError {
    for _ in 0..leads {
        state.metrics.observe_lead("unavailable");
    }
    tracing::info_span!("not_stored", leads).in_scope(|| IngestError::from_rpc(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_hash_is_the_lowercase_hex_sha256_of_the_raw_body() {
        assert_eq!(body_hash(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_delivery_ref_names_sender_key_item_and_body() {
        let reference = delivery_ref("secret-0123456789abcdef", "row-7", 3, &body_hash(b"abc"));
        assert_eq!(reference.sender, "secret-0123456789abcdef");
        assert_eq!(reference.key, "row-7");
        assert_eq!(reference.item, 3);
        assert_eq!(reference.body_hash, body_hash(b"abc"));
    }
}
