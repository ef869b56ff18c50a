//! Realtime against a real PostgreSQL: raw Phoenix frames (`changes`) and
//! the community Rust client (`client`), sharing the fixture in `support`.

mod changes;
mod client;
mod rls_failures;
mod support;
