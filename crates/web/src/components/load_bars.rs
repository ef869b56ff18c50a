//! Each caller's leads today against their daily limit, with the caller's
//! conversion today (the per-caller figures of `report('today')`).

use leptos::prelude::*;

use crate::stats::{load_fill, CallerConversion, CallerLoad};

#[component]
pub fn LoadBars(loads: Vec<CallerLoad>, conversions: Signal<Vec<CallerConversion>>) -> impl IntoView {
    if loads.is_empty() {
        return view! { <p class="empty">"No callers yet. Add callers to see their load."</p> }.into_any();
    }
    view! {
        <ul class="load-bars">
            {loads
                .into_iter()
                .map(|load| {
                    let (fill, full) = load_fill(load.assigned_today, load.daily_lead_limit);
                    let caller_id = load.caller_id;
                    let conversion = move || {
                        conversions.with(|all| all.iter().find(|c| c.caller_id == caller_id).map(CallerConversion::text))
                    };
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
                            <div class="load-conversion muted small" data-testid="load-conversion" title="Today's leads this caller holds that converted">
                                {move || conversion().unwrap_or_default()}
                            </div>
                            <div
                                class="bar"
                                role="meter"
                                aria-label=format!("{} leads today", load.name)
                                aria-valuemin="0"
                                aria-valuemax=load.daily_lead_limit.to_string()
                                aria-valuenow=load.assigned_today.to_string()
                            >
                                <div class="bar-fill" class:full=full style:width=format!("{}%", crate::display::decimal(fill))></div>
                            </div>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
