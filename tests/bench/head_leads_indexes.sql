-- engine-bench only (never a migration): gives the pre-issue schema
-- (supabase/migrations/20261125* only) the same indexes on public.leads as
-- HEAD has, so that "pre-issue vs today" compares engines, not index sets.
--
-- HEAD's set (the migrations' index statements on leads, 2026-11-30,
-- through …003000): the pre-issue five, less leads_created_at_idx (replaced
-- by leads_created_at_id_idx in …002300), plus …002200's caller queue index,
-- …002300's per-filter btrees and trigram GIN indexes, and …003000's
-- closed-leads index; checked against pg_indexes by engine-bench, which
-- prints each engine's index names on leads and flags a difference from the
-- last engine's, so a stale copy of this file shows up in its output.
--
-- Copied into the pre-issue folder under a name that sorts last
-- (docs/benchmarks.md, "Assignment engine", has the commands).
create extension pg_trgm with schema extensions;
create index leads_created_at_id_idx on public.leads (created_at, id);
drop index public.leads_created_at_idx;
create index leads_status_created_at_idx on public.leads (status, created_at, id);
create index leads_state_created_at_idx on public.leads (state, created_at, id);
create index leads_source_created_at_idx on public.leads (source, created_at, id);
create index leads_caller_id_created_at_idx on public.leads (caller_id, created_at, id);
create index leads_name_created_at_idx on public.leads (name, created_at, id);
create index leads_assigned_at_created_at_idx on public.leads (assigned_at, created_at, id);
create index leads_name_trgm_idx on public.leads using gin (name extensions.gin_trgm_ops);
create index leads_phone_trgm_idx on public.leads using gin (phone extensions.gin_trgm_ops);
create index leads_converted_at_idx on public.leads (converted_at) where converted_at is not null;
create index leads_last_duplicate_at_idx on public.leads (last_duplicate_at) where last_duplicate_at is not null;
create index leads_caller_queue_idx on public.leads (caller_id, (status <> 'new'), assigned_at, id)
  where status in ('new', 'contacted', 'qualified');
create index leads_caller_closed_idx on public.leads (caller_id, status_changed_at desc nulls last, id desc)
  where status in ('converted', 'lost');
