#![allow(clippy::unwrap_used)]
//! Integration tests: the service on port 0 against a real localbase
//! (PostgREST over a real PostgreSQL), a fresh database per test.

mod auth;
mod batching;
mod bodies;
mod fuzz_auth;
mod fuzz_body;
mod fuzz_openapi;
mod helpers;
mod hostile;
mod imports;
mod idempotency;
mod normalization;
mod operations;
mod resilience;
mod sources_fuzz;
mod sources_google_ads;
mod sources_helpers;
mod sources_meta;
mod sources_whatsapp;
mod upstream;
