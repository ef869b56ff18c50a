//! Reusable components, one per file.

pub mod caller_form;
pub mod connection_indicator;
pub mod daily_chart;
pub mod error_message;
pub mod export_button;
pub mod figure_card;
pub mod hourly_chart;
pub mod lead_detail;
pub mod live_feed;
pub mod load_bars;
pub mod pagination;
pub mod queue_alerts;
pub mod queue_card;
pub mod range_picker;
pub mod report_funnel;
pub mod report_table;
pub mod shortcut_legend;
pub mod status_badge;
