-- The settings page's zone list from a stored table, and an index for the
-- caller's closed leads, both for issue 12 §5 (every request at 1,000,000
-- leads within 50 ms; docs/benchmarks.md).

/** The zone names the settings page offers: the IANA region zones
    (Africa/…, America/…, Asia/…, Europe/… and so on) and UTC, as
    pg_timezone_names listed them when the list was last refreshed.
    pg_timezone_names reads every file of PostgreSQL's time zone directory
    (some 1,200, with posix/…, right/… and the legacy names) on each call:
    70-100 ms, the slowest read of the settings page. A name's offset
    changes with daylight saving, so it is not stored: time_zone_names()
    computes it for `now()`.

    Refreshed by engine.refresh_time_zone_names(): once here, and by the
    operator (or a pg_cron job) after the server's tz database is updated
    (a new PostgreSQL minor release or the OS tzdata package; see
    docs/deploying.md). A stale list only misses a zone added since (or
    lists one removed): update_settings() still validates against
    pg_timezone_names itself, so the team's zone is always one PostgreSQL
    knows. Only its owner reads or writes it (row level security on, no
    policies, no grants); time_zone_names() reads it as its owner. */
create table engine.time_zone_names (
  name text primary key
);

alter table engine.time_zone_names enable row level security;

/** Replaces engine.time_zone_names with pg_timezone_names' region zones
    and UTC; returns how many names it holds now. Run after a tz database
    update (docs/deploying.md). Locking: the delete and insert run in the
    caller's transaction; a concurrent time_zone_names() reads the old list
    until it commits (plain MVCC, no lock beyond the writes' row locks). */
create function engine.refresh_time_zone_names() returns integer
language plpgsql volatile
security definer
set search_path = ''
as $$
declare
  listed integer;
begin
  delete from engine.time_zone_names;
  insert into engine.time_zone_names (name)
  select z.name
    from pg_catalog.pg_timezone_names z
   where z.name = 'UTC'
      or z.name ~ '^(Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific)/';
  get diagnostics listed = row_count;
  return listed;
end
$$;

revoke execute on function engine.refresh_time_zone_names() from public;
grant execute on function engine.refresh_time_zone_names() to service_role;

select engine.refresh_time_zone_names();

/** The zones the settings page offers, by name: [{name,
    utc_offset_minutes}], the offset being the one in force now. The same
    answer as migration 20261130002000's (see its doc comment for which
    zones and why), from engine.time_zone_names instead of
    pg_timezone_names: 2-3 ms instead of 70-100. Each offset is computed
    for now() (`now() at time zone name`), so it follows daylight saving
    without a refresh; a connection's first call loads each zone's rules
    once (PostgreSQL caches them per connection). Any signed-in role may
    read it; it says nothing about the team. Security definer, to read the
    owner-only list; search_path fixed. */
create or replace function public.time_zone_names() returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  moment timestamptz := pg_catalog.now();
begin
  return (
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'name', z.name,
             'utc_offset_minutes',
               (pg_catalog.date_part('epoch', (moment at time zone z.name) - (moment at time zone 'UTC')) / 60)::integer)
             order by z.name)
      from engine.time_zone_names z);
end
$$;

-- The caller's closed leads (My leads, second tab): one caller's
-- `converted` and `lost` leads, latest change first, as the web app asks
-- (`caller_id=eq.<id>&status=in.(converted,lost)&order=
-- status_changed_at.desc.nullslast,id.desc`, crates/web/src/api/queue.rs).
-- Without it a page read every closed lead of the caller through
-- leads_caller_id_status_idx and sorted them (~9,000 at 1,000,000 leads);
-- with it a page is the first rows of one index range, and the tab's count
-- an index-only scan of that range. Partial, like leads_caller_queue_idx:
-- only closed leads. Plain `create index` (migrations run in a
-- transaction): on a large live table build it by hand first with
-- `create index concurrently`.
create index leads_caller_closed_idx on public.leads (caller_id, status_changed_at desc nulls last, id desc)
  where status in ('converted', 'lost');

/** How many leads the signed-in caller has open (`new`, `contacted`,
    `qualified`: the caller_queue view's rows) and closed (`converted`,
    `lost`): {open, closed}, exact. The caller queue's pager ("21–40 of
    11,097") and its two tabs read these instead of asking REST for
    `count=exact` on each page: REST counts a page's query with its order
    and every column (`select count(*) from (select … order by …)`), which
    PostgreSQL cannot reduce, so it read each of the caller's ~11,000 open
    leads from the heap (75-110 ms at 1,000,000 leads). Here each count is
    an index-only scan of one caller's range of leads_caller_id_status_idx
    (10-30 ms on the loaded 2-core machine). {open: 0, closed: 0} for a
    signed-in user who is not a caller (an admin, a stranger: my_caller_id()
    is null). Security definer, so row level security's per-row test (the
    callers' and the admins' read policies, OR-ed) is not re-evaluated on
    each of the caller's leads: equivalent, since it counts only the leads
    of my_caller_id(), which the callers' policy lets the caller read.
    search_path fixed. Read-only, no locks beyond a select's snapshot. */
create function public.caller_queue_counts() returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select pg_catalog.jsonb_build_object(
           'open', count(*) filter (where l.status in ('new', 'contacted', 'qualified')),
           'closed', count(*) filter (where l.status in ('converted', 'lost')))
    from public.leads l
   where l.caller_id = public.my_caller_id()
     and l.status in ('new', 'contacted', 'qualified', 'converted', 'lost')
$$;

revoke execute on function public.caller_queue_counts() from public, anon;
grant execute on function public.caller_queue_counts() to authenticated, service_role;
