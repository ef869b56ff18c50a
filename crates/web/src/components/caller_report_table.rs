//! A report's per-caller table: leads received and what became of them,
//! conversion rate, median time to first contact, SLA misses and overflow.

use leptos::prelude::*;

use crate::report::{duration_text, rate_text, CallerFigures};

#[component]
pub fn CallerReportTable(callers: Vec<CallerFigures>) -> impl IntoView {
    if callers.is_empty() {
        return view! { <p class="empty">"No callers yet."</p> }.into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="table report-table">
                <thead>
                    <tr>
                        <th scope="col">"Caller"</th>
                        <th scope="col" class="num">"Received"</th>
                        <th scope="col" class="num">"Contacted"</th>
                        <th scope="col" class="num">"Qualified"</th>
                        <th scope="col" class="num">"Converted"</th>
                        <th scope="col" class="num">"Lost"</th>
                        <th scope="col" class="num">"Conversion"</th>
                        <th scope="col" class="num" title="Median time from assignment to first contact">"First contact"</th>
                        <th scope="col" class="num" title="Leads taken away on an SLA miss">"Lost to SLA"</th>
                        <th scope="col" class="num" title="Leads received past every daily limit">"Overflow"</th>
                    </tr>
                </thead>
                <tbody>
                    {callers
                        .into_iter()
                        .map(|c| {
                            let cells = [
                                ("received", c.received.to_string()),
                                ("contacted", c.contacted.to_string()),
                                ("qualified", c.qualified.to_string()),
                                ("converted", c.converted.to_string()),
                                ("lost", c.lost.to_string()),
                                ("conversion", rate_text(c.conversion_rate)),
                                ("first-contact", duration_text(c.median_first_contact_seconds)),
                                ("lost-to-sla", c.lost_to_sla.to_string()),
                                ("overflow", c.overflow_received.to_string()),
                            ];
                            view! {
                                <tr class:muted=!c.active data-testid="caller-report-row" data-caller=c.caller_id>
                                    <th scope="row">{c.name}{(!c.active).then_some(" · inactive")}</th>
                                    {cells
                                        .into_iter()
                                        .map(|(field, value)| view! { <td class="num" data-field=field>{value}</td> })
                                        .collect_view()}
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
