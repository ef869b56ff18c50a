//! Assignment engine: the Supabase migrations and their RPCs, tested against
//! real PostgreSQL. Each test gets a fresh bootstrapped and migrated database
//! (`pgcluster::testing::TestDatabase`), on a throwaway cluster or on
//! `DATABASE_URL`.

mod report_support;
mod support;

#[path = "01_routing.rs"]
mod routing;
#[path = "02_duplicates.rs"]
mod duplicates;
#[path = "03_limits_overflow.rs"]
mod limits_overflow;
#[path = "04_backlog_sla.rs"]
mod backlog_sla;
#[path = "05_rls.rs"]
mod rls;
#[path = "06_concurrency.rs"]
mod concurrency;
#[path = "07_supabase_cli.rs"]
mod supabase_cli;
#[path = "08_caller_logins.rs"]
mod caller_logins;
#[path = "09_batch_equivalence.rs"]
mod batch_equivalence;
#[path = "10_clock_after_the_lock.rs"]
mod clock_after_the_lock;
#[path = "11_security.rs"]
mod security;
#[path = "12_privileges.rs"]
mod privileges;
#[path = "13_access_matrix.rs"]
mod access_matrix;
#[path = "14_edge_cases.rs"]
mod edge_cases;
#[path = "15_durable_deliveries.rs"]
mod durable_deliveries;
#[path = "16_pg_cron.rs"]
mod pg_cron;
#[path = "17_reports.rs"]
mod reports;
#[path = "21_report_rollup.rs"]
mod report_rollup;
#[path = "20_caller_queue.rs"]
mod caller_queue;
#[path = "19_imports.rs"]
mod imports;
#[path = "18_settings_audit.rs"]
mod settings_audit;
#[path = "22_reference_checks.rs"]
mod reference_checks;
#[path = "23_lead_search.rs"]
mod lead_search;
#[path = "24_reads_at_a_million.rs"]
mod reads_at_a_million;
#[path = "25_report_weeks.rs"]
mod report_weeks;
#[path = "26_report_hours.rs"]
mod report_hours;
#[path = "27_search_pending_lists.rs"]
mod search_pending_lists;
#[path = "28_lead_name_dictionary.rs"]
mod lead_name_dictionary;
