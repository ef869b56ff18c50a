//! A ticking "now" for countdowns and relative times.

use std::time::Duration;

use leptos::prelude::*;

use crate::api::now_ms;

/// A signal holding the current time in Unix milliseconds, updated every `every`.
pub fn use_now(every: Duration) -> ReadSignal<i64> {
    let (now, set_now) = signal(now_ms());
    if let Ok(handle) = set_interval_with_handle(move || set_now.set(now_ms()), every) {
        on_cleanup(move || handle.clear());
    }
    now
}
