-- Reports from a daily rollup: public.report() reads closed days from
-- engine.report_days (and the first-contact histogram) and computes only
-- today and the days that changed since they were rolled up from the leads.
-- The answer is the same, figure for figure (the median included, see
-- engine.report_first_contacts), as the live computation of
-- 20261130001900_reports.sql, whose doc comment defines every field.
--
-- At 1,000,000 leads a 30-day report read ~330,000 leads and took 1.6-2.6 s;
-- from the rollup it reads a few thousand rollup rows plus today's leads
-- (docs/benchmarks.md).
--
--   what changes a closed day          how the rollup follows
--   an update of one of its leads      trigger marks the day dirty (below)
--   (status stamps, a reassignment,    report() computes a dirty day live;
--    state, source, created_at)        the every-minute job rebuilds it
--   a deleted lead                     same trigger
--   the team's time zone               every day was built in the old zone:
--                                      report() uses a day only if it was
--                                      built in the current zone; the job
--                                      rebuilds the others
--   a new assignment log               none: logs are dated engine.now(),
--                                      i.e. today, which is never rolled up
--   a new lead                         none: leads are dated engine.now();
--                                      the ingest path pays nothing (no
--                                      insert trigger). A lead inserted by
--                                      hand with a past created_at into a
--                                      rolled-up day (or a log likewise) is
--                                      not seen until that day is rebuilt:
--                                      run engine.rebuild_report_days.

/** One closed local day's figures, as the report aggregates them, one row
    per (day, kind, key):
      * kind `all` (key null): the day's leads (funnel and per_day `leads`);
      * kind `caller`, `state`, `source` (key = caller id as text, state
        code, source; null for leads without one): the same counts grouped;
      * kind `converted_on` (key null): `converted` = leads whose
        converted_at falls on the day (per_day `converted`), whenever they
        arrived;
      * kind `sla` (key = previous_caller_id): `received` = SLA
        reassignments logged that day that took a lead from that caller;
      * kind `overflow` (key = caller_id): `received` = tier-4 assignments
        logged that day to that caller.
    Written only by engine.rebuild_report_days, read by public.report(). A
    day's rows count only while engine.report_built_days says the day was
    built in the current zone and engine.report_dirty_days does not list it.
    public.report() is security invoker, so admins (and service_role) may
    select here, like the leads it sums: row level security lets an
    authenticated role read only when public.my_role() is `admin`. */
create table engine.report_days (
  day date not null,
  kind text not null check (kind in ('all', 'caller', 'state', 'source', 'converted_on', 'sla', 'overflow')),
  key text null,
  received bigint not null,
  assigned bigint not null,
  contacted bigint not null,
  qualified bigint not null,
  converted bigint not null,
  lost bigint not null
);

create index report_days_day_idx on engine.report_days (day);

/** The map from seconds to first contact to a histogram bucket: 8 buckets
    per factor e (each ~13% wide), monotonic, so the buckets are ordered as
    their values are. Immutable: a value always lands in the same bucket.
    No `set search_path` (every name in it is schema-qualified): a function
    with one is never inlined, and called per value it cost report() ~0.1 ms
    a lead. */
create function engine.first_contact_bucket(seconds double precision) returns integer
language sql immutable
as $$
  select pg_catalog.floor(8 * pg_catalog.ln(1 + greatest(seconds, 0)))::integer
$$;

/** Time to first contact of a closed day's leads, per (day, caller,
    bucket of engine.first_contact_bucket): how many (`n`) and the exact
    values (`seconds`, sorted), the same `contacted_at - assigned_at` that
    report() takes the median of. report() sums `n` over the range to find
    the bucket(s) holding the median's one or two middle ranks and unnests
    only those buckets' values, so the median is EXACT (not an estimate)
    while reading a few percent of the values. */
create table engine.report_first_contacts (
  day date not null,
  caller_id bigint not null,
  bucket integer not null,
  n integer not null,
  seconds double precision[] not null
);

create index report_first_contacts_caller_bucket_idx
  on engine.report_first_contacts (caller_id, bucket, day);
create index report_first_contacts_day_idx on engine.report_first_contacts (day);

/** The days rolled up, and the time zone they were cut in. A day built in
    another zone than public.settings.time_zone is not used (it is computed
    live) until rebuilt. */
create table engine.report_built_days (
  day date primary key,
  zone text not null,
  built_at timestamptz not null
);

/** Closed days whose leads changed after they were rolled up; report()
    computes them live, engine.refresh_report_days rebuilds them. One row
    per day, however many updates. */
create table engine.report_dirty_days (
  day date primary key,
  marked_at timestamptz not null
);

/** Marks dirty the closed local days an updated or deleted lead counts in:
    its creation day (old and new), and the days of its converted_at (old
    and new) when that changed. Days from today on are never marked (today
    is always computed live), so the ordinary traffic of the day, status
    updates on today's leads, writes nothing here.

    Locking: the upsert's `do update` locks the day's row until the
    updating transaction ends. That is what makes a concurrent rebuild
    exact: engine.rebuild_report_days deletes the day's mark first, which
    waits for any transaction holding the row, and only then reads the
    leads (a later statement, so a later snapshot that sees that
    transaction's update); an update after the delete inserts the mark
    again. Two transactions updating leads of the same closed day wait for
    each other's commit at this row (short: one statement-sized write);
    days are marked in ascending order so two of them cannot deadlock
    here. */
create function engine.mark_report_day_dirty() returns trigger
language plpgsql
-- runs for whoever updates the lead (an admin, a caller, service_role),
-- none of whom may write the rollup: as its owner
security definer
set search_path = ''
as $$
declare
  today date := engine.local_day(engine.now());
  days date[] := array[engine.local_day(old.created_at)];
begin
  if tg_op = 'UPDATE' then
    days := days || engine.local_day(new.created_at);
    if old.converted_at is distinct from new.converted_at then
      days := days || engine.local_day(old.converted_at) || engine.local_day(new.converted_at);
    end if;
  elsif old.converted_at is not null then
    days := days || engine.local_day(old.converted_at);
  end if;
  insert into engine.report_dirty_days (day, marked_at)
  select distinct d.day, pg_catalog.now()
    from pg_catalog.unnest(days) as d (day)
   where d.day < today
   order by d.day
  on conflict (day) do update set marked_at = excluded.marked_at;
  return null;
end
$$;

create trigger leads_mark_report_day_dirty
  after update on public.leads
  for each row
  when (old.created_at is distinct from new.created_at
        or old.caller_id is distinct from new.caller_id
        or old.assigned_at is distinct from new.assigned_at
        or old.state is distinct from new.state
        or old.source is distinct from new.source
        or old.contacted_at is distinct from new.contacted_at
        or old.qualified_at is distinct from new.qualified_at
        or old.converted_at is distinct from new.converted_at
        or old.lost_at is distinct from new.lost_at)
  execute function engine.mark_report_day_dirty();

revoke execute on function engine.mark_report_day_dirty() from public;

create trigger leads_deleted_mark_report_day_dirty
  after delete on public.leads
  for each row
  execute function engine.mark_report_day_dirty();

/** Rolls up the closed local days `first_day` to `last_day` (both
    included; days from today on are skipped), in the current zone,
    replacing what was there. Returns how many days were built. For the
    every-minute job, tests, and by hand after a lead was inserted with a
    past created_at.

    Locking: an advisory transaction lock makes two rebuilds (the job and
    a manual call) run one after the other, so a day's rows are never
    written twice. Per day, the dirty mark is deleted before the leads are
    read (see engine.mark_report_day_dirty for why that order is exact);
    each statement reads with its own snapshot (read committed). Nothing
    here locks a lead: ingest and status updates never wait for a rebuild,
    except an update of a lead of the day being rebuilt, at that day's
    dirty mark, until the rebuild commits. */
create function engine.rebuild_report_days(first_day date, last_day date) returns integer
language plpgsql
-- writes the rollup, which only its owner may; EXECUTE is service_role's only
security definer
set search_path = ''
-- a day's leads are grouped in memory (see public.report); no JIT for a day
set work_mem = '64MB'
set jit = off
as $$
declare
  team_zone text := engine.time_zone();
  today date := engine.local_day(engine.now());
  d date;
  starts timestamptz;
  ends timestamptz;
  built integer := 0;
begin
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('engine.rebuild_report_days'));
  for d in select g.day::date from pg_catalog.generate_series(first_day, least(last_day, today - 1), interval '1 day') as g (day)
  loop
    starts := d::timestamp at time zone team_zone;
    ends := (d + 1)::timestamp at time zone team_zone;
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
  end loop;
  return built;
end
$$;

revoke execute on function engine.rebuild_report_days(date, date) from public;
grant execute on function engine.rebuild_report_days(date, date) to service_role;

/** The every-minute job: rebuilds up to 31 days per run, newest first,
    among the dirty days, the days built in another zone, and the closed
    days of the last 366 not yet built. The day that just ended is closed
    ten minutes after midnight, not at once: an update that began before
    midnight (when its lead's day was still today, so it marked nothing)
    has then long committed, and the rebuild sees it. Returns how many days
    were built. */
create function engine.refresh_report_days() returns integer
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
  return built;
end
$$;

revoke execute on function engine.refresh_report_days() from public;
grant execute on function engine.refresh_report_days() to service_role;

-- Who reads the rollup: public.report() runs as its caller (security
-- invoker) like before, so the admins who may read every lead may read the
-- rollup of them; any other authenticated user reads nothing (RLS), and
-- nobody but the owner writes.
alter table engine.report_days enable row level security;
alter table engine.report_first_contacts enable row level security;
alter table engine.report_built_days enable row level security;
alter table engine.report_dirty_days enable row level security;

create policy report_days_admins on engine.report_days
  for select to authenticated using ((select public.my_role()) = 'admin');
create policy report_first_contacts_admins on engine.report_first_contacts
  for select to authenticated using ((select public.my_role()) = 'admin');
create policy report_built_days_admins on engine.report_built_days
  for select to authenticated using ((select public.my_role()) = 'admin');
create policy report_dirty_days_admins on engine.report_dirty_days
  for select to authenticated using ((select public.my_role()) = 'admin');

grant select on engine.report_days, engine.report_first_contacts,
  engine.report_built_days, engine.report_dirty_days to authenticated, service_role;
grant execute on function engine.first_contact_bucket(double precision) to authenticated, service_role;

/** The team's report: the same answer, field for field, as before (see the
    doc comment of 20261130001900_reports.sql for every definition), from
    the rollup for every day of the range that is closed (before today),
    built in the current zone and not dirty ("covered"), and live from the
    leads and the assignment log for the others (today, dirty days, days
    never built or built in another zone), each live day read as its own
    index range on `created_at`. The median time to first contact is exact:
    the summed first-contact histogram locates the bucket(s) of the middle
    rank(s), and only those buckets' values are read and ranked.

    Read-only; no locks beyond a select's snapshot. security invoker, as
    before: RLS applies to the leads, the logs and the rollup alike. */
create or replace function public.report(preset text, from_day date default null, to_day date default null) returns jsonb
language plpgsql stable
set search_path = ''
-- Same settings as before: the live part may still group a month of leads
-- (a zone change makes every day live until the job rebuilt them).
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
  if current_user in ('anon', 'authenticated') and public.my_role() is distinct from 'admin' then
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
         coalesce(pg_catalog.array_agg(g.day::date::timestamp at time zone team_zone order by g.day), '{}'),
         coalesce(pg_catalog.array_agg((g.day::date + 1)::timestamp at time zone team_zone order by g.day), '{}')
    into live, live_starts, live_ends
    from pg_catalog.generate_series(first_day, last_day, interval '1 day') as g (day)
   where g.day::date <> all (covered);

  with cohort as (
    select l.caller_id, d.day, l.state, l.source,
           l.contacted_at, l.qualified_at, l.converted_at, l.lost_at
      from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
      join public.leads l on l.created_at >= d.starts and l.created_at < d.ends
  ),
  live_sums as (
    -- grouping() has a bit set for each column the row is NOT grouped by:
    -- 7 = per caller, 11 = per day, 13 = per state, 14 = per source, 15 = all.
    select grouping(c.caller_id, c.day, c.state, c.source) as set_id,
           c.caller_id, c.day, c.state, c.source,
           count(*) as received,
           count(c.caller_id) as assigned,
           count(c.contacted_at) as contacted,
           count(c.qualified_at) as qualified,
           count(c.converted_at) as converted,
           count(c.lost_at) as lost
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
    select l.caller_id, pg_catalog.date_part('epoch', l.contacted_at - l.assigned_at) as seconds
      from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
      join public.leads l on l.created_at >= d.starts and l.created_at < d.ends
     where l.caller_id is not null
       and l.contacted_at >= l.assigned_at
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
        select c.caller_id, engine.first_contact_bucket(c.seconds), 1
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
         where c.caller_id = m.caller_id and engine.first_contact_bucket(c.seconds) = m.bucket
      ) v
  ),
  medians as (
    select r.caller_id,
           min(r.seconds) filter (where r.rank = r.lo) as lo_seconds,
           min(r.seconds) filter (where r.rank = r.hi) as hi_seconds
      from ranked r
     group by r.caller_id
  ),
  sla as (
    select s.caller_id, sum(s.moves) as moves
      from (
        select g.previous_caller_id as caller_id, count(*) as moves
          from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
          join public.assignment_logs g on g.created_at >= d.starts and g.created_at < d.ends
         where g.reason = 'sla_reassign'
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
          from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
          join public.assignment_logs g on g.created_at >= d.starts and g.created_at < d.ends
         where g.tier = 4
         group by g.caller_id
        union all
        select r.key::bigint, r.received from rolled r where r.kind = 'overflow'
      ) s
     group by s.caller_id
  ),
  conversions as (
    select (l.converted_at at time zone team_zone)::date as day, count(*) as converted
      from rows from (pg_catalog.unnest(live), pg_catalog.unnest(live_starts), pg_catalog.unnest(live_ends)) as d (day, starts, ends)
      join public.leads l on l.converted_at >= d.starts and l.converted_at < d.ends
     group by 1
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

/** The job: every minute, like the sweeps (see
    20261130001600_sweeps_on_pg_cron.sql for where pg_cron exists and who
    runs its jobs); no job where pg_cron is not installed in this
    database. No second NOTICE there: …1600's already says that no job
    runs in this database. Without the job report() stays exact (a day
    never built or dirty is computed live), only slower; the ingest
    service's maintenance loop does not refresh the rollup. */
do $$
begin
  if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    return;
  end if;
  perform cron.schedule('refresh_report_days', '* * * * *', 'select engine.refresh_report_days()');
end
$$;

-- Roll up the closed days that have leads (the last 366), so the first
-- report after this migration is already fast. An empty database builds
-- nothing; the job builds the remaining closed days.
select engine.rebuild_report_days(x.day, x.day)
  from (select distinct engine.local_day(l.created_at) as day
          from public.leads l
         where l.created_at >= engine.now() - interval '367 days') x
 order by x.day;
