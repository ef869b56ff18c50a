//! The live / reconnecting / offline badge in the top bar.

use leptos::prelude::*;

use crate::context::use_realtime;
use crate::realtime::ConnectionState;

#[component]
pub fn ConnectionIndicator() -> impl IntoView {
    let realtime = use_realtime();
    let state = realtime.state;
    let title = move || match realtime.last_error.get() {
        Some(error) => format!("Live updates: {} ({error})", state.get().label()),
        None => format!("Live updates: {}", state.get().label()),
    };
    view! {
        <span
            class="connection"
            class:live=move || state.get() == ConnectionState::Live
            class:reconnecting=move || matches!(state.get(), ConnectionState::Reconnecting | ConnectionState::Connecting)
            class:offline=move || state.get() == ConnectionState::Offline
            role="status"
            aria-live="polite"
            title=title
            data-testid="connection"
            data-state=move || state.get().label()
        >
            <span class="dot" aria-hidden="true"></span>
            {move || state.get().label()}
        </span>
    }
}
