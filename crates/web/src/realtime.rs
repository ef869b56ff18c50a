//! Supabase Realtime `postgres_changes` over a Phoenix channel socket.
//!
//! `phoenix` encodes and decodes frames, `backoff` keeps the reconnect and
//! heartbeat bookkeeping; both are plain Rust. `client` (browser only) owns
//! the websocket and is provided to components through context.

pub mod backoff;
pub mod phoenix;

#[cfg(target_arch = "wasm32")]
pub mod client;

/// What the connection indicator shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionState {
    /// Opening the socket for the first time.
    #[default]
    Connecting,
    /// Socket open and every channel joined.
    Live,
    /// The socket dropped; retrying with backoff.
    Reconnecting,
    /// Several retries failed, or the browser reports no network; still retrying.
    Offline,
}

impl ConnectionState {
    /// The indicator's text.
    pub fn label(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Live => "live",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Offline => "offline",
        }
    }
}
