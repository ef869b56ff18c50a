-- report('30d') at 1,000,000 leads within 50 ms (issue 12 §5): the median's
-- histogram summed per week, the rollup's rows read once, the middle
-- buckets' values picked by position instead of ranked.
--
-- Measured before this migration (docs/benchmarks.md, …2900/…3000 and the
-- quiet re-run): report('30d') 63 ms p50 / 103 ms p95 through REST, 60-70
-- ms of it in the statement: summing ~42,000 rows of
-- engine.report_first_contacts (50 callers × 29 days × ~28 buckets, ~25
-- ms), unnesting the middle buckets from 29 rows per caller and ranking
-- their ~11,000 values with a window (~23 ms), and the rollup's ~5,600
-- rows of the range scanned once per kind (six times) before a sort of
-- ~2,800 rows (~10 ms).
--
--   what                     how it changes
--   the median's histogram   a week whose 7 days are all covered (closed,
--                            built in the current zone, not dirty) is read
--                            from engine.report_first_contact_weeks, one
--                            row per (week, caller, bucket); the range's
--                            other covered days from report_first_contacts
--                            as before. 30 days: 3-4 weeks and 1-8 days
--                            (~10,000-18,000 rows instead of ~42,000).
--   the middle buckets       their values come from the same week rows
--                            (sorted arrays) and day rows, the live days'
--                            through one join; the value at a rank is
--                            picked by position in the bucket's sorted
--                            values (no window over every value)
--   report_days              the range's rows are summed once per (kind,
--                            key, day for `all`/`converted_on`): ~250 rows
--                            instead of ~5,600, which every kind then reads
--   the live days' leads     summed per grouping set in one aggregate: the
--                            count per (day, caller, state, source) first
--                            made ~4,300 groups of a day's ~10,000 leads,
--                            one more hash and hardly fewer rows
--
-- Cost moved to the rebuild: re-summing a week (7 days' values, ~47,000 at
-- 1,000,000 leads) took 150-200 ms at load average 8, once per rebuilt
-- day; the backfill below took 1.7 s for the seed's 366 days.
--
-- The answer is the same, field for field (tests/engine/17_reports.rs,
-- 21_report_rollup.rs, 24_reads_at_a_million.rs; 25_report_weeks.rs checks
-- the week rows against the day rows they sum).

/** The first-contact histogram of engine.report_first_contacts summed per
    week: one row per (week, caller, bucket), `week` the Monday of the local
    days it sums (`date_trunc('week', day)`), `n` their count and `seconds`
    all their values, sorted. Always the sum of the day rows of its 7 days
    as they stand: engine.rebuild_report_days re-sums a week in the same
    transaction as it rewrites one of its days (the only writer of either
    table). report() reads a week only when each of its 7 days is in the
    range and covered (closed, built in the current zone, not dirty), so a
    week holding a stale, dirty or missing day is never read, only kept
    until its days are rebuilt. Read by report() (as its owner); admins and
    service_role may select, like the rest of the rollup. */
create table engine.report_first_contact_weeks (
  week date not null,
  caller_id bigint not null,
  bucket integer not null,
  n integer not null,
  seconds double precision[] not null,
  primary key (week, caller_id, bucket)
);

-- report()'s histogram reads the covered weeks' counts index-only; its
-- middle buckets fetch their rows by (caller, bucket).
create index report_first_contact_weeks_week_counts_idx
  on engine.report_first_contact_weeks (week) include (caller_id, bucket, n);
create index report_first_contact_weeks_caller_bucket_idx
  on engine.report_first_contact_weeks (caller_id, bucket, week);

alter table engine.report_first_contact_weeks enable row level security;
create policy report_first_contact_weeks_admins on engine.report_first_contact_weeks
  for select to authenticated using ((select public.my_role()) = 'admin');
grant select on engine.report_first_contact_weeks to authenticated, service_role;

/** Rolls up the closed local days `first_day` to `last_day`, as migration
    20261130002600's function did (same rows, same locking: see its
    comment), and then re-sums into engine.report_first_contact_weeks each
    week holding one of the days built, from the day rows of its 7 days.
    Returns how many days were built.

    Locking: as before, an advisory transaction lock makes two rebuilds run
    one after the other, so a week is re-summed by one of them at a time,
    after its day rows were written, in the same transaction: a report
    sees the day rows and their week together or neither. */
create or replace function engine.rebuild_report_days(first_day date, last_day date) returns integer
language plpgsql
security definer
set search_path = ''
set work_mem = '64MB'
set jit = off
as $$
declare
  team_zone text := engine.time_zone();
  today date := engine.local_day(engine.now());
  d date;
  w date;
  starts timestamptz;
  ends timestamptz;
  built integer := 0;
  weeks date[] := '{}';
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('engine.rebuild_report_days'));
  for d in select g.day::date from pg_catalog.generate_series(first_day, least(last_day, today - 1), interval '1 day') as g (day)
  loop
    select b.starts, b.ends into starts, ends from engine.local_day_bounds(d, team_zone) as b;
    delete from engine.report_dirty_days x where x.day = d;
    delete from engine.report_days r where r.day = d;
    delete from engine.report_first_contacts f where f.day = d;

    insert into engine.report_days (day, kind, key, received, assigned, contacted, qualified, converted, lost)
    select d,
           case grouping(l.caller_id, l.state, l.source)
             when 3 then 'caller' when 5 then 'state' when 6 then 'source' else 'all' end,
           case grouping(l.caller_id, l.state, l.source)
             when 3 then l.caller_id::text when 5 then l.state when 6 then l.source end,
           count(*), count(l.caller_id), count(l.contacted_at), count(l.qualified_at),
           count(l.converted_at), count(l.lost_at)
      from public.leads l
     where l.created_at >= starts and l.created_at < ends
     group by grouping sets ((l.caller_id), (l.state), (l.source), ());

    insert into engine.report_days (day, kind, key, received, assigned, contacted, qualified, converted, lost)
    select d, 'converted_on', null, 0, 0, 0, 0, count(*), 0
      from public.leads l
     where l.converted_at >= starts and l.converted_at < ends;

    insert into engine.report_days (day, kind, key, received, assigned, contacted, qualified, converted, lost)
    select d, 'sla', g.previous_caller_id::text, count(*), 0, 0, 0, 0, 0
      from public.assignment_logs g
     where g.reason = 'sla_reassign' and g.created_at >= starts and g.created_at < ends
     group by g.previous_caller_id;

    insert into engine.report_days (day, kind, key, received, assigned, contacted, qualified, converted, lost)
    select d, 'overflow', g.caller_id::text, count(*), 0, 0, 0, 0, 0
      from public.assignment_logs g
     where g.tier = 4 and g.created_at >= starts and g.created_at < ends
     group by g.caller_id;

    insert into engine.report_first_contacts (day, caller_id, bucket, n, seconds)
    select d, c.caller_id, engine.first_contact_bucket(c.seconds), count(*),
           pg_catalog.array_agg(c.seconds order by c.seconds)
      from (select l.caller_id, pg_catalog.date_part('epoch', l.contacted_at - l.assigned_at) as seconds
              from public.leads l
             where l.created_at >= starts and l.created_at < ends
               and l.caller_id is not null
               and l.contacted_at >= l.assigned_at) c
     group by c.caller_id, engine.first_contact_bucket(c.seconds);

    insert into engine.report_built_days (day, zone, built_at)
    values (d, team_zone, pg_catalog.now())
    on conflict (day) do update set zone = excluded.zone, built_at = excluded.built_at;
    built := built + 1;
    weeks := weeks || pg_catalog.date_trunc('week', d::timestamp)::date;
  end loop;

  for w in select distinct x.week from pg_catalog.unnest(weeks) as x (week) order by x.week
  loop
    delete from engine.report_first_contact_weeks k where k.week = w;
    insert into engine.report_first_contact_weeks (week, caller_id, bucket, n, seconds)
    select w, f.caller_id, f.bucket, count(*), pg_catalog.array_agg(s.seconds order by s.seconds)
      from engine.report_first_contacts f
      cross join lateral pg_catalog.unnest(f.seconds) as s (seconds)
     where f.day >= w and f.day < w + 7
     group by f.caller_id, f.bucket;
  end loop;
  return built;
end
$$;

-- The weeks of the days rolled up so far (the day rows are unchanged).
insert into engine.report_first_contact_weeks (week, caller_id, bucket, n, seconds)
select pg_catalog.date_trunc('week', f.day::timestamp)::date, f.caller_id, f.bucket, count(*),
       pg_catalog.array_agg(s.seconds order by s.seconds)
  from engine.report_first_contacts f
  cross join lateral pg_catalog.unnest(f.seconds) as s (seconds)
 group by 1, f.caller_id, f.bucket;

/** The team's report: the same answer, field for field, as migration
    20261130002900's (whose doc comment, and 20261130001900's, define every
    field), security definer after the same admin check. The median's
    histogram reads each week of the range whose 7 days are covered from
    engine.report_first_contact_weeks and the other covered days from
    engine.report_first_contacts; the middle buckets' values come from the
    same rows, and the values at the middle ranks are picked by position in
    each middle bucket's sorted values. The rollup's rows of the range are
    summed once per kind and key (per day for `all` and `converted_on`)
    before the kinds are read. Read-only; no locks beyond a select's
    snapshot. */
create or replace function public.report(preset text, from_day date default null, to_day date default null) returns jsonb
language plpgsql stable
-- as its owner: no row level security under the check below (see …2900)
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
  weeks date[];
  loose date[];
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
  -- The weeks (Mondays) whose 7 days are all covered, and the covered days
  -- outside them: the median's histogram reads a week's row instead of its
  -- 7 days' rows.
  select coalesce(pg_catalog.array_agg(w.week), '{}')
    into weeks
    from (select pg_catalog.date_trunc('week', c.day::timestamp)::date as week
            from pg_catalog.unnest(covered) as c (day)
           group by 1
          having count(*) = 7) w;
  select coalesce(pg_catalog.array_agg(c.day), '{}')
    into loose
    from pg_catalog.unnest(covered) as c (day)
   where pg_catalog.date_trunc('week', c.day::timestamp)::date <> all (weeks);
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

  with live_sums as (
    -- The live days' leads summed per grouping set in one pass (a mixed
    -- hash aggregate, one table per set). grouping() has a bit set for each
    -- column the row is NOT grouped by: 7 = per caller, 11 = per day, 13 =
    -- per state, 14 = per source, 15 = all. …2900 first counted them per
    -- (day, caller, state, source), but a day's ~10,000 leads fall into
    -- ~4,300 such groups: no fewer rows for the sets, one more hash (9-11
    -- against 12-16 ms for a day's leads from psql, load average 6).
    select grouping(l.caller_id, d.day, l.state, l.source) as set_id,
           l.caller_id, d.day, l.state, l.source,
           count(*) as received,
           count(l.caller_id) as assigned,
           count(l.contacted_at) as contacted,
           count(l.qualified_at) as qualified,
           count(l.converted_at) as converted,
           count(l.lost_at) as lost
      from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
      join public.leads l on l.created_at >= d.starts and l.created_at < d.ends
     group by grouping sets ((l.caller_id), (d.day), (l.state), (l.source), ())
  ),
  rolled as materialized (
    -- The range's rollup rows (the range's days minus the live ones: a
    -- range and a short exclusion test each row faster than membership in
    -- 30 days) summed once per kind and key, and per day for the kinds
    -- read per day: ~250 rows for the kinds below instead of ~5,600 rows
    -- each. A day's count fits an integer: sum(integer) is a bigint,
    -- summed natively (sum(bigint) would be numeric).
    select r.kind, r.key, case when r.kind in ('all', 'converted_on') then r.day end as day,
           sum(r.received::integer) as received, sum(r.assigned::integer) as assigned,
           sum(r.contacted::integer) as contacted, sum(r.qualified::integer) as qualified,
           sum(r.converted::integer) as converted, sum(r.lost::integer) as lost
      from engine.report_days r
     where r.day >= first_day and r.day <= last_day and r.day <> all (live)
     group by r.kind, r.key, 3
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
    -- sum(bigint) would be numeric, several times slower per row. Both
    -- rollup tables index-only (their `…_counts_idx`).
    select h.caller_id, h.bucket, sum(h.n)::integer as n
      from (
        select k.caller_id, k.bucket, k.n
          from engine.report_first_contact_weeks k
         where k.week = any (weeks)
        union all
        select f.caller_id, f.bucket, f.n
          from engine.report_first_contacts f
         where f.day = any (loose)
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
  live_middle as materialized (
    -- the live days' values of the middle buckets, found with one join
    -- (not one scan of live_contacts per middle bucket)
    select c.caller_id, c.bucket, c.seconds
      from middle m
      join live_contacts c on c.caller_id = m.caller_id and c.bucket = m.bucket
  ),
  picked as (
    -- Each middle bucket's values sorted (its `n` values: the week rows',
    -- the loose days' and the live days'), the rollup's fetched by (caller,
    -- bucket) through the tables' primary key and `…_caller_bucket_idx`;
    -- the value of 0-based rank r lies at position r - before + 1.
    select m.caller_id,
           case when m.lo >= m.before and m.lo < m.before + m.n then (m.lo - m.before + 1)::integer end as lo_at,
           case when m.hi >= m.before and m.hi < m.before + m.n then (m.hi - m.before + 1)::integer end as hi_at,
           v.sorted
      from middle m
      cross join lateral (
        select pg_catalog.array_agg(x.seconds order by x.seconds) as sorted
          from (
            select s.seconds
              from engine.report_first_contact_weeks k
              cross join lateral pg_catalog.unnest(k.seconds) as s (seconds)
             where k.caller_id = m.caller_id and k.bucket = m.bucket and k.week = any (weeks)
            union all
            select s.seconds
              from engine.report_first_contacts f
              cross join lateral pg_catalog.unnest(f.seconds) as s (seconds)
             where f.caller_id = m.caller_id and f.bucket = m.bucket and f.day = any (loose)
            union all
            select c.seconds from live_middle c
             where c.caller_id = m.caller_id and c.bucket = m.bucket
          ) x
      ) v
  ),
  medians as (
    select p.caller_id,
           min(p.sorted[p.lo_at]) as lo_seconds,
           min(p.sorted[p.hi_at]) as hi_seconds
      from picked p
     group by p.caller_id
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
