//! Reusable components, one per file.

pub mod caller_form;
pub mod connection_indicator;
pub mod error_message;
pub mod figure_card;
pub mod hourly_chart;
pub mod lead_detail;
pub mod live_feed;
pub mod load_bars;
pub mod pagination;
pub mod status_badge;
