-- Reports and the dashboard at 1,000,000 leads, run as their owner.
--
-- report() and dashboard_today() were security invoker: an admin's call
-- applied row level security to every table they read. Their answers do
-- not change under it (the admins' policies let an admin read every lead,
-- every assignment log and the whole rollup), but the plans did: the
-- rollup's policies (`(select public.my_role()) = 'admin'`) are estimated
-- at 0.5 % of rows, so the planner chose nested loops for a few rows where
-- thousands come, and each policy is one more filter per row. Measured at
-- 1,000,000 leads (docs/benchmarks.md): report('30d') took 68-130 ms as the
-- owner and 250-480 ms as an admin, dashboard_today() 35-45 ms from psql
-- and 56-73 ms through REST.
--
-- Both now run as their owner (security definer) after the same admin
-- check they made before. Equivalent: the check lets through only admins
-- and the service role, and each reads everything anyway (an admin's
-- policies are `my_role() <> 'caller'`, true for an admin, on leads and
-- assignment logs, and `my_role() = 'admin'` on the rollup; service_role
-- bypasses RLS). A caller, a signed-in stranger and anon are refused before
-- anything is read, as before.
--
-- Read-only, like the functions they replace: no lock beyond a select's
-- snapshot.

/** The API role a call came in as, also inside a security definer
    function (where current_user is the function's owner): the role that
    REST set for the request (`set local role authenticated`, the `role`
    setting, which a security definer call does not change), else the
    session's login role (a direct connection such as psql or the ingest
    service's). For the role checks of functions that run as their owner. */
create function engine.api_role() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user)
$$;

grant execute on function engine.api_role() to authenticated, service_role;

/** A local day's bounds in `zone`: `[starts, ends)`, its local midnight
    and the next one, as timestamps. 23 or 25 hours on a daylight-saving
    day. The one expression the engine's "today" (dashboard_today,
    team_today), the report's range and the rollup's days are cut by;
    functions redefined from this migration on take it from here.
    Immutable, as `timestamp at time zone text` is. */
create function engine.local_day_bounds(day date, zone text, out starts timestamptz, out ends timestamptz)
language sql immutable
as $$
  select local_day_bounds.day::timestamp at time zone local_day_bounds.zone,
         (local_day_bounds.day + 1)::timestamp at time zone local_day_bounds.zone
$$;

grant execute on function engine.local_day_bounds(date, text) to authenticated, service_role;

/** The team's report: the same answer, field for field, as migration
    20261130002600's (whose doc comment, and 20261130001900's, define every
    field), from the same rollup. Now security definer: see the head of
    this file for why an admin's answer is the same without row level
    security, and the check that keeps everyone else out. Read-only; no
    locks beyond a select's snapshot. */
create or replace function public.report(preset text, from_day date default null, to_day date default null) returns jsonb
language plpgsql stable
-- as its owner: no row level security under the check below (see above)
security definer
set search_path = ''
set work_mem = '64MB'
set jit = off
as $$
declare
  span jsonb;
  team_zone text;
  first_day date;
  last_day date;
  today date;
  covered date[];
  live date[];
  live_starts timestamptz[];
  live_ends timestamptz[];
  result jsonb;
begin
  if engine.api_role() in ('anon', 'authenticated') and public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can read reports';
  end if;
  span := engine.report_range(preset, from_day, to_day);
  team_zone := span ->> 'time_zone';
  first_day := (span ->> 'from')::date;
  last_day := (span ->> 'to')::date;
  today := engine.local_day(engine.now());
  covered := coalesce((
    select pg_catalog.array_agg(b.day)
      from engine.report_built_days b
     where b.day >= first_day and b.day <= last_day and b.day < today and b.zone = team_zone
       and not exists (select from engine.report_dirty_days x where x.day = b.day)), '{}');
  -- The other days, each as its `[starts, ends)`. Arrays in variables, not a
  -- generate_series in the query: the planner then expects a handful of
  -- days (not 1,000) and reads each one as an index range.
  select coalesce(pg_catalog.array_agg(g.day::date order by g.day), '{}'),
         coalesce(pg_catalog.array_agg(b.starts order by g.day), '{}'),
         coalesce(pg_catalog.array_agg(b.ends order by g.day), '{}')
    into live, live_starts, live_ends
    from pg_catalog.generate_series(first_day, last_day, interval '1 day') as g (day)
    cross join lateral engine.local_day_bounds(g.day::date, team_zone) as b
   where g.day::date <> all (covered);

  with cohort as (
    -- The live days' leads counted once per (day, caller, state, source), a
    -- few thousand groups for ~11,000 leads a day, in one hash; the grouping
    -- sets below then sum those groups instead of every lead five times.
    select d.day, l.caller_id, l.state, l.source,
           count(*) as received,
           count(l.caller_id) as assigned,
           count(l.contacted_at) as contacted,
           count(l.qualified_at) as qualified,
           count(l.converted_at) as converted,
           count(l.lost_at) as lost
      from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
      join public.leads l on l.created_at >= d.starts and l.created_at < d.ends
     group by d.day, l.caller_id, l.state, l.source
  ),
  live_sums as (
    -- grouping() has a bit set for each column the row is NOT grouped by:
    -- 7 = per caller, 11 = per day, 13 = per state, 14 = per source, 15 = all.
    select grouping(c.caller_id, c.day, c.state, c.source) as set_id,
           c.caller_id, c.day, c.state, c.source,
           sum(c.received) as received,
           sum(c.assigned) as assigned,
           sum(c.contacted) as contacted,
           sum(c.qualified) as qualified,
           sum(c.converted) as converted,
           sum(c.lost) as lost
      from cohort c
     group by grouping sets ((c.caller_id), (c.day), (c.state), (c.source), ())
  ),
  rolled as (
    -- covered = the range's days minus the live ones (a short list): a range
    -- and a short exclusion test each row faster than membership in 30 days.
    select r.* from engine.report_days r
     where r.day >= first_day and r.day <= last_day and r.day <> all (live)
  ),
  sums as (
    select u.set_id, u.caller_id, u.day, u.state, u.source,
           sum(u.received) as received, sum(u.assigned) as assigned,
           sum(u.contacted) as contacted, sum(u.qualified) as qualified,
           sum(u.converted) as converted, sum(u.lost) as lost
      from (
        select s.* from live_sums s
        union all
        select case r.kind when 'caller' then 7 when 'state' then 13 else 14 end,
               case when r.kind = 'caller' then r.key::bigint end, null::date,
               case when r.kind = 'state' then r.key end,
               case when r.kind = 'source' then r.key end,
               r.received, r.assigned, r.contacted, r.qualified, r.converted, r.lost
          from rolled r where r.kind in ('caller', 'state', 'source')
        union all
        select 11, null, r.day, null, null,
               r.received, r.assigned, r.contacted, r.qualified, r.converted, r.lost
          from rolled r where r.kind = 'all'
        union all
        select 15, null, null, null, null,
               r.received, r.assigned, r.contacted, r.qualified, r.converted, r.lost
          from rolled r where r.kind = 'all'
      ) u
     group by u.set_id, u.caller_id, u.day, u.state, u.source
  ),
  live_contacts as materialized (
    -- with its bucket, computed once per value
    select c.caller_id, c.seconds, engine.first_contact_bucket(c.seconds) as bucket
      from (
    select l.caller_id, pg_catalog.date_part('epoch', l.contacted_at - l.assigned_at) as seconds
      from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
      join public.leads l on l.created_at >= d.starts and l.created_at < d.ends
     where l.caller_id is not null
       and l.contacted_at >= l.assigned_at) c
  ),
  histogram as (
    -- integer counts throughout: sum(integer) is a bigint, summed natively;
    -- sum(bigint) would be numeric, several times slower per row
    select h.caller_id, h.bucket, sum(h.n)::integer as n
      from (
        select f.caller_id, f.bucket, f.n
          from engine.report_first_contacts f
         where f.day >= first_day and f.day <= last_day and f.day <> all (live)
        union all
        select c.caller_id, c.bucket, 1
          from live_contacts c
      ) h
     group by h.caller_id, h.bucket
  ),
  placed as (
    -- before: how many values lie in lower buckets; percentile_cont(0.5)
    -- over `total` values interpolates halfway between the 0-based ranks
    -- (total - 1) / 2 and total / 2 (integer division; equal when odd).
    select w.caller_id, w.bucket, w.n, w.before, (w.total - 1) / 2 as lo, w.total / 2 as hi
      from (select h.caller_id, h.bucket, h.n,
                   sum(h.n) over (partition by h.caller_id order by h.bucket) - h.n as before,
                   sum(h.n) over (partition by h.caller_id) as total
              from histogram h) w
  ),
  middle as (
    select p.* from placed p
     where (p.lo >= p.before and p.lo < p.before + p.n)
        or (p.hi >= p.before and p.hi < p.before + p.n)
  ),
  ranked as (
    -- the middle buckets' values, ranked per bucket: the rollup's as an
    -- index range per middle bucket (report_first_contacts_caller_bucket_idx;
    -- a join would read every row of the range), the live days' from the
    -- materialized live_contacts, whose bucket is computed once per value
    select m.caller_id, m.lo, m.hi, v.seconds,
           m.before + pg_catalog.row_number() over (partition by m.caller_id, m.bucket order by v.seconds) - 1 as rank
      from middle m
      cross join lateral (
        select s.seconds
          from engine.report_first_contacts f
          cross join lateral pg_catalog.unnest(f.seconds) as s (seconds)
         where f.caller_id = m.caller_id and f.bucket = m.bucket
           and f.day >= first_day and f.day <= last_day and f.day <> all (live)
        union all
        select c.seconds from live_contacts c
         where c.caller_id = m.caller_id and c.bucket = m.bucket
      ) v
  ),
  medians as (
    select r.caller_id,
           min(r.seconds) filter (where r.rank = r.lo) as lo_seconds,
           min(r.seconds) filter (where r.rank = r.hi) as hi_seconds
      from ranked r
     group by r.caller_id
  ),
  live_moves as materialized (
    -- the live days' SLA moves and tier-4 assignments, one pass over their log
    select g.previous_caller_id, g.caller_id, g.reason = 'sla_reassign' as sla_move, g.tier = 4 as overflow_move
      from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
      join public.assignment_logs g on g.created_at >= d.starts and g.created_at < d.ends
     where g.reason = 'sla_reassign' or g.tier = 4
  ),
  sla as (
    select s.caller_id, sum(s.moves) as moves
      from (
        select g.previous_caller_id as caller_id, count(*) as moves
          from live_moves g
         where g.sla_move
         group by g.previous_caller_id
        union all
        select r.key::bigint, r.received from rolled r where r.kind = 'sla'
      ) s
     group by s.caller_id
  ),
  overflow as (
    select s.caller_id, sum(s.moves) as moves
      from (
        select g.caller_id, count(*) as moves
          from live_moves g
         where g.overflow_move
         group by g.caller_id
        union all
        select r.key::bigint, r.received from rolled r where r.kind = 'overflow'
      ) s
     group by s.caller_id
  ),
  conversions as (
    -- a live day's conversions are those within its bounds: no zone
    -- conversion per lead
    select d.day, count(*) as converted
      from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
      join public.leads l on l.converted_at >= d.starts and l.converted_at < d.ends
     group by d.day
    union all
    select r.day, r.converted from rolled r where r.kind = 'converted_on'
  ),
  funnel as (
    select s.* from sums s where s.set_id = 15
  )
  select pg_catalog.jsonb_build_object(
    'range', span,
    'funnel', (
      select pg_catalog.jsonb_build_object(
               'received', coalesce(f.received, 0), 'assigned', coalesce(f.assigned, 0),
               'contacted', coalesce(f.contacted, 0), 'qualified', coalesce(f.qualified, 0),
               'converted', coalesce(f.converted, 0), 'lost', coalesce(f.lost, 0),
               'unassigned', coalesce(f.received - f.assigned, 0),
               'conversion_rate', case when coalesce(f.received, 0) = 0 then null
                                       else round(f.converted::numeric / f.received, 4) end)
        from (select 1) one left join funnel f on true),
    'per_caller', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'caller_id', k.id, 'name', k.name, 'active', k.active,
               'received', coalesce(s.received, 0), 'contacted', coalesce(s.contacted, 0),
               'qualified', coalesce(s.qualified, 0), 'converted', coalesce(s.converted, 0),
               'lost', coalesce(s.lost, 0),
               'conversion_rate', case when coalesce(s.received, 0) = 0 then null
                                       else round(s.converted::numeric / s.received, 4) end,
               'median_first_contact_seconds',
                 round(m.lo_seconds + (m.hi_seconds - m.lo_seconds) * 0.5)::bigint,
               'lost_to_sla', coalesce(sl.moves, 0),
               'overflow_received', coalesce(o.moves, 0)) order by k.id)
        from public.callers k
        left join sums s on s.set_id = 7 and s.caller_id = k.id
        left join medians m on m.caller_id = k.id
        left join sla sl on sl.caller_id = k.id
        left join overflow o on o.caller_id = k.id), '[]'::jsonb),
    'per_day', (
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'day', d.day::date, 'leads', coalesce(s.received, 0), 'converted', coalesce(v.converted, 0))
               order by d.day)
        from pg_catalog.generate_series(first_day, last_day, interval '1 day') as d (day)
        left join sums s on s.set_id = 11 and s.day = d.day::date
        left join (select c.day, sum(c.converted) as converted from conversions c group by c.day) v
          on v.day = d.day::date),
    'by_state', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'key', b.state, 'received', b.received, 'converted', b.converted,
               'conversion_rate', round(b.converted::numeric / b.received, 4))
               order by b.received desc, b.state nulls last)
        from (select s.* from sums s where s.set_id = 13
               order by s.received desc, s.state nulls last limit 100) b), '[]'::jsonb),
    'by_source', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'key', b.source, 'received', b.received, 'converted', b.converted,
               'conversion_rate', round(b.converted::numeric / b.received, 4))
               order by b.received desc, b.source nulls last)
        from (select s.* from sums s where s.set_id = 14
               order by s.received desc, s.source nulls last limit 100) b), '[]'::jsonb)
  ) into result;
  return result;
end
$$;


/** Today's figures, the same answer as migration 20261130002300's (see
    20261125001200_dashboard.sql for every field), now security definer
    (see the head of this file) with the same admin check, and today's
    bounds from engine.local_day_bounds. Read-only, no locks beyond a
    select's snapshot. */
create or replace function public.dashboard_today() returns jsonb
language plpgsql stable
-- as its owner: no row level security under the check below (see above)
security definer
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  zone text := engine.time_zone();
  today date := engine.local_day(moment);
  starts timestamptz;
  ends timestamptz;
  hours jsonb;
  received bigint;
  assigned bigint;
  overflow bigint;
  converted bigint;
begin
  if engine.api_role() in ('anon', 'authenticated') and public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can read the dashboard';
  end if;
  select b.starts, b.ends into starts, ends from engine.local_day_bounds(today, zone) as b;
  select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('hour', h, 'leads', coalesce(n.leads, 0)) order by h),
         coalesce(sum(n.leads), 0)
    into hours, received
    from pg_catalog.generate_series(0, 23) as h
    left join (
      select pg_catalog.date_part('hour', created_at at time zone zone)::int as hour, count(*) as leads
        from public.leads where created_at >= starts and created_at < ends
       group by 1) n on n.hour = h;
  select count(*), count(*) filter (where tier = 4) into assigned, overflow
    from public.assignment_logs where created_at >= starts and created_at < ends;
  select count(*) into converted from public.leads where converted_at >= starts and converted_at < ends;
  return pg_catalog.jsonb_build_object(
    'day', today,
    'time_zone', zone,
    'received', received,
    'assigned', assigned,
    'duplicates', (select count(*) from public.leads where last_duplicate_at >= starts and last_duplicate_at < ends),
    'overflow', overflow,
    'unassigned', (select count(*) from public.leads where status = 'unassigned'),
    'converted', converted,
    'conversion_rate', case when received = 0 then null else round(converted::numeric / received, 4) end,
    'per_caller', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'caller_id', c.id, 'name', c.name, 'active', c.active,
               'paused', c.paused_until is not null and c.paused_until > moment,
               'assigned_today', coalesce(l.assigned, 0),
               'daily_lead_limit', c.daily_lead_limit, 'weight', c.weight) order by c.id)
        from public.callers c
        left join public.caller_daily_loads l on l.caller_id = c.id and l.day = today), '[]'::jsonb),
    'leads_per_hour', hours);
end
$$;

-- report()'s histogram reads a range's rows of report_first_contacts
-- (~42,000 for 30 days at 1,000,000 leads: 50 callers × 29 days × ~28
-- buckets) for their caller, bucket and count only. Fetching each row from
-- the heap, where its `seconds` array lives, took 30-40 ms; with those
-- three columns in the index it is an index-only scan (the rollup is
-- written once per day and then static, so autovacuum keeps its pages
-- all-visible). It serves the rebuild's `where day = …` as the index it
-- replaces did.
create index report_first_contacts_day_counts_idx on engine.report_first_contacts (day) include (caller_id, bucket, n);
drop index engine.report_first_contacts_day_idx;

-- dashboard_today()'s per-caller loads read today's rows of
-- caller_daily_loads (one per caller); its primary key leads with
-- caller_id, so the planner scanned every row (50 callers × every day the
-- team has worked: 4,500 at 90 days, 6 ms, and growing by a row per caller
-- per day). `assigned` is not in the index, so the ingest's updates of a
-- load stay HOT.
create index caller_daily_loads_day_idx on public.caller_daily_loads (day);
