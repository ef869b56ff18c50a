-- The caller queue ("My leads"), one page at a time, in SLA order; and each
-- caller's conversion rate today for the dashboard's load bars.
--
-- Read-only objects: nothing here writes or takes a lock beyond the
-- AccessShareLock of a plain select, so none of it can wait on the
-- assignment lock (engine.lock_assignments()) or block an ingest.

/** A caller's open leads (`new`, `contacted`, `qualified`) in the order they
    should be worked: leads still awaiting first contact first, by SLA due
    time, then the ones being followed up, by when they were assigned.

    `sla_due_at` is when the SLA rule (engine.reassign_stale_leads) may move
    the lead to another caller: `assigned_at` plus the team's `sla_minutes`,
    for leads still `new`; null once the lead was contacted (the SLA is met).
    `follow_up` is false for `new` leads and true otherwise.

    Since `sla_minutes` is one team-wide value, ordering by `assigned_at` is
    ordering by `sla_due_at`; the web app asks for
    `order=follow_up.asc,assigned_at.asc,id.asc` with `caller_id=eq.<id>`, a
    limit and an offset, which the index below serves without a sort: the
    planner inlines the view, matches `follow_up` to the index expression
    and the view's status filter to the index predicate, and stops after one
    page.

    security_invoker: the reader's own rights and the leads table's RLS
    apply, so a caller reads only its own leads and an admin every caller's.
    Read-only: only select is granted. */
create view public.caller_queue with (security_invoker = true) as
select l.id,
       l.phone,
       l.name,
       l.email,
       l.state,
       l.city,
       l.language,
       l.source,
       l.metadata,
       l.status,
       l.caller_id,
       l.assigned_at,
       l.contacted_at,
       l.qualified_at,
       l.converted_at,
       l.lost_at,
       l.status_changed_at,
       l.notes,
       l.duplicate_count,
       l.last_duplicate_at,
       l.reassign_count,
       l.created_at,
       l.updated_at,
       l.status <> 'new' as follow_up,
       case when l.status = 'new'
            then l.assigned_at + pg_catalog.make_interval(mins => (select s.sla_minutes from public.settings s))
       end as sla_due_at
  from public.leads l
 where l.status in ('new', 'contacted', 'qualified');

revoke all on public.caller_queue from public, anon, authenticated, service_role;
grant select on public.caller_queue to authenticated, service_role;

-- The queue's page: one caller's open leads, awaiting contact first, by
-- assignment time (= SLA due time). Partial, so the closed majority of a
-- caller's history (converted and lost) is not in it. Built without
-- `concurrently` because migrations run in a transaction; on a large
-- production table build it by hand with `create index concurrently` first.
create index leads_caller_queue_idx on public.leads (caller_id, (status <> 'new'), assigned_at, id)
  where status in ('new', 'contacted', 'qualified');

/** Each caller's conversion today, "today" being the local date in the
    team's time zone (as dashboard_today()):
    [{caller_id, received, converted, conversion_rate}] for every caller, by id.

    The definitions of report('today') (migration 20261130001900), per
    caller, so the dashboard and the reports never disagree:
    received = the leads created today that the caller holds now
    (`leads.caller_id`; a lead moved to another caller counts for the one
    who holds it, once); converted = those of them with `converted_at` set;
    conversion_rate = converted / received, 4 decimals, null when the caller
    received nothing today. A lead that came in yesterday and converted
    today is not in today's figures (it is in yesterday's cohort).

    Lighter than report('today'), which the dashboard would otherwise call
    on every change: one index range over `leads.created_at`
    (leads_created_at_idx), grouped by caller.

    Admins only (service_role too); security invoker, so RLS still applies. */
create function public.caller_conversion_today() returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  zone text := engine.time_zone();
  today date := engine.local_day(engine.now());
  starts timestamptz := today::timestamp at time zone zone;
  ends timestamptz := (today + 1)::timestamp at time zone zone;
  result jsonb;
begin
  if current_user in ('anon', 'authenticated') and public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can read the dashboard';
  end if;
  select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'caller_id', c.id,
           'received', coalesce(t.received, 0),
           'converted', coalesce(t.converted, 0),
           'conversion_rate', case when coalesce(t.received, 0) = 0 then null
                                   else round(t.converted::numeric / t.received, 4) end)
           order by c.id), '[]'::jsonb)
    into result
    from public.callers c
    left join (select l.caller_id, count(*) as received, count(l.converted_at) as converted
                 from public.leads l
                where l.created_at >= starts and l.created_at < ends
                  and l.caller_id is not null
                group by l.caller_id) t on t.caller_id = c.id;
  return result;
end
$$;

revoke execute on function public.caller_conversion_today() from public, anon;
grant execute on function public.caller_conversion_today() to authenticated, service_role;
