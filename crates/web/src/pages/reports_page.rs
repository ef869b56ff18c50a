//! Reports (admin): per-caller conversion, the team's funnel, leads and
//! conversions per day and breakdowns by state and source, over a range of
//! local days in the team's time zone. Everything is aggregated by the
//! `report()` RPC; this page only lays it out.

use leptos::prelude::*;

use crate::components::breakdown_table::BreakdownTable;
use crate::components::caller_report_table::CallerReportTable;
use crate::components::daily_chart::DailyChart;
use crate::components::error_message::ErrorMessage;
use crate::components::range_picker::RangePicker;
use crate::components::report_funnel::ReportFunnel;
use crate::context::use_api;
use crate::report::{RangeChoice, Report};

#[component]
pub fn ReportsPage() -> impl IntoView {
    let api = use_api();
    let choice = RwSignal::new(RangeChoice::Days7);
    let report = LocalResource::new(move || {
        let range = choice.get();
        async move { api.report(&range).await }
    });
    let loaded = move || report.get().and_then(Result::ok);
    let section = move |title: &'static str, id: &'static str, body: fn(Report) -> AnyView| {
        view! {
            <section class="card" aria-labelledby=id>
                <h2 id=id>{title}</h2>
                {move || match report.get() {
                    None => view! { <p class="loading" role="status">"Loading…"</p> }.into_any(),
                    Some(Err(_)) => view! { <p class="muted">"Unavailable right now."</p> }.into_any(),
                    Some(Ok(r)) => body(r),
                }}
            </section>
        }
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"Reports"</h1>
                <span class="muted" data-testid="report-range">{move || loaded().map(|r| r.range.label()).unwrap_or_default()}</span>
            </div>
            <RangePicker choice=choice/>
        </div>
        {move || report.get().and_then(Result::err).map(|message| view! {
            <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| report.refetch())/>
        })}
        <div class="reports-grid">
            {section("Funnel", "funnel-title", |r| view! { <ReportFunnel funnel=r.funnel/> }.into_any())}
            {section("Leads and conversions per day", "daily-title", |r| view! { <DailyChart days=r.per_day/> }.into_any())}
            <div class="reports-wide">
                {section("Per caller", "callers-title", |r| view! { <CallerReportTable callers=r.per_caller/> }.into_any())}
            </div>
            {section("By state", "state-title", |r| {
                view! { <BreakdownTable heading="State" rows=r.by_state testid="by-state"/> }.into_any()
            })}
            {section("By source", "source-title", |r| {
                view! { <BreakdownTable heading="Source" rows=r.by_source testid="by-source"/> }.into_any()
            })}
        </div>
        <p class="small muted report-notes">
            "Received, contacted, qualified, converted and lost follow the leads created in the range, up to now, "
            "counted for the caller who holds each lead. Conversions per day count the day a lead converted. "
            "Lost to SLA and overflow count the range's reassignments and overflow assignments."
        </p>
    }
}
