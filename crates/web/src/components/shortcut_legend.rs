//! The caller queue's keyboard shortcuts, always visible beside the queue.

use leptos::prelude::*;

use crate::queue::LEGEND;

#[component]
pub fn ShortcutLegend() -> impl IntoView {
    view! {
        <aside class="shortcut-legend" aria-label="Keyboard shortcuts" data-testid="shortcut-legend">
            <span class="muted small">"Keys:"</span>
            {LEGEND.iter().map(|(keys, what)| view! {
                <span class="shortcut"><kbd>{*keys}</kbd>" "{*what}</span>
            }).collect_view()}
        </aside>
    }
}
