//! Realtime against a real PostgreSQL: raw Phoenix frames (`changes`), the
//! community Rust client (`client`) and the slot streaming on demand
//! (`on_demand`), sharing the fixture in `support`.

mod changes;
mod client;
mod on_demand;
mod rls_failures;
mod support;
