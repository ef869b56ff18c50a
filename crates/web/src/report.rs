//! Reports: the range a manager picks, the figures `report()` returns (read
//! by hand from JSON, without serde derives, to keep the bundle small) and
//! the per-day chart's geometry. The definitions of every figure are in the
//! RPC's SQL comment (supabase/migrations/20261130001900_reports.sql).

use serde_json::{json, Value};

use crate::display;
use crate::stats::nice_max;

/// The range a report covers, as the manager picked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeChoice {
    Today,
    Days7,
    Days30,
    /// Local dates `YYYY-MM-DD`, both included.
    Custom { from: String, to: String },
}

impl RangeChoice {
    /// The RPC's named arguments.
    pub fn to_args(&self) -> Value {
        match self {
            RangeChoice::Today => json!({"preset": "today"}),
            RangeChoice::Days7 => json!({"preset": "7d"}),
            RangeChoice::Days30 => json!({"preset": "30d"}),
            RangeChoice::Custom { from, to } => json!({"preset": "custom", "from_day": from, "to_day": to}),
        }
    }

    /// A custom range from the two date inputs, or why it cannot be asked
    /// for (the server checks the same and more).
    pub fn custom(from: &str, to: &str) -> Result<RangeChoice, &'static str> {
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() {
            return Err("Pick both a first and a last day.");
        }
        // ISO dates compare as text.
        if to < from {
            return Err("The last day is before the first day.");
        }
        Ok(RangeChoice::Custom { from: from.to_owned(), to: to.to_owned() })
    }
}

/// The range the server used (`report().range`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportRange {
    pub from: String,
    pub to: String,
    pub days: u64,
    pub time_zone: String,
}

impl ReportRange {
    /// `2026-11-24 – 2026-11-30 · 7 days · Asia/Kolkata`.
    pub fn label(&self) -> String {
        let days = if self.days == 1 { "1 day".to_owned() } else { format!("{} days", self.days) };
        if self.from == self.to {
            format!("{} · {days} · {}", self.from, self.time_zone)
        } else {
            format!("{} – {} · {days} · {}", self.from, self.to, self.time_zone)
        }
    }
}

/// The team's funnel over the leads of the range.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Funnel {
    pub received: u64,
    pub assigned: u64,
    pub contacted: u64,
    pub qualified: u64,
    pub converted: u64,
    pub lost: u64,
    pub unassigned: u64,
    pub conversion_rate: Option<f64>,
}

/// One caller's row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallerFigures {
    pub caller_id: i64,
    pub name: String,
    pub active: bool,
    pub received: u64,
    pub contacted: u64,
    pub qualified: u64,
    pub converted: u64,
    pub lost: u64,
    pub conversion_rate: Option<f64>,
    pub median_first_contact_seconds: Option<u64>,
    pub lost_to_sla: u64,
    pub overflow_received: u64,
}

/// One local day: leads created, conversions made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayFigures {
    pub day: String,
    pub leads: u64,
    pub converted: u64,
}

/// One state or source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Breakdown {
    /// `None` for leads without a state or source.
    pub key: Option<String>,
    pub received: u64,
    pub converted: u64,
    pub conversion_rate: Option<f64>,
}

/// Everything `report()` returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub range: ReportRange,
    pub funnel: Funnel,
    pub per_caller: Vec<CallerFigures>,
    pub per_day: Vec<DayFigures>,
    pub by_state: Vec<Breakdown>,
    pub by_source: Vec<Breakdown>,
}

fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn rate(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64).filter(|r| r.is_finite() && *r >= 0.0)
}

fn list<T>(v: &Value, key: &str, read: fn(&Value) -> T) -> Vec<T> {
    v.get(key).and_then(Value::as_array).map(|items| items.iter().map(read).collect()).unwrap_or_default()
}

fn breakdown(v: &Value) -> Breakdown {
    Breakdown {
        key: v.get("key").and_then(Value::as_str).map(str::to_owned),
        received: count(v, "received"),
        converted: count(v, "converted"),
        conversion_rate: rate(v, "conversion_rate"),
    }
}

impl Report {
    /// Reads `report()`'s JSON; `None` when it has no range (not a report).
    pub fn read(v: &Value) -> Option<Report> {
        let range = v.get("range")?;
        let funnel = v.get("funnel").unwrap_or(&Value::Null);
        Some(Report {
            range: ReportRange {
                from: text(range, "from"),
                to: text(range, "to"),
                days: count(range, "days"),
                time_zone: text(range, "time_zone"),
            },
            funnel: Funnel {
                received: count(funnel, "received"),
                assigned: count(funnel, "assigned"),
                contacted: count(funnel, "contacted"),
                qualified: count(funnel, "qualified"),
                converted: count(funnel, "converted"),
                lost: count(funnel, "lost"),
                unassigned: count(funnel, "unassigned"),
                conversion_rate: rate(funnel, "conversion_rate"),
            },
            per_caller: list(v, "per_caller", |c| CallerFigures {
                caller_id: c.get("caller_id").and_then(Value::as_i64).unwrap_or(0),
                name: text(c, "name"),
                active: c.get("active").and_then(Value::as_bool).unwrap_or(true),
                received: count(c, "received"),
                contacted: count(c, "contacted"),
                qualified: count(c, "qualified"),
                converted: count(c, "converted"),
                lost: count(c, "lost"),
                conversion_rate: rate(c, "conversion_rate"),
                median_first_contact_seconds: c.get("median_first_contact_seconds").and_then(Value::as_u64),
                lost_to_sla: count(c, "lost_to_sla"),
                overflow_received: count(c, "overflow_received"),
            }),
            per_day: list(v, "per_day", |d| DayFigures {
                day: text(d, "day"),
                leads: count(d, "leads"),
                converted: count(d, "converted"),
            }),
            by_state: list(v, "by_state", breakdown),
            by_source: list(v, "by_source", breakdown),
        })
    }
}

/// One row of a report table: `key` goes in `data-key`, `head` is the
/// row's heading cell, `cells` are `(data-field, text)` in column order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableRow {
    pub key: String,
    pub head: String,
    pub cells: Vec<(&'static str, String)>,
    pub muted: bool,
}

/// The per-caller table's column headings, the row heading first.
pub const CALLER_HEADINGS: &[&str] = &[
    "Caller", "Received", "Contacted", "Qualified", "Converted", "Lost", "Conversion", "First contact", "Lost to SLA", "Overflow",
];

/// The by-state table's column headings.
pub const STATE_HEADINGS: &[&str] = &["State", "Received", "Converted", "Conversion"];

/// The by-source table's column headings.
pub const SOURCE_HEADINGS: &[&str] = &["Source", "Received", "Converted", "Conversion"];

impl CallerFigures {
    /// This caller's row of the per-caller table.
    pub fn row(&self) -> TableRow {
        TableRow {
            key: self.caller_id.to_string(),
            head: if self.active { self.name.clone() } else { format!("{} · inactive", self.name) },
            cells: vec![
                ("received", self.received.to_string()),
                ("contacted", self.contacted.to_string()),
                ("qualified", self.qualified.to_string()),
                ("converted", self.converted.to_string()),
                ("lost", self.lost.to_string()),
                ("conversion", rate_text(self.conversion_rate)),
                ("first-contact", duration_text(self.median_first_contact_seconds)),
                ("lost-to-sla", self.lost_to_sla.to_string()),
                ("overflow", self.overflow_received.to_string()),
            ],
            muted: !self.active,
        }
    }
}

impl Breakdown {
    /// This state's or source's row; "Not given" for leads without one.
    pub fn row(&self) -> TableRow {
        TableRow {
            key: self.key.clone().unwrap_or_default(),
            head: self.key.clone().unwrap_or_else(|| "Not given".to_owned()),
            cells: vec![
                ("received", self.received.to_string()),
                ("converted", self.converted.to_string()),
                ("conversion", rate_text(self.conversion_rate)),
            ],
            muted: false,
        }
    }
}

/// A rate from the server as text (`33.3%`, or `–`).
pub fn rate_text(rate: Option<f64>) -> String {
    match rate {
        Some(r) => display::percent((r * 10_000.0).round() as u64, 10_000),
        None => "–".to_owned(),
    }
}

/// A duration for the time to first contact: `45 s`, `12 min`, `2 h 05 min`, `3 d 4 h`, or `–`.
pub fn duration_text(seconds: Option<u64>) -> String {
    match seconds {
        None => "–".to_owned(),
        Some(s) if s < 60 => format!("{s} s"),
        Some(s) if s < 3_600 => format!("{} min", s / 60),
        Some(s) if s < 86_400 => format!("{} h {:02} min", s / 3_600, s % 3_600 / 60),
        Some(s) => format!("{} d {} h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// One day's pair of bars, in SVG user units: the leads bar and, inside
/// it, the conversions bar.
#[derive(Debug, Clone, PartialEq)]
pub struct DayBar {
    pub x: f64,
    pub width: f64,
    pub leads_y: f64,
    pub leads_height: f64,
    pub converted_y: f64,
    pub converted_height: f64,
}

/// Lays out one pair of bars per day in a `width` × `height` plot area;
/// returns the bars and the axis maximum (a round number, shared by both
/// series so they compare).
pub fn day_bars(days: &[DayFigures], width: f64, height: f64) -> (Vec<DayBar>, u64) {
    let top = days.iter().map(|d| d.leads.max(d.converted)).max().unwrap_or(0);
    let max = u64::from(nice_max(u32::try_from(top).unwrap_or(u32::MAX)));
    let slot = width / days.len().max(1) as f64;
    let scale = |n: u64| height * n as f64 / max as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (lh, ch) = (scale(d.leads), scale(d.converted));
            DayBar {
                x: slot * i as f64 + slot * 0.1,
                width: slot * 0.8,
                leads_y: height - lh,
                leads_height: lh,
                converted_y: height - ch,
                converted_height: ch,
            }
        })
        .collect();
    (bars, max)
}

/// Which days get a date label under the chart: about six, always the
/// first and the last.
pub fn label_every(days: usize) -> usize {
    days.div_ceil(6).max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_every_section() {
        let v = json!({
            "range": {"preset": "7d", "from": "2026-11-24", "to": "2026-11-30", "days": 7, "time_zone": "Asia/Kolkata",
                      "starts": "2026-11-23T18:30:00+00:00", "ends": "2026-11-30T18:30:00+00:00"},
            "funnel": {"received": 9, "assigned": 8, "contacted": 6, "qualified": 4, "converted": 3, "lost": 1,
                       "unassigned": 1, "conversion_rate": 0.3333},
            "per_caller": [{"caller_id": 2, "name": "Asha", "active": false, "received": 8, "contacted": 6, "qualified": 4,
                            "converted": 3, "lost": 1, "conversion_rate": 0.375, "median_first_contact_seconds": 750,
                            "lost_to_sla": 2, "overflow_received": 1}],
            "per_day": [{"day": "2026-11-24", "leads": 4, "converted": 1}],
            "by_state": [{"key": "MH", "received": 5, "converted": 2, "conversion_rate": 0.4}, {"key": null, "received": 1, "converted": 0, "conversion_rate": 0}],
            "by_source": []
        });
        let r = Report::read(&v).unwrap();
        assert_eq!(r.range.label(), "2026-11-24 – 2026-11-30 · 7 days · Asia/Kolkata");
        assert_eq!((r.funnel.received, r.funnel.unassigned, r.funnel.conversion_rate), (9, 1, Some(0.3333)));
        let asha = &r.per_caller[0];
        assert_eq!((asha.caller_id, asha.active, asha.median_first_contact_seconds, asha.lost_to_sla), (2, false, Some(750), 2));
        assert_eq!(r.per_day[0], DayFigures { day: "2026-11-24".into(), leads: 4, converted: 1 });
        assert_eq!((r.by_state[0].key.as_deref(), r.by_state[1].key.as_deref()), (Some("MH"), None));
        assert!(r.by_source.is_empty());
    }

    #[test]
    fn table_rows_carry_each_figure_under_its_field() {
        let caller = CallerFigures {
            caller_id: 7, name: "Ravi".into(), active: false, received: 4, converted: 1, conversion_rate: Some(0.25),
            median_first_contact_seconds: Some(90), ..CallerFigures::default()
        };
        let row = caller.row();
        assert_eq!((row.key.as_str(), row.head.as_str(), row.muted), ("7", "Ravi · inactive", true));
        assert_eq!(row.cells.len(), CALLER_HEADINGS.len() - 1);
        assert_eq!((row.cells[0].1.as_str(), row.cells[5].1.as_str(), row.cells[6].1.as_str()), ("4", "25%", "1 min"));
        let none = Breakdown { key: None, received: 2, converted: 0, conversion_rate: Some(0.0) }.row();
        assert_eq!((none.key.as_str(), none.head.as_str(), none.cells[2].1.as_str()), ("", "Not given", "0%"));
    }

    #[test]
    fn an_answer_without_a_range_is_not_a_report() {
        assert_eq!(Report::read(&json!({"funnel": {}})), None);
    }

    #[test]
    fn one_day_ranges_name_the_day_once() {
        let range = ReportRange { from: "2026-11-30".into(), to: "2026-11-30".into(), days: 1, time_zone: "UTC".into() };
        assert_eq!(range.label(), "2026-11-30 · 1 day · UTC");
    }

    #[test]
    fn presets_and_custom_ranges_become_the_rpc_s_arguments() {
        assert_eq!(RangeChoice::Days30.to_args(), json!({"preset": "30d"}));
        assert_eq!(
            RangeChoice::custom(" 2026-11-01", "2026-11-15").unwrap().to_args(),
            json!({"preset": "custom", "from_day": "2026-11-01", "to_day": "2026-11-15"})
        );
    }

    #[test]
    fn a_custom_range_needs_both_days_in_order() {
        assert_eq!(RangeChoice::custom("", "2026-11-15"), Err("Pick both a first and a last day."));
        assert_eq!(RangeChoice::custom("2026-11-16", "2026-11-15"), Err("The last day is before the first day."));
    }

    #[test]
    fn rates_and_durations_read_as_people_say_them() {
        assert_eq!([rate_text(Some(0.3333)), rate_text(Some(0.5)), rate_text(None)], ["33.3%", "50%", "–"]);
        assert_eq!(
            [None, Some(45), Some(750), Some(7_500), Some(97_200)].map(duration_text),
            ["–", "45 s", "12 min", "2 h 05 min", "1 d 3 h"]
        );
    }

    #[test]
    fn the_busiest_day_fills_the_plot_and_conversions_share_its_scale() {
        let days = [
            DayFigures { day: "a".into(), leads: 10, converted: 5 },
            DayFigures { day: "b".into(), leads: 0, converted: 0 },
        ];
        let (bars, max) = day_bars(&days, 200.0, 100.0);
        assert_eq!(max, 10);
        assert_eq!((bars[0].leads_height, bars[0].leads_y, bars[0].converted_height), (100.0, 0.0, 50.0));
        assert_eq!(bars[1].leads_height, 0.0);
        assert!((bars[1].x - 110.0).abs() < 1e-9 && (bars[1].width - 80.0).abs() < 1e-9);
    }

    #[test]
    fn about_six_days_are_labelled() {
        assert_eq!([1, 7, 30, 366].map(label_every), [1, 2, 5, 61]);
    }
}
