//! Leads and conversions per local day of a report, as an SVG bar chart in
//! the style of the hourly chart: a light bar per day for the leads created,
//! a dark one inside it for the conversions made that day.

use leptos::prelude::*;

use crate::display::decimal;
use crate::report::{day_bars, label_every, DayFigures};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 32.0;
const BOTTOM: f64 = 18.0;

#[component]
pub fn DailyChart(days: Vec<DayFigures>) -> impl IntoView {
    let (bars, max) = day_bars(&days, WIDTH - LEFT, HEIGHT - BOTTOM);
    let leads: u64 = days.iter().map(|d| d.leads).sum();
    let converted: u64 = days.iter().map(|d| d.converted).sum();
    let summary = format!("{leads} leads and {converted} conversions over {} days", days.len());
    let every = label_every(days.len());
    let last = days.len().saturating_sub(1);
    view! {
        <svg class="chart" viewBox="0 0 640 160" role="img" aria-label=summary data-testid="daily-chart">
            <line class="axis" x1=decimal(LEFT) y1=decimal(HEIGHT - BOTTOM) x2=decimal(WIDTH) y2=decimal(HEIGHT - BOTTOM)></line>
            <line class="grid" x1=decimal(LEFT) y1="0.5" x2=decimal(WIDTH) y2="0.5"></line>
            <text class="tick" x=decimal(LEFT - 4.0) y="10" text-anchor="end">{max.to_string()}</text>
            <text class="tick" x=decimal(LEFT - 4.0) y=decimal(HEIGHT - BOTTOM) text-anchor="end">"0"</text>
            {days
                .iter()
                .zip(bars)
                .enumerate()
                .map(|(i, (day, bar))| {
                    let middle = LEFT + bar.x + bar.width / 2.0;
                    let label = (i % every == 0 || i == last).then(|| view! {
                        <text class="tick" x=decimal(middle) y=decimal(HEIGHT - 4.0) text-anchor="middle">
                            {day.day.get(5..).unwrap_or(&day.day).to_owned()}
                        </text>
                    });
                    view! {
                        <g data-testid="day-bar" data-day=day.day.clone() data-leads=day.leads data-converted=day.converted>
                            <rect class="bar-rect" x=decimal(LEFT + bar.x) y=decimal(bar.leads_y) width=decimal(bar.width) height=decimal(bar.leads_height) rx="1.5"></rect>
                            <rect class="bar-rect converted" x=decimal(LEFT + bar.x) y=decimal(bar.converted_y) width=decimal(bar.width) height=decimal(bar.converted_height) rx="1.5"></rect>
                            <title>{format!("{}: {} leads, {} converted", day.day, day.leads, day.converted)}</title>
                        </g>
                        {label}
                    }
                })
                .collect_view()}
        </svg>
        <p class="chart-legend small muted">
            <span class="swatch leads"></span>"Leads received "
            <span class="swatch converted"></span>"Conversions that day"
        </p>
    }
}
