//! Reports (admin): per-caller conversion, the team's funnel, leads and
//! conversions per day and breakdowns by state and source, over a range of
//! local days in the team's time zone. Everything is aggregated by the
//! `report()` RPC; this page only lays it out. The report is rendered in
//! one piece when it arrives (no per-section loading states), which keeps
//! the bundle small.

use leptos::either::Either;
use leptos::prelude::*;

use crate::components::daily_chart::DailyChart;
use crate::components::error_message::ErrorMessage;
use crate::components::range_picker::RangePicker;
use crate::components::report_funnel::ReportFunnel;
use crate::components::report_table::ReportTable;
use crate::context::{use_api, Fetch};
use crate::report::{RangeChoice, Report, CALLER_HEADINGS, SOURCE_HEADINGS, STATE_HEADINGS};

#[component]
pub fn ReportsPage() -> impl IntoView {
    let api = use_api();
    let choice = RwSignal::new(RangeChoice::Days7);
    let report = Fetch::new(move || {
        let range = choice.get();
        async move { api.report(&range).await }
    });
    let range_label = move || report.get().and_then(Result::ok).map(|r| r.range.label()).unwrap_or_default();
    let body = move || match report.get() {
        None => Either::Left(view! { <p class="loading" role="status">"Loading the report…"</p> }),
        Some(Err(message)) => Either::Right(Either::Left(view! {
            <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| report.refetch())/>
        })),
        Some(Ok(r)) => Either::Right(Either::Right(report_view(r))),
    };
    view! {
        <div class="page-head">
            <div>
                <h1>"Reports"</h1>
                <span class="muted" data-testid="report-range">{range_label}</span>
            </div>
            <RangePicker choice=choice/>
        </div>
        {body}
        <p class="small muted report-notes">
            "Received, contacted, qualified, converted and lost follow the leads created in the range, up to now, "
            "counted for the caller who holds each lead. First contact is the median time from assignment to first contact. "
            "Conversions per day count the day a lead converted. Lost to SLA and overflow count the range's SLA "
            "reassignments away from the caller and its assignments past every daily limit."
        </p>
    }
}

fn report_view(r: Report) -> impl IntoView {
    let by_state: Vec<_> = r.by_state.iter().map(|b| b.row()).collect();
    let by_source: Vec<_> = r.by_source.iter().map(|b| b.row()).collect();
    let per_caller: Vec<_> = r.per_caller.iter().map(|c| c.row()).collect();
    view! {
        <div class="reports-grid">
            <section class="card" aria-labelledby="funnel-title">
                <h2 id="funnel-title">"Funnel"</h2>
                <ReportFunnel funnel=r.funnel/>
            </section>
            <section class="card" aria-labelledby="daily-title">
                <h2 id="daily-title">"Leads and conversions per day"</h2>
                <DailyChart days=r.per_day/>
            </section>
            <section class="card reports-wide" aria-labelledby="callers-title">
                <h2 id="callers-title">"Per caller"</h2>
                <ReportTable headings=CALLER_HEADINGS rows=per_caller testid="per-caller"/>
            </section>
            <section class="card" aria-labelledby="state-title">
                <h2 id="state-title">"By state"</h2>
                <ReportTable headings=STATE_HEADINGS rows=by_state testid="by-state"/>
            </section>
            <section class="card" aria-labelledby="source-title">
                <h2 id="source-title">"By source"</h2>
                <ReportTable headings=SOURCE_HEADINGS rows=by_source testid="by-source"/>
            </section>
        </div>
    }
}
