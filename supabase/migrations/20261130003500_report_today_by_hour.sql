-- report() at 1,000,000 leads within 50 ms at p95 for every preset (issue
-- 12 §5): today's closed hours from an hourly rollup, so the live part of
-- today is its current hour (and any hour changed since it was rolled up)
-- instead of the whole day.
--
-- Measured before this migration (docs/benchmarks.md, quiet re-run after
-- …3100–…3400): report('30d') 42–57 ms p50 / 59–63 ms p95 through REST,
-- report('7d') 30 / 41–50 ms, report('today') 25–37 / 40–42 ms. Every
-- preset paid today's live part: ~10,300 of today's leads grouped per
-- caller, state, source and day (~9 ms from psql), their first contacts and
-- the log's SLA and tier-4 moves (~5 ms, ~11,000 log rows read for ~720
-- moves), on top of the closed days' 10–20 ms for 30 days.
--
--   what changes a closed hour of today   how the hourly rollup follows
--   an update of one of its leads         the day trigger (now also) marks
--   (status stamps, a reassignment,       the lead's quarter hour dirty;
--    state, source, created_at, a         report() computes the hour live;
--    conversion re-dated) or a delete     the every-minute job rebuilds it
--   the team's time zone                  an hour is used only if it was
--                                         cut in the current zone; the job
--                                         drops the others and rebuilds
--   a deleted SLA move or tier-4 row of   a new trigger on the log marks its
--   the log (a lead's delete cascades)    quarter (or its closed day)
--   a new lead, a new assignment log      none: both are dated
--                                         engine.now(), i.e. the current
--                                         hour, which is never rolled up
--   midnight                              the job drops the hours of the
--                                         day that ended (the day rollup
--                                         takes over ten minutes later)
--
-- The answer is the same, field for field, the median included
-- (tests/engine/17_reports.rs, 21_report_rollup.rs, 24_reads_at_a_million.rs,
-- 25_report_weeks.rs; 26_report_hours.rs checks the hour rows against the
-- leads and the log they sum, and the report against the live one).

/** The local hours of a local day in `zone`: `[starts, ends)` from the
    day's local midnight, one hour each (absolute hours), the last one cut
    at the next local midnight. 24 of them, 23 or 25 on a daylight-saving
    day. The lattice of engine.report_built_hours: the hourly rollup's
    rebuild and report() cut today with it (the dirty marks' triggers
    compute the same hours by arithmetic, per row).
    Immutable, like engine.local_day_bounds. Not for the API roles (no
    caller needs it; it runs inside functions that run as their owner). */
create function engine.local_day_hours(day date, zone text) returns table (starts timestamptz, ends timestamptz)
language sql immutable
as $$
  select b.starts + k.k * interval '1 hour',
         least(b.starts + (k.k + 1) * interval '1 hour', b.ends)
    from engine.local_day_bounds(local_day_hours.day, local_day_hours.zone) as b
   cross join pg_catalog.generate_series(
           0, pg_catalog.ceil(pg_catalog.date_part('epoch', b.ends - b.starts) / 3600)::integer - 1) as k (k)
$$;

revoke execute on function engine.local_day_hours(date, text) from public;

/** Today's closed local hours' figures, one row per (hour, kind, key): the
    kinds and keys of engine.report_days (see its comment), cut at the
    hour's bounds instead of the day's (`converted_on`: leads converted
    within the hour; `sla`, `overflow`: log rows written within it). Counts
    of an hour fit an integer. Written only by engine.rebuild_report_hours;
    a row counts only while engine.report_built_hours lists its hour in the
    current zone and engine.report_dirty_quarters marks no quarter of it.
    Read by report() (as its owner); admins and service_role may select,
    like the rest of the rollup. */
create table engine.report_hours (
  starts timestamptz not null,
  kind text not null check (kind in ('all', 'caller', 'state', 'source', 'converted_on', 'sla', 'overflow')),
  key text null,
  received integer not null,
  assigned integer not null,
  contacted integer not null,
  qualified integer not null,
  converted integer not null,
  lost integer not null
);

create index report_hours_starts_idx on engine.report_hours (starts);

/** Time to first contact of today's closed hours' leads per (hour, caller,
    bucket of engine.first_contact_bucket): the count and the exact values,
    sorted, as engine.report_first_contacts holds them per day. report()
    adds the counts to the median's histogram and reads the values of the
    middle buckets only. */
create table engine.report_hour_first_contacts (
  starts timestamptz not null,
  caller_id bigint not null,
  bucket integer not null,
  n integer not null,
  seconds double precision[] not null,
  primary key (starts, caller_id, bucket)
);

-- the median's middle buckets fetch their values by (caller, bucket)
create index report_hour_first_contacts_caller_bucket_idx
  on engine.report_hour_first_contacts (caller_id, bucket, starts);

/** The hours of today rolled up: `[starts, ends)` and the zone whose
    lattice (engine.local_day_hours) they were cut in. Only today's hours
    are kept: the rebuild drops the others, and the hours of another zone. */
create table engine.report_built_hours (
  starts timestamptz primary key,
  ends timestamptz not null,
  zone text not null,
  built_at timestamptz not null
);

/** Quarter hours (`date_bin('15 minutes', …)` from 2000-01-01 UTC; every
    zone's hours begin on one) holding the creation or conversion time of a
    lead changed after its hour of today closed. An hour is dirty while one
    of its quarters is listed: report() computes it live, the job rebuilds
    it. Quarters, not hours, so a mark does not depend on the zone it was
    made in (a zone changed and changed back still finds it). */
create table engine.report_dirty_quarters (
  starts timestamptz primary key,
  marked_at timestamptz not null
);

alter table engine.report_hours enable row level security;
alter table engine.report_hour_first_contacts enable row level security;
alter table engine.report_built_hours enable row level security;
alter table engine.report_dirty_quarters enable row level security;
create policy report_hours_admins on engine.report_hours
  for select to authenticated using ((select public.my_role()) = 'admin');
create policy report_hour_first_contacts_admins on engine.report_hour_first_contacts
  for select to authenticated using ((select public.my_role()) = 'admin');
create policy report_built_hours_admins on engine.report_built_hours
  for select to authenticated using ((select public.my_role()) = 'admin');
create policy report_dirty_quarters_admins on engine.report_dirty_quarters
  for select to authenticated using ((select public.my_role()) = 'admin');
grant select on engine.report_hours, engine.report_hour_first_contacts,
  engine.report_built_hours, engine.report_dirty_quarters to authenticated, service_role;

/** Marks dirty, as before (20261130002600), the closed local days an
    updated or deleted lead counts in (its creation day, old and new, and
    its conversion days when that changed), and now also the quarter hours
    of those same times that lie in a closed hour of today (an hour of
    engine.local_day_hours whose end is past engine.now()). A time in the
    current hour marks nothing: that hour is never rolled up before it has
    been closed for ten minutes. So an update of a lead that arrived in the
    current hour writes nothing here, as before; an update of an earlier
    lead of today upserts one quarter's mark (an existing mark is locked,
    not rewritten).

    Locking, as for the days: each upsert's `do update` locks its row
    until the updating transaction ends, and engine.rebuild_report_hours
    deletes an hour's quarters before it reads the hour's leads (a later
    statement, a later snapshot), so it waits for that transaction and sees
    its update; a mark made after the delete stays and keeps the hour
    dirty. Two transactions updating leads of the same closed quarter of
    today wait for each other's commit at its row (one statement-sized
    write each); days and then quarters are marked in ascending order. */
create or replace function engine.mark_report_day_dirty() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  clock timestamptz := engine.now();
  team_zone text := engine.time_zone();
  -- engine.local_day's and engine.local_day_bounds' expressions, inline:
  -- one look-up of the zone per row instead of one per time
  today date := (clock at time zone team_zone)::date;
  day_starts timestamptz := today::timestamp at time zone team_zone;
  times timestamptz[] := array[old.created_at];
begin
  if tg_op = 'UPDATE' then
    times := times || new.created_at;
    if old.converted_at is distinct from new.converted_at then
      times := times || old.converted_at || new.converted_at;
    end if;
  elsif old.converted_at is not null then
    times := times || old.converted_at;
  end if;
  insert into engine.report_dirty_days (day, marked_at)
  select distinct d.day, pg_catalog.now()
    from (select (t.at at time zone team_zone)::date as day from pg_catalog.unnest(times) as t (at)) d
   where d.day < today
   order by d.day
  on conflict (day) do update set marked_at = excluded.marked_at;
  -- A time in hour k of today (engine.local_day_hours: from day_starts,
  -- one hour each) whose hour has ended. The `where false` keeps an
  -- existing mark as it is (no new row version per update) but still locks
  -- it: ON CONFLICT DO UPDATE locks the conflicting row whatever its WHERE.
  insert into engine.report_dirty_quarters as q (starts, marked_at)
  select distinct pg_catalog.date_bin('15 minutes', t.at, timestamptz '2000-01-01 00:00+00'), pg_catalog.now()
    from pg_catalog.unnest(times) as t (at)
   where t.at >= day_starts
     and day_starts + (pg_catalog.floor(pg_catalog.date_part('epoch', t.at - day_starts) / 3600) + 1)
                      * interval '1 hour' <= clock
   order by 1
  on conflict (starts) do update set marked_at = excluded.marked_at where false;
  return null;
end
$$;

/** Marks dirty the closed day, or the quarter of a closed hour of today,
    of a deleted SLA move or tier-4 assignment of the log (the rows the
    rollups' `sla` and `overflow` kinds count). Log rows are deleted only
    with their lead (`on delete cascade`), whose own trigger marks the
    lead's creation time, but its log rows may lie in a later hour or day:
    before this trigger the day rollup kept counting them until that day
    was rebuilt for another reason. Inserts need nothing (a log row is
    dated engine.now(), the current hour); updates of the log only null a
    deleted caller's id, whom the report no longer lists. Locking as in
    engine.mark_report_day_dirty: the upsert holds the mark's row until the
    deleting transaction ends. */
create function engine.mark_report_log_dirty() returns trigger
language plpgsql
-- runs for whoever deletes the lead; only the owner writes the rollup
security definer
set search_path = ''
as $$
declare
  clock timestamptz := engine.now();
  team_zone text := engine.time_zone();
  today date := (clock at time zone team_zone)::date;
  day_starts timestamptz := today::timestamp at time zone team_zone;
begin
  if (old.created_at at time zone team_zone)::date < today then
    insert into engine.report_dirty_days (day, marked_at)
    values ((old.created_at at time zone team_zone)::date, pg_catalog.now())
    on conflict (day) do update set marked_at = excluded.marked_at;
  elsif old.created_at >= day_starts
        and day_starts + (pg_catalog.floor(pg_catalog.date_part('epoch', old.created_at - day_starts) / 3600) + 1)
                         * interval '1 hour' <= clock then
    insert into engine.report_dirty_quarters (starts, marked_at)
    values (pg_catalog.date_bin('15 minutes', old.created_at, timestamptz '2000-01-01 00:00+00'), pg_catalog.now())
    on conflict (starts) do update set marked_at = excluded.marked_at where false;
  end if;
  return null;
end
$$;

revoke execute on function engine.mark_report_log_dirty() from public;

create trigger assignment_logs_deleted_mark_report_dirty
  after delete on public.assignment_logs
  for each row
  when (old.reason = 'sla_reassign' or old.tier = 4)
  execute function engine.mark_report_log_dirty();

/** Rolls up today's closed hours (those of engine.local_day_hours that
    ended ten minutes ago or more, like the day rollup's grace after
    midnight: an update that began in the hour, when it was current and
    marked nothing, has long committed) that are not built yet or have a
    dirty quarter, in the current zone; first drops the hours of other days
    and of other zones. Returns how many hours were built. Called by the
    every-minute job (engine.refresh_report_days) and the migration.

    Locking: the same advisory transaction lock as
    engine.rebuild_report_days, so rebuilds of days and hours run one after
    the other. Per hour, its quarters' marks are deleted before its leads
    are read (see engine.mark_report_day_dirty for why that order is
    exact). Nothing here locks a lead. */
create function engine.rebuild_report_hours() returns integer
language plpgsql
security definer
set search_path = ''
set work_mem = '64MB'
set jit = off
as $$
declare
  team_zone text := engine.time_zone();
  clock timestamptz := engine.now();
  today date := engine.local_day(clock);
  day_starts timestamptz;
  day_ends timestamptz;
  h record;
  built integer := 0;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('engine.rebuild_report_days'));
  select b.starts, b.ends into day_starts, day_ends from engine.local_day_bounds(today, team_zone) as b;
  delete from engine.report_built_hours b
   where b.starts < day_starts or b.starts >= day_ends or b.zone <> team_zone;
  delete from engine.report_hours r
   where not exists (select from engine.report_built_hours b where b.starts = r.starts);
  delete from engine.report_hour_first_contacts f
   where not exists (select from engine.report_built_hours b where b.starts = f.starts);
  delete from engine.report_dirty_quarters q where q.starts < day_starts - interval '1 hour';

  for h in
    select g.starts, g.ends
      from engine.local_day_hours(today, team_zone) as g
     where g.ends <= clock - interval '10 minutes'
       and (not exists (select from engine.report_built_hours b where b.starts = g.starts and b.ends = g.ends)
            or exists (select from engine.report_dirty_quarters q
                        where q.starts > g.starts - interval '15 minutes' and q.starts < g.ends))
     order by g.starts
  loop
    delete from engine.report_dirty_quarters q where q.starts >= h.starts and q.starts < h.ends;
    delete from engine.report_hours r where r.starts = h.starts;
    delete from engine.report_hour_first_contacts f where f.starts = h.starts;

    insert into engine.report_hours (starts, kind, key, received, assigned, contacted, qualified, converted, lost)
    select h.starts,
           case grouping(l.caller_id, l.state, l.source)
             when 3 then 'caller' when 5 then 'state' when 6 then 'source' else 'all' end,
           case grouping(l.caller_id, l.state, l.source)
             when 3 then l.caller_id::text when 5 then l.state when 6 then l.source end,
           count(*), count(l.caller_id), count(l.contacted_at), count(l.qualified_at),
           count(l.converted_at), count(l.lost_at)
      from public.leads l
     where l.created_at >= h.starts and l.created_at < h.ends
     group by grouping sets ((l.caller_id), (l.state), (l.source), ());

    insert into engine.report_hours (starts, kind, key, received, assigned, contacted, qualified, converted, lost)
    select h.starts, 'converted_on', null, 0, 0, 0, 0, count(*), 0
      from public.leads l
     where l.converted_at >= h.starts and l.converted_at < h.ends;

    insert into engine.report_hours (starts, kind, key, received, assigned, contacted, qualified, converted, lost)
    select h.starts, 'sla', g.previous_caller_id::text, count(*), 0, 0, 0, 0, 0
      from public.assignment_logs g
     where g.reason = 'sla_reassign' and g.created_at >= h.starts and g.created_at < h.ends
     group by g.previous_caller_id;

    insert into engine.report_hours (starts, kind, key, received, assigned, contacted, qualified, converted, lost)
    select h.starts, 'overflow', g.caller_id::text, count(*), 0, 0, 0, 0, 0
      from public.assignment_logs g
     where g.tier = 4 and g.created_at >= h.starts and g.created_at < h.ends
     group by g.caller_id;

    insert into engine.report_hour_first_contacts (starts, caller_id, bucket, n, seconds)
    select h.starts, c.caller_id, engine.first_contact_bucket(c.seconds), count(*),
           pg_catalog.array_agg(c.seconds order by c.seconds)
      from (select l.caller_id, pg_catalog.date_part('epoch', l.contacted_at - l.assigned_at) as seconds
              from public.leads l
             where l.created_at >= h.starts and l.created_at < h.ends
               and l.caller_id is not null
               and l.contacted_at >= l.assigned_at) c
     group by c.caller_id, engine.first_contact_bucket(c.seconds);

    insert into engine.report_built_hours (starts, ends, zone, built_at)
    values (h.starts, h.ends, team_zone, pg_catalog.now())
    on conflict (starts) do update set ends = excluded.ends, zone = excluded.zone, built_at = excluded.built_at;
    built := built + 1;
  end loop;
  return built;
end
$$;

revoke execute on function engine.rebuild_report_hours() from public;

/** The every-minute job, as before (20261130002600: up to 31 closed days
    per run, newest first, among the dirty days, the days built in another
    zone and the last 366 not yet built; returns how many days were built),
    and then today's closed hours (engine.rebuild_report_hours; not counted
    in the result). */
create or replace function engine.refresh_report_days() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  team_zone text := engine.time_zone();
  closed_through date := engine.local_day(engine.now() - interval '10 minutes') - 1;
  d date;
  built integer := 0;
begin
  for d in
    select c.day from (
      select x.day from engine.report_dirty_days x where x.day <= closed_through
      union
      select b.day from engine.report_built_days b where b.zone <> team_zone and b.day <= closed_through
      union
      select g.day::date
        from pg_catalog.generate_series(closed_through - 365, closed_through, interval '1 day') as g (day)
       where not exists (select from engine.report_built_days b where b.day = g.day::date)
    ) c
    order by c.day desc
    limit 31
  loop
    built := built + engine.rebuild_report_days(d, d);
  end loop;
  perform engine.rebuild_report_hours();
  return built;
end
$$;

-- Today's closed hours, so the first report after this migration is fast.
select engine.rebuild_report_hours();
/** The team's report: the same answer, field for field, as migration
    20261130003100's (whose doc comment, and 20261130001900's, define every
    field), from the same day and week rollup, and now also today's closed
    hours from engine.report_hours and engine.report_hour_first_contacts
    (built in the current zone, no dirty quarter, ended by engine.now()).
    What is live: the range's days that are not covered, each whole, except
    today, of which only the hours not read from the rollup are (the
    current one, dirty ones, any not built yet), consecutive hours as one
    range; the live parts are grouped by their day as the live days were.
    Read-only; no locks beyond a select's snapshot. */
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
  clock timestamptz;
  hours timestamptz[];
  part_days date[];
  part_starts timestamptz[];
  part_ends timestamptz[];
  result jsonb;
begin
  if engine.api_role() in ('anon', 'authenticated') and public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can read reports';
  end if;
  span := engine.report_range(preset, from_day, to_day);
  team_zone := span ->> 'time_zone';
  first_day := (span ->> 'from')::date;
  last_day := (span ->> 'to')::date;
  clock := engine.now();
  today := engine.local_day(clock);
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
  -- The other days: computed live.
  select coalesce(pg_catalog.array_agg(g.day::date), '{}')
    into live
    from pg_catalog.generate_series(first_day, last_day, interval '1 day') as g (day)
   where g.day::date <> all (covered);
  -- Today's closed hours read from the hourly rollup: built in the current
  -- zone, no dirty quarter, ended by the engine's clock.
  hours := coalesce((
    select pg_catalog.array_agg(h.starts)
      from engine.local_day_hours(today, team_zone) as h
      join engine.report_built_hours b on b.starts = h.starts and b.ends = h.ends and b.zone = team_zone
     where today >= first_day and today <= last_day and h.ends <= clock
       and not exists (select from engine.report_dirty_quarters q
                        where q.starts > h.starts - interval '15 minutes' and q.starts < h.ends)), '{}');
  -- The parts read live from the leads and the log, each as its day and
  -- `[starts, ends)`: every live day but today whole, and today's hours
  -- not read from the rollup, consecutive ones as one range (usually one:
  -- the current hour and the one before). Arrays in variables, not a
  -- generate_series in the query: the planner then expects a handful of
  -- parts (not 1,000) and reads each one as an index range.
  select coalesce(pg_catalog.array_agg(p.day order by p.starts), '{}'),
         coalesce(pg_catalog.array_agg(p.starts order by p.starts), '{}'),
         coalesce(pg_catalog.array_agg(p.ends order by p.starts), '{}')
    into part_days, part_starts, part_ends
    from (
      select g.day::date as day, b.starts, b.ends
        from pg_catalog.unnest(live) as g (day)
        cross join lateral engine.local_day_bounds(g.day, team_zone) as b
       where g.day <> today
      union all
      select today, min(r.starts), max(r.ends)
        from (select h.starts, h.ends, h.k - pg_catalog.row_number() over (order by h.k) as run
                from engine.local_day_hours(today, team_zone) with ordinality as h (starts, ends, k)
               where today >= first_day and today <= last_day and h.starts <> all (hours)) r
       group by r.run
    ) p;

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
      from rows from (pg_catalog.unnest(part_days), pg_catalog.unnest(part_starts), pg_catalog.unnest(part_ends)) as d (day, starts, ends)
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
           sum(r.received) as received, sum(r.assigned) as assigned,
           sum(r.contacted) as contacted, sum(r.qualified) as qualified,
           sum(r.converted) as converted, sum(r.lost) as lost
      from (
        select r.day, r.kind, r.key, r.received::integer as received, r.assigned::integer as assigned,
               r.contacted::integer as contacted, r.qualified::integer as qualified,
               r.converted::integer as converted, r.lost::integer as lost
          from engine.report_days r
         where r.day >= first_day and r.day <= last_day and r.day <> all (live)
        union all
        -- today's closed hours
        select today, h.kind, h.key, h.received, h.assigned, h.contacted, h.qualified, h.converted, h.lost
          from engine.report_hours h
         where h.starts = any (hours)
      ) r
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
      from rows from (pg_catalog.unnest(part_days), pg_catalog.unnest(part_starts), pg_catalog.unnest(part_ends)) as d (day, starts, ends)
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
        select f.caller_id, f.bucket, f.n
          from engine.report_hour_first_contacts f
         where f.starts = any (hours)
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
            select s.seconds
              from engine.report_hour_first_contacts f
              cross join lateral pg_catalog.unnest(f.seconds) as s (seconds)
             where f.caller_id = m.caller_id and f.bucket = m.bucket and f.starts = any (hours)
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
      from rows from (pg_catalog.unnest(part_days), pg_catalog.unnest(part_starts), pg_catalog.unnest(part_ends)) as d (day, starts, ends)
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
      from rows from (pg_catalog.unnest(part_days), pg_catalog.unnest(part_starts), pg_catalog.unnest(part_ends)) as d (day, starts, ends)
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
