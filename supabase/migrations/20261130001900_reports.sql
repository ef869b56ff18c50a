-- Reports: per-caller conversion, the team's funnel, leads and conversions
-- per day, and breakdowns by state and source, over a range of local days.
--
-- Read-only. Nothing here takes a lock beyond the ordinary snapshot of a
-- select: a report never waits for the assignment lock and never holds up
-- an ingest. Everything is aggregated here, set-based, so the web app
-- receives a few kilobytes whatever the number of leads.

/** The report range: which local days a report covers, in the team's time
    zone (public.settings.time_zone), as `[starts, ends)` timestamps.
    `preset` is one of
      * `today`: the local date of engine.now();
      * `7d`: the last 7 local days, today included;
      * `30d`: the last 30 local days, today included;
      * `custom`: `from_day` to `to_day`, both local dates and both included,
        at most 366 days.
    `from_day` and `to_day` go with `custom` only. Anything else is refused
    with SQLSTATE 22023 (HTTP 400) and changes nothing.
    Returns `{preset, from, to, days, time_zone, starts, ends}`; every report
    returns it, so the web app shows the range that was actually used (the
    engine's "today", not the browser's). A day that a daylight-saving change
    shortens or lengthens keeps its true length: `starts` and `ends` are the
    local midnights converted in the zone. */
create function engine.report_range(preset text, from_day date, to_day date) returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  zone text := engine.time_zone();
  today date := engine.local_day(engine.now());
  first_day date;
  last_day date;
begin
  if preset is distinct from 'custom' and (from_day is not null or to_day is not null) then
    raise exception using errcode = '22023',
      message = 'from_day and to_day go with the preset custom only',
      hint = 'use preset today, 7d or 30d alone, or custom with from_day and to_day';
  end if;
  if preset = 'today' then
    first_day := today;
  elsif preset = '7d' then
    first_day := today - 6;
  elsif preset = '30d' then
    first_day := today - 29;
  elsif preset = 'custom' then
    if from_day is null or to_day is null then
      raise exception using errcode = '22023', message = 'a custom range needs from_day and to_day',
        hint = 'local dates such as 2026-11-01, both included';
    end if;
    if to_day < from_day then
      raise exception using errcode = '22023',
        message = pg_catalog.format('the range ends (%s) before it starts (%s)', to_day, from_day);
    end if;
    if to_day - from_day + 1 > 366 then
      raise exception using errcode = '22023', message = 'a report covers at most 366 days';
    end if;
    first_day := from_day;
    last_day := to_day;
  else
    raise exception using errcode = '22023',
      message = pg_catalog.format('unknown report range %L', preset),
      hint = 'use today, 7d, 30d or custom';
  end if;
  last_day := coalesce(last_day, today);
  return pg_catalog.jsonb_build_object(
    'preset', preset,
    'from', first_day,
    'to', last_day,
    'days', last_day - first_day + 1,
    'time_zone', zone,
    'starts', first_day::timestamp at time zone zone,
    'ends', (last_day + 1)::timestamp at time zone zone);
end
$$;

grant execute on function engine.report_range(text, date, date) to authenticated, service_role;

/** The team's report over a range of local days (see engine.report_range
    for `preset`, `from_day` and `to_day`). Admins only (service_role too);
    security invoker, so RLS still applies on top of the check.

    "The leads of the range" are the leads whose `created_at` falls in
    `[starts, ends)`, the cohort that arrived in those days. Their figures
    follow each lead up to now, whatever day it moved on, so a lead that came
    in on the range's last day and converted the next morning counts as
    converted. The stages are read from the status stamps, which are set once
    and never cleared (engine.stamp_lead_status; skipping a stage stamps the
    ones it implies):
      * received: the leads of the range;
      * contacted: those with `contacted_at` set, i.e. that reached
        `contacted` or any later stage (`qualified`, `converted`);
      * qualified: those with `qualified_at` set (`qualified` or `converted`);
      * converted: those with `converted_at` set;
      * lost: those with `lost_at` set (marked `lost` at some point, even if
        reopened later);
      * conversion_rate: converted / received, 4 decimals, null when nothing
        was received.

    Returns
    `{range, funnel, per_caller, per_day, by_state, by_source}`:
      * range: engine.report_range's answer;
      * funnel: `{received, assigned, contacted, qualified, converted, lost,
        unassigned, conversion_rate}` over the leads of the range; assigned =
        those that have a caller now, unassigned = those still without one;
      * per_caller: one entry per caller (every caller, active or not, by
        id): `{caller_id, name, active, received, contacted, qualified,
        converted, lost, conversion_rate, median_first_contact_seconds,
        lost_to_sla, overflow_received}`.
          - received ... conversion_rate: the leads of the range that the
            caller holds now (`leads.caller_id`); a lead moved to another
            caller counts for the one who holds it, once, so the callers'
            received add up to the funnel's assigned;
          - median_first_contact_seconds: the median of `contacted_at -
            assigned_at` over those leads that were contacted after they
            were last assigned (`assigned_at` is the latest handover, so a
            lead that waited in the backlog or was moved on an SLA miss
            counts from when this caller got it; one contacted before a
            manual move is left out), whole seconds, null when none;
          - lost_to_sla: SLA reassignments (assignment_logs reason
            `sla_reassign`) made in the range that took a lead from the
            caller (`previous_caller_id`);
          - overflow_received: assignments to the caller made in the range
            in tier 4 (overflow: every eligible caller was at its daily
            limit), whatever the reason (a new lead, the backlog, an SLA
            move);
        the last two count assignment events in `[starts, ends)`, not the
        leads of the range;
      * per_day: one entry per local day of the range, `{day, leads,
        converted}`: leads = the leads created that day; converted = the
        leads whose `converted_at` falls on that day, whenever they arrived
        (the dashboard's "converted today", so today's figure equals it);
      * by_state, by_source: `{key, received, converted, conversion_rate}`
        over the leads of the range, grouped by `state` (the code) and by
        `source`; key null for leads without one; largest first, at most
        100 entries each.

    One pass over the leads of the range (an index range on `created_at`,
    grouped by grouping sets), one for the medians of its contacted leads,
    one range over `converted_at`, and two over the assignment log's
    `created_at` restricted to SLA moves and tier 4. */
create function public.report(preset text, from_day date default null, to_day date default null) returns jsonb
language plpgsql stable
set search_path = ''
-- A 30-day report groups a month of leads (about 330,000 at 11,000 a day):
-- with the default 4 MB the grouping sets sort on disk, and the plan's cost
-- triggers JIT compilation, which costs more than the query saves. Both
-- settings last only for this call; admins run it, one report at a time.
set work_mem = '64MB'
set jit = off
as $$
declare
  span jsonb;
  zone text;
  starts timestamptz;
  ends timestamptz;
  first_day date;
  last_day date;
  result jsonb;
begin
  if current_user in ('anon', 'authenticated') and public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can read reports';
  end if;
  span := engine.report_range(preset, from_day, to_day);
  zone := span ->> 'time_zone';
  starts := (span ->> 'starts')::timestamptz;
  ends := (span ->> 'ends')::timestamptz;
  first_day := (span ->> 'from')::date;
  last_day := (span ->> 'to')::date;

  with cohort as (
    select l.caller_id, (l.created_at at time zone zone)::date as day, l.state, l.source,
           l.contacted_at, l.qualified_at, l.converted_at, l.lost_at
      from public.leads l
     where l.created_at >= starts and l.created_at < ends
  ),
  sums as (
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
  medians as (
    select l.caller_id,
           pg_catalog.percentile_cont(0.5) within group (
             order by pg_catalog.date_part('epoch', l.contacted_at - l.assigned_at)) as seconds
      from public.leads l
     where l.created_at >= starts and l.created_at < ends
       and l.caller_id is not null
       and l.contacted_at >= l.assigned_at
     group by l.caller_id
  ),
  sla as (
    select g.previous_caller_id as caller_id, count(*) as moves
      from public.assignment_logs g
     where g.reason = 'sla_reassign' and g.created_at >= starts and g.created_at < ends
     group by g.previous_caller_id
  ),
  overflow as (
    select g.caller_id, count(*) as moves
      from public.assignment_logs g
     where g.tier = 4 and g.created_at >= starts and g.created_at < ends
     group by g.caller_id
  ),
  conversions as (
    select (l.converted_at at time zone zone)::date as day, count(*) as converted
      from public.leads l
     where l.converted_at >= starts and l.converted_at < ends
     group by 1
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
               'median_first_contact_seconds', round(m.seconds)::bigint,
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
        left join conversions v on v.day = d.day::date),
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

revoke execute on function public.report(text, date, date) from public, anon;
grant execute on function public.report(text, date, date) to authenticated, service_role;
