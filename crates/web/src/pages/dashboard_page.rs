//! The admin dashboard: today's figures, caller loads, leads per hour and the live feed.

use std::time::Duration;

use leptos::prelude::*;

use crate::components::error_message::ErrorMessage;
use crate::components::figure_card::FigureCard;
use crate::components::hourly_chart::HourlyChart;
use crate::components::live_feed::LiveFeed;
use crate::components::load_bars::LoadBars;
use crate::context::{use_api, use_now, use_realtime, use_team, use_team_clock, Fetch};
use crate::stats::DashboardToday;
use crate::time;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let api = use_api();
    let realtime = use_realtime();
    let team = use_team();
    let clock = use_team_clock();
    let now = use_now(Duration::from_secs(60));
    let today = Fetch::new(move || {
        realtime.leads_version.track();
        realtime.callers_version.track();
        realtime.logs_version.track();
        realtime.resyncs.track();
        // A new local day (the server's, see TeamClock) starts the figures again.
        clock.day.track();
        async move { api.dashboard_today().await }
    });
    let callers = Fetch::new(move || {
        realtime.callers_version.track();
        realtime.resyncs.track();
        async move { api.callers().await }
    });
    // Each caller's conversion today beside its load bar; refreshed on lead
    // changes and every minute (which also crosses the local midnight).
    let conversions = Fetch::new(move || {
        realtime.leads_version.track();
        realtime.resyncs.track();
        now.track();
        async move { api.caller_conversion_today().await }
    });
    let conversion_list = Signal::derive(move || conversions.get().and_then(Result::ok).unwrap_or_default());
    let caller_list = Signal::derive(move || callers.get().and_then(Result::ok).unwrap_or_default());
    let figure = move |pick: fn(&DashboardToday) -> String| {
        Signal::derive(move || today.get().and_then(Result::ok).map(|t| pick(&t)).unwrap_or_else(|| "…".to_owned()))
    };

    view! {
        <div class="page-head">
            <h1>"Today"</h1>
            <span class="muted">{move || today.get().and_then(Result::ok).map(|t| format!("{} · {}", t.day, t.time_zone)).unwrap_or_default()}</span>
        </div>
        {move || today.get().and_then(Result::err).map(|message| view! {
            <ErrorMessage message=message.to_string() on_retry=Callback::new(move |_| today.refetch())/>
        })}
        <section class="figures" aria-label="Today's figures">
            <FigureCard label="Received" value=figure(|t| t.received.to_string()) hint="Leads created today" testid="figure-received"/>
            <FigureCard label="Assigned" value=figure(|t| t.assigned.to_string()) hint="Assignments made today" testid="figure-assigned"/>
            <FigureCard label="Duplicates" value=figure(|t| t.duplicates.to_string()) hint="Leads re-sent today" testid="figure-duplicates"/>
            <FigureCard label="Overflow" value=figure(|t| t.overflow.to_string()) hint="Assigned past every limit" testid="figure-overflow"/>
            <FigureCard label="Unassigned" value=figure(|t| t.unassigned.to_string()) hint="Waiting for a caller now" testid="figure-unassigned"/>
            <FigureCard label="Conversion" value=figure(|t| t.conversion_rate_text()) hint="Converted today ÷ received" testid="figure-conversion"/>
        </section>
        <div class="dashboard-grid">
            <section class="card" aria-labelledby="loads-title">
                <h2 id="loads-title">"Caller load today"</h2>
                {move || match today.get() {
                    None => view! { <p class="loading" role="status">"Loading caller loads…"</p> }.into_any(),
                    Some(Err(_)) => view! { <p class="muted">"Caller loads are unavailable right now."</p> }.into_any(),
                    Some(Ok(t)) => view! { <LoadBars loads=t.per_caller conversions=conversion_list/> }.into_any(),
                }}
            </section>
            <section class="card" aria-labelledby="hourly-title">
                <h2 id="hourly-title">"Leads per hour"</h2>
                {move || match today.get() {
                    None => view! { <p class="loading" role="status">"Loading the chart…"</p> }.into_any(),
                    Some(Err(_)) => view! { <p class="muted">"The chart is unavailable right now."</p> }.into_any(),
                    Some(Ok(t)) => {
                        let hour = time::local_hour(now.get_untracked(), team.offset_minutes);
                        view! { <HourlyChart counts=t.hourly() current_hour=hour/> }.into_any()
                    }
                }}
            </section>
            <section class="card feed-card" aria-labelledby="feed-title">
                <h2 id="feed-title">"Live feed"</h2>
                <LiveFeed callers=caller_list/>
            </section>
        </div>
    }
}
