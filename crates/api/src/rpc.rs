//! The service's only way to the database: PostgREST RPCs with the service key.

use std::time::Duration;

use bloc_shared::ingest::{IngestPayload, IngestResult};
use postgrest::Postgrest;
use serde_json::{json, Value};

use crate::configuration::Settings;

/// PostgREST or the database could not answer usefully. Callers answer 503;
/// delivery is idempotent, so the sender retries safely.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("PostgREST unreachable or timed out: {0}")]
    Unreachable(String),
    #[error("PostgREST answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("PostgREST answered something unexpected: {0}")]
    Unexpected(String),
}

/// A PostgREST client bound to the service key.
#[derive(Clone)]
pub struct Rest {
    client: Postgrest,
    timeout: Duration,
}

impl Rest {
    pub fn new(settings: &Settings) -> Self {
        let key = settings.service_key();
        let client = Postgrest::new(settings.rest_url())
            .insert_header("apikey", key)
            .insert_header("Authorization", format!("Bearer {key}"));
        Rest { client, timeout: settings.rpc_timeout }
    }

    /// `ingest_lead(payload)`: one lead.
    pub async fn ingest_lead(&self, payload: &IngestPayload) -> Result<IngestResult, RpcError> {
        let value = self.call("ingest_lead", &json!({ "payload": payload })).await?;
        serde_json::from_value(value).map_err(|e| RpcError::Unexpected(e.to_string()))
    }

    /// `ingest_leads(payloads)`: one result per payload, in order.
    pub async fn ingest_leads(&self, payloads: &[IngestPayload]) -> Result<Vec<IngestResult>, RpcError> {
        let value = self.call("ingest_leads", &json!({ "payloads": payloads })).await?;
        let results: Vec<IngestResult> =
            serde_json::from_value(value).map_err(|e| RpcError::Unexpected(e.to_string()))?;
        if results.len() != payloads.len() {
            return Err(RpcError::Unexpected(format!(
                "{} results for {} leads",
                results.len(),
                payloads.len()
            )));
        }
        Ok(results)
    }

    /// A no-argument maintenance RPC (`reassign_stale_leads`, `assign_backlog`).
    pub async fn maintenance(&self, function: &str) -> Result<Value, RpcError> {
        self.call(function, &json!({})).await
    }

    /// PostgREST and the database both answer: a one-row read of `settings`.
    pub async fn ping(&self) -> Result<(), RpcError> {
        let response = self
            .client
            .from("settings")
            .select("id")
            .limit(1)
            .build()
            .timeout(self.timeout.min(Duration::from_secs(5)))
            .send()
            .await
            .map_err(|e| RpcError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| RpcError::Unreachable(e.to_string()))?;
        if status != 200 {
            return Err(RpcError::Status { status, body: truncate(body) });
        }
        Ok(())
    }

    async fn call(&self, function: &str, params: &Value) -> Result<Value, RpcError> {
        let response = self
            .client
            .rpc(function, params.to_string())
            .build()
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| RpcError::Unreachable(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| RpcError::Unreachable(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(RpcError::Status { status, body: truncate(String::from_utf8_lossy(&body).into_owned()) });
        }
        serde_json::from_slice(&body).map_err(|e| RpcError::Unexpected(e.to_string()))
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > 500 {
        let mut end = 500;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}
