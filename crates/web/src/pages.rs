//! One component per screen.

pub mod callers_page;
pub mod dashboard_page;
pub mod import_page;
pub mod leads_page;
pub mod login_page;
pub mod my_leads_page;
pub mod reports_page;
pub mod settings_page;
