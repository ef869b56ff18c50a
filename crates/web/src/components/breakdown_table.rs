//! A report's leads by state or by source: received, converted, rate.

use leptos::prelude::*;

use crate::report::{rate_text, Breakdown};

#[component]
pub fn BreakdownTable(
    /// The column heading: "State" or "Source".
    #[prop(into)]
    heading: String,
    rows: Vec<Breakdown>,
    #[prop(into)] testid: String,
) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"No leads in this range."</p> }.into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="table" data-testid=testid>
                <thead>
                    <tr>
                        <th scope="col">{heading}</th>
                        <th scope="col" class="num">"Received"</th>
                        <th scope="col" class="num">"Converted"</th>
                        <th scope="col" class="num">"Conversion"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|row| {
                            let key = row.key.clone().unwrap_or_default();
                            view! {
                                <tr data-key=key>
                                    <th scope="row">{row.key.unwrap_or_else(|| "Not given".to_owned())}</th>
                                    <td class="num" data-field="received">{row.received.to_string()}</td>
                                    <td class="num" data-field="converted">{row.converted.to_string()}</td>
                                    <td class="num" data-field="conversion">{rate_text(row.conversion_rate)}</td>
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
