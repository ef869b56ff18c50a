//! Dashboard arithmetic: today's figures, leads per hour and the chart's geometry.

use serde::Deserialize;

use crate::display;

/// One caller's load today (`dashboard_today().per_caller`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CallerLoad {
    pub caller_id: i64,
    pub name: String,
    pub active: bool,
    pub paused: bool,
    pub assigned_today: i32,
    pub daily_lead_limit: i32,
    pub weight: i32,
}

/// Leads created in one local hour (`dashboard_today().leads_per_hour`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HourCount {
    pub hour: u32,
    pub leads: u32,
}

/// Today's figures, as `dashboard_today()` returns them (see its SQL comment).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DashboardToday {
    /// Local `YYYY-MM-DD`.
    pub day: String,
    pub time_zone: String,
    pub received: u64,
    pub assigned: u64,
    pub duplicates: u64,
    pub overflow: u64,
    /// The backlog now.
    pub unassigned: u64,
    pub converted: u64,
    /// Converted over received, 0–1; `None` when nothing was received.
    pub conversion_rate: Option<f64>,
    pub per_caller: Vec<CallerLoad>,
    pub leads_per_hour: Vec<HourCount>,
}

impl DashboardToday {
    /// Leads per local hour, 0–23; out-of-range hours are ignored.
    pub fn hourly(&self) -> [u32; 24] {
        let mut counts = [0u32; 24];
        for entry in &self.leads_per_hour {
            if let Some(slot) = counts.get_mut(entry.hour as usize) {
                *slot = slot.saturating_add(entry.leads);
            }
        }
        counts
    }

    /// The conversion rate as text (`12.5%`, or `–`).
    pub fn conversion_rate_text(&self) -> String {
        match self.conversion_rate {
            Some(rate) if rate.is_finite() && rate >= 0.0 => display::percent((rate * 10_000.0).round() as u64, 10_000),
            _ => "–".to_owned(),
        }
    }
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

/// One caller's conversion today (`caller_conversion_today()`: the leads
/// created today that the caller holds, and those of them converted; the
/// per-caller figures of `report('today')`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallerConversion {
    pub caller_id: i64,
    pub received: u64,
    pub converted: u64,
}

impl CallerConversion {
    /// Reads `caller_conversion_today()`'s list; entries without a caller id are skipped.
    pub fn read_all(value: &serde_json::Value) -> Vec<CallerConversion> {
        let count = |entry: &serde_json::Value, key: &str| entry.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0);
        value
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| {
                        Some(CallerConversion {
                            caller_id: e.get("caller_id")?.as_i64()?,
                            received: count(e, "received"),
                            converted: count(e, "converted"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `25% converted (1 of 4)`, or `none received today`.
    pub fn text(&self) -> String {
        if self.received == 0 {
            return "none received today".to_owned();
        }
        format!("{} converted ({} of {})", display::percent(self.converted, self.received), self.converted, self.received)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboard_rpc_result_decodes_and_fills_24_hours() {
        let value = serde_json::json!({
            "day": "2026-11-26", "time_zone": "Asia/Kolkata", "received": 8, "assigned": 7,
            "duplicates": 1, "overflow": 0, "unassigned": 1, "converted": 1, "conversion_rate": 0.125,
            "per_caller": [{"caller_id": 1, "name": "Ravi", "active": true, "paused": false,
                            "assigned_today": 3, "daily_lead_limit": 10, "weight": 1}],
            "leads_per_hour": [{"hour": 0, "leads": 5}, {"hour": 23, "leads": 3}, {"hour": 99, "leads": 4}]
        });
        let today: DashboardToday = serde_json::from_value(value).unwrap();
        let hourly = today.hourly();
        assert_eq!((hourly[0], hourly[23], hourly.iter().sum::<u32>()), (5, 3, 8));
        assert_eq!(today.per_caller[0].assigned_today, 3);
        assert_eq!(today.conversion_rate_text(), "12.5%");
    }

    #[test]
    fn no_leads_today_shows_a_dash_for_the_conversion_rate() {
        let today: DashboardToday = serde_json::from_value(serde_json::json!({"conversion_rate": null})).unwrap();
        assert_eq!(today.conversion_rate_text(), "–");
        assert_eq!(today.hourly(), [0; 24]);
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
    fn each_callers_conversion_today_reads_as_a_share_of_its_leads() {
        let value = serde_json::json!([
            {"caller_id": 1, "received": 4, "converted": 1, "conversion_rate": 0.25},
            {"caller_id": 2, "received": 0, "converted": 0, "conversion_rate": null},
            {"received": 9}
        ]);
        let all = CallerConversion::read_all(&value);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].text(), "25% converted (1 of 4)");
        assert_eq!(all[1].text(), "none received today");
        assert_eq!(CallerConversion::read_all(&serde_json::json!({"error": "x"})), vec![]);
    }

    #[test]
    fn load_bars_cap_at_full_and_flag_the_limit() {
        assert_eq!(load_fill(5, 10), (50.0, false));
        assert_eq!(load_fill(12, 10), (100.0, true));
        assert_eq!(load_fill(0, 0), (0.0, true));
    }
}
