-- Read-only helpers for the admin dashboard.

/** Today's figures, "today" being the local date in the team's time zone:
    {day, time_zone, received, assigned, duplicates, overflow, unassigned,
     converted, conversion_rate, per_caller: [{caller_id, name, active,
     paused, assigned_today, daily_lead_limit, weight}], leads_per_hour:
     [{hour, leads}] (24 entries, local hours)}.
    received = leads created today; assigned = assignment_logs rows today
    (any reason); duplicates = leads re-sent at least once today;
    overflow = today's assignments made in tier 4; unassigned = the backlog
    now; converted = leads converted today; conversion_rate = converted /
    received (null when nothing was received). Admins only (service_role
    too); security invoker, so RLS still applies. */
create or replace function public.dashboard_today() returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  zone text := engine.time_zone();
  today date := engine.local_day(moment);
  starts timestamptz := today::timestamp at time zone zone;
  ends timestamptz := (today + 1)::timestamp at time zone zone;
  received bigint;
  converted bigint;
  result jsonb;
begin
  if current_user in ('anon', 'authenticated') and public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can read the dashboard';
  end if;
  select count(*) into received from public.leads where created_at >= starts and created_at < ends;
  select count(*) into converted from public.leads where converted_at >= starts and converted_at < ends;
  select pg_catalog.jsonb_build_object(
    'day', today,
    'time_zone', zone,
    'received', received,
    'assigned', (select count(*) from public.assignment_logs where created_at >= starts and created_at < ends),
    'duplicates', (select count(*) from public.leads where last_duplicate_at >= starts and last_duplicate_at < ends),
    'overflow', (select count(*) from public.assignment_logs where tier = 4 and created_at >= starts and created_at < ends),
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
    'leads_per_hour', (
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('hour', h, 'leads', coalesce(n.leads, 0)) order by h)
        from pg_catalog.generate_series(0, 23) as h
        left join (
          select pg_catalog.date_part('hour', created_at at time zone zone)::int as hour, count(*) as leads
            from public.leads where created_at >= starts and created_at < ends
           group by 1) n on n.hour = h)
  ) into result;
  return result;
end
$$;

revoke execute on function public.dashboard_today() from public, anon;
grant execute on function public.dashboard_today() to authenticated, service_role;
