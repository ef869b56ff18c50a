//! The ingest service: authenticated webhook → normalized lead → Supabase RPC,
//! idempotent, with adaptive micro-batching. See docs/ingest.md.

pub mod auth;
pub mod batching;
pub mod body;
pub mod client_addr;
pub mod configuration;
pub mod cors;
pub mod error;
pub mod idempotency;
pub mod maintenance;
pub mod metrics;
pub mod rate_limit;
pub mod readiness;
pub mod routes;
pub mod rpc;
pub mod source_settings;
pub mod sources;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;

pub use configuration::Settings;
pub use startup::Application;
