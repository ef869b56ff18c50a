//! Leads per hour today, as an SVG bar chart.

use leptos::prelude::*;

use crate::display::decimal;
use crate::stats::chart_bars;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 140.0;
const LEFT: f64 = 28.0;
const BOTTOM: f64 = 18.0;

#[component]
pub fn HourlyChart(counts: [u32; 24], current_hour: u32) -> impl IntoView {
    let (bars, max) = chart_bars(&counts, WIDTH - LEFT, HEIGHT - BOTTOM);
    let total: u32 = counts.iter().sum();
    let summary = format!("{total} leads today; busiest hour has {}", counts.iter().max().copied().unwrap_or(0));
    view! {
        <svg
            class="chart"
            viewBox="0 0 480 140"
            role="img"
            aria-label=summary
            data-testid="hourly-chart"
        >
            <line class="axis" x1=decimal(LEFT) y1=decimal(HEIGHT - BOTTOM) x2=decimal(WIDTH) y2=decimal(HEIGHT - BOTTOM)></line>
            <line class="grid" x1=decimal(LEFT) y1="0.5" x2=decimal(WIDTH) y2="0.5"></line>
            <text class="tick" x=decimal(LEFT - 4.0) y="10" text-anchor="end">{max.to_string()}</text>
            <text class="tick" x=decimal(LEFT - 4.0) y=decimal(HEIGHT - BOTTOM) text-anchor="end">"0"</text>
            {bars
                .into_iter()
                .map(|bar| {
                    let label = (bar.hour % 3 == 0).then(|| view! {
                        <text class="tick" x=decimal(LEFT + bar.x + bar.width / 2.0) y=decimal(HEIGHT - 4.0) text-anchor="middle">
                            {format!("{:02}", bar.hour)}
                        </text>
                    });
                    view! {
                        <rect
                            class="bar-rect"
                            class:now=bar.hour == current_hour
                            x=decimal(LEFT + bar.x)
                            y=decimal(bar.y)
                            width=decimal(bar.width)
                            height=decimal(bar.height.max(0.0))
                            rx="2"
                        >
                            <title>{format!("{:02}:00 – {} leads", bar.hour, bar.count)}</title>
                        </rect>
                        {label}
                    }
                })
                .collect_view()}
        </svg>
    }
}
