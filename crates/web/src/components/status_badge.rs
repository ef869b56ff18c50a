//! A lead's status as a coloured badge.

use bloc_shared::records::LeadStatus;
use leptos::prelude::*;

#[component]
pub fn StatusBadge(status: LeadStatus) -> impl IntoView {
    view! { <span class=format!("badge status-{}", status.as_str())>{status.label()}</span> }
}
