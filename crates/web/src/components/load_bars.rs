//! Each caller's leads today against their daily limit.

use leptos::prelude::*;

use crate::stats::{load_fill, CallerLoad};

#[component]
pub fn LoadBars(loads: Vec<CallerLoad>) -> impl IntoView {
    if loads.is_empty() {
        return view! { <p class="empty">"No callers yet. Add callers to see their load."</p> }.into_any();
    }
    view! {
        <ul class="load-bars">
            {loads
                .into_iter()
                .map(|load| {
                    let (fill, full) = load_fill(load.assigned_today, load.daily_lead_limit);
                    let state = if !load.active {
                        " · inactive"
                    } else if load.paused {
                        " · paused"
                    } else {
                        ""
                    };
                    view! {
                        <li class="load" class:muted=!load.active || load.paused data-testid="load-bar" data-caller=load.caller_id>
                            <div class="load-head">
                                <span class="load-name">{load.name.clone()}{state}</span>
                                <span class="load-count">{format!("{} / {}", load.assigned_today, load.daily_lead_limit)}</span>
                            </div>
                            <div
                                class="bar"
                                role="meter"
                                aria-label=format!("{} leads today", load.name)
                                aria-valuemin="0"
                                aria-valuemax=load.daily_lead_limit.to_string()
                                aria-valuenow=load.assigned_today.to_string()
                            >
                                <div class="bar-fill" class:full=full style:width=format!("{fill:.1}%")></div>
                            </div>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
