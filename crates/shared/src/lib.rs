//! Domain types and normalization shared by the ingest service and the web
//! app, so the two cannot drift. Builds for native and `wasm32`.

pub mod fields;
pub mod ingest;
pub mod languages;
#[cfg(feature = "phone")]
pub mod phone;
pub mod records;
pub mod states;
