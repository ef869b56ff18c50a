//! Dashboard arithmetic: today's figures, leads per hour and the chart's geometry.

use bloc_shared::records::{Lead, LeadStatus};

use crate::format;

/// Today's figures on the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TodayFigures {
    /// Leads created today.
    pub received: u64,
    /// Of those, leads that went to a caller.
    pub assigned: u64,
    /// Leads that got a duplicate submission today.
    pub duplicates: u64,
    /// Assignments today made by overflow.
    pub overflow: u64,
    /// Leads created today that have no caller.
    pub unassigned: u64,
    /// Leads created today that are converted.
    pub converted: u64,
}

impl TodayFigures {
    /// Counts from today's leads (any columns beyond `caller_id`, `status` are ignored).
    pub fn from_leads(today: &[Lead], duplicates: u64, overflow: u64) -> TodayFigures {
        TodayFigures {
            received: today.len() as u64,
            assigned: today.iter().filter(|l| l.caller_id.is_some()).count() as u64,
            unassigned: today.iter().filter(|l| l.caller_id.is_none()).count() as u64,
            converted: today.iter().filter(|l| l.status == LeadStatus::Converted).count() as u64,
            duplicates,
            overflow,
        }
    }

    /// Converted over received.
    pub fn conversion_rate(&self) -> String {
        format::percent(self.converted, self.received)
    }
}

/// Leads per local hour of the day.
pub fn hourly_counts(today: &[Lead], offset_minutes: i32) -> [u32; 24] {
    let mut counts = [0u32; 24];
    for lead in today {
        if let Some(ms) = format::parse_timestamp(&lead.created_at) {
            let hour = format::local_hour(ms, offset_minutes) as usize;
            counts[hour.min(23)] += 1;
        }
    }
    counts
}

/// A round axis maximum at or above `n` (1, 2, 5, 10, 20, 50 …).
pub fn nice_max(n: u32) -> u32 {
    let mut step = 1u32;
    loop {
        for m in [1, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate >= n.max(1) {
                return candidate;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// One bar of the hourly chart, in SVG user units.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub hour: u32,
    pub count: u32,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// Lays out 24 bars in a `width` × `height` plot area; returns the bars and the axis maximum.
pub fn chart_bars(counts: &[u32; 24], width: f64, height: f64) -> (Vec<Bar>, u32) {
    let max = nice_max(counts.iter().copied().max().unwrap_or(0));
    let slot = width / 24.0;
    let bars = counts
        .iter()
        .enumerate()
        .map(|(hour, &count)| {
            let h = height * f64::from(count) / f64::from(max);
            Bar { hour: hour as u32, count, x: slot * hour as f64 + slot * 0.15, y: height - h, width: slot * 0.7, height: h }
        })
        .collect();
    (bars, max)
}

/// A load bar's fill, 0–100, and whether the caller is at the limit.
pub fn load_fill(assigned: i32, limit: i32) -> (f64, bool) {
    if limit <= 0 {
        return (if assigned > 0 { 100.0 } else { 0.0 }, true);
    }
    ((f64::from(assigned.max(0)) * 100.0 / f64::from(limit)).min(100.0), assigned >= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(created_at: &str, caller_id: Option<i64>, status: LeadStatus) -> Lead {
        Lead { created_at: created_at.into(), caller_id, status, ..Lead::default() }
    }

    #[test]
    fn figures_count_assigned_unassigned_and_converted_leads() {
        let today = [
            lead("2026-11-25T04:00:00Z", Some(1), LeadStatus::New),
            lead("2026-11-25T05:00:00Z", Some(2), LeadStatus::Converted),
            lead("2026-11-25T06:00:00Z", None, LeadStatus::Unassigned),
            lead("2026-11-25T06:30:00Z", Some(2), LeadStatus::Lost),
        ];
        let figures = TodayFigures::from_leads(&today, 3, 1);
        assert_eq!((figures.received, figures.assigned, figures.unassigned, figures.converted), (4, 3, 1, 1));
        assert_eq!((figures.duplicates, figures.overflow), (3, 1));
        assert_eq!(figures.conversion_rate(), "25%");
    }

    #[test]
    fn leads_fall_into_their_local_hour_and_unparseable_times_are_skipped() {
        let today = [
            lead("2026-11-25T04:00:00Z", None, LeadStatus::New),
            lead("2026-11-25T04:29:00Z", None, LeadStatus::New),
            lead("2026-11-25T04:31:00Z", None, LeadStatus::New),
            lead("garbage", None, LeadStatus::New),
        ];
        let counts = hourly_counts(&today, 330);
        assert_eq!((counts[9], counts[10]), (2, 1));
        assert_eq!(counts.iter().sum::<u32>(), 3);
    }

    #[test]
    fn axis_maxima_are_round_numbers() {
        assert_eq!([0, 1, 3, 7, 10, 11, 49, 120].map(nice_max), [1, 1, 5, 10, 10, 20, 50, 200]);
    }

    #[test]
    fn the_tallest_bar_fills_the_plot_at_a_round_maximum() {
        let mut counts = [0u32; 24];
        counts[10] = 10;
        counts[11] = 5;
        let (bars, max) = chart_bars(&counts, 240.0, 100.0);
        assert_eq!(max, 10);
        assert_eq!(bars.len(), 24);
        assert_eq!((bars[10].height, bars[10].y), (100.0, 0.0));
        assert_eq!(bars[11].height, 50.0);
        assert!((bars[10].x - 101.5).abs() < 1e-9);
    }

    #[test]
    fn load_bars_cap_at_full_and_flag_the_limit() {
        assert_eq!(load_fill(5, 10), (50.0, false));
        assert_eq!(load_fill(12, 10), (100.0, true));
        assert_eq!(load_fill(0, 0), (0.0, true));
    }
}
