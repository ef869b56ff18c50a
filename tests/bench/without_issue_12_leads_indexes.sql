-- engine-bench only (never a migration): takes issue 12's indexes off
-- public.leads on a HEAD-migrated schema, leaving the pre-issue five, to
-- measure what those indexes cost every ingested lead (HEAD vs HEAD minus
-- them). The functions that use them (caller_queue, lead_search, the list's
-- filters) still work, only slower; ingest never reads them.
--
-- Copied into a HEAD folder under a name that sorts last
-- (docs/benchmarks.md, "Assignment engine", has the commands).
drop index public.leads_caller_queue_idx;
drop index public.leads_caller_closed_idx;
drop index public.leads_created_at_id_idx;
drop index public.leads_status_created_at_idx;
drop index public.leads_state_created_at_idx;
drop index public.leads_source_created_at_idx;
drop index public.leads_caller_id_created_at_idx;
drop index public.leads_name_created_at_idx;
drop index public.leads_assigned_at_created_at_idx;
drop index public.leads_name_trgm_idx;
drop index public.leads_phone_trgm_idx;
drop index public.leads_converted_at_idx;
drop index public.leads_last_duplicate_at_idx;
create index leads_created_at_idx on public.leads (created_at);
