//! Bloc CRM dashboard: a client-side Leptos app that talks to Supabase
//! (Auth, PostgREST, Realtime) directly.
//!
//! The modules at the top are plain Rust with native unit tests: time and
//! number formatting, PostgREST query building, the Phoenix frame codec and
//! reconnect bookkeeping, session bookkeeping, form validation and dashboard
//! arithmetic. Everything that touches the DOM, `fetch` or a websocket is
//! compiled only for `wasm32`.

pub mod config;
pub mod csv;
pub mod display;
pub mod error;
pub mod forms;
pub mod lead_import;
pub mod query;
pub mod queue;
pub mod realtime;
pub mod report;
pub mod session;
pub mod stats;
pub mod team_settings;
pub mod time;

#[cfg(target_arch = "wasm32")]
mod alerts;
#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod clock;
#[cfg(target_arch = "wasm32")]
mod components;
#[cfg(target_arch = "wasm32")]
mod context;
#[cfg(target_arch = "wasm32")]
mod download;
#[cfg(target_arch = "wasm32")]
mod pages;

/// Mounts the app on `<body>`; called from `main` in the browser.
#[cfg(target_arch = "wasm32")]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
