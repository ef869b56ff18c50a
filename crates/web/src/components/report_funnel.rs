//! The team's funnel over a report's leads: received, contacted, qualified
//! and converted as bars against received, with lost and unassigned beside.

use leptos::prelude::*;

use crate::display;
use crate::report::{rate_text, Funnel};

#[component]
pub fn ReportFunnel(funnel: Funnel) -> impl IntoView {
    let whole = funnel.received;
    let stages = [
        ("Received", "received", funnel.received),
        ("Contacted", "contacted", funnel.contacted),
        ("Qualified", "qualified", funnel.qualified),
        ("Converted", "converted", funnel.converted),
    ];
    view! {
        <ol class="funnel">
            {stages
                .into_iter()
                .map(|(label, key, n)| {
                    let width = if whole == 0 { 0.0 } else { n as f64 * 100.0 / whole as f64 };
                    view! {
                        <li class="funnel-stage">
                            <div class="load-head">
                                <span>{label}</span>
                                <span class="load-count">
                                    <strong data-testid=format!("funnel-{key}")>{n.to_string()}</strong>
                                    " · "{display::percent(n, whole)}
                                </span>
                            </div>
                            <div class="bar"><div class="bar-fill" style:width=format!("{}%", display::decimal(width))></div></div>
                        </li>
                    }
                })
                .collect_view()}
        </ol>
        <p class="funnel-aside small">
            "Conversion "<strong data-testid="funnel-conversion">{rate_text(funnel.conversion_rate)}</strong>
            " · lost "<strong data-testid="funnel-lost">{funnel.lost.to_string()}</strong>
            " · still unassigned "<strong data-testid="funnel-unassigned">{funnel.unassigned.to_string()}</strong>
        </p>
    }
}
