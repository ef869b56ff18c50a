//! A report table (per caller, by state, by source): one heading row, then
//! one row per entry with a row heading and figures. Rows are built in
//! `report.rs`; one component serves every table, which keeps the bundle
//! small.

use leptos::prelude::*;

use crate::report::TableRow;

#[component]
pub fn ReportTable(
    /// Column headings, the row heading's first.
    headings: &'static [&'static str],
    rows: Vec<TableRow>,
    testid: &'static str,
) -> impl IntoView {
    let empty = rows.is_empty();
    view! {
        <div class="table-scroll">
            <table class="table report-table" data-testid=testid>
                <thead>
                    <tr>
                        {headings.iter().enumerate().map(|(i, h)| { let num = i > 0; view! { <th scope="col" class:num=num>{*h}</th> } }).collect_view()}
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|row| view! {
                            <tr class:muted=row.muted data-key=row.key>
                                <th scope="row">{row.head}</th>
                                {row.cells
                                    .into_iter()
                                    .map(|(field, value)| view! { <td class="num" data-field=field>{value}</td> })
                                    .collect_view()}
                            </tr>
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        {empty.then(|| view! { <p class="empty">"Nothing in this range."</p> })}
    }
}
