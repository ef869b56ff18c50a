-- Moving leads after their first decision: backlog drain, SLA sweep, and
-- manual reassignment by an admin.

/** Assigns every unassigned lead, oldest first, with the normal routing and
    reason `backlog`. Stops at the first lead nobody can take (then nobody
    is eligible for any of them). Returns `{"moved": n, "leads": [ids]}`. */
create or replace function engine.drain_backlog() returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  day date := engine.local_day(moment);
  lead record;
  choice record;
  moved bigint[] := '{}';
begin
  perform engine.lock_assignments();
  -- Under the assignment lock no other transaction assigns these leads; the
  -- row lock only waits out a concurrent duplicate-counter or admin edit.
  for lead in
    select l.id, l.state, l.language
      from public.leads l
     where l.status = 'unassigned'
     order by l.created_at, l.id
       for update
  loop
    choice := engine.choose_caller(lead.state, lead.language, null, moment, day);
    exit when choice.caller_id is null;
    perform engine.book(choice.caller_id, day, moment);
    update public.leads
       set caller_id = choice.caller_id, status = 'new', assigned_at = moment
     where id = lead.id;
    insert into public.assignment_logs (lead_id, caller_id, reason, tier, candidates, created_at)
    values (lead.id, choice.caller_id, 'backlog', choice.tier, choice.candidates, moment);
    moved := moved || lead.id;
  end loop;
  if pg_catalog.cardinality(moved) > 0 then
    perform engine.publish_last_assigned(day);
  end if;
  return pg_catalog.jsonb_build_object('moved', pg_catalog.cardinality(moved), 'leads', pg_catalog.to_jsonb(moved));
end
$$;

/** Assigns the backlog of unassigned leads. For the maintenance job; also
    run by trigger when a caller is created, activated or unpaused. */
create or replace function public.assign_backlog() returns jsonb
language sql volatile
set search_path = ''
as $$
  select engine.drain_backlog()
$$;

/** The SLA rule: a lead still `new` `sla_minutes` after its assignment goes
    to a different eligible caller (never its current one; overflow allowed),
    logged as `sla_reassign`, at most `max_reassignments` times per lead.
    Safe to call from several API instances at once: the assignment lock
    serializes the sweeps, and SKIP LOCKED leaves alone a lead whose caller
    is updating it right now (the next sweep sees the outcome).
    At most 1000 leads per call. Returns `{"moved": n, "leads": [ids]}`. */
create or replace function public.reassign_stale_leads() returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  day date := engine.local_day(moment);
  settings public.settings;
  lead record;
  choice record;
  moved bigint[] := '{}';
begin
  perform engine.lock_assignments();
  select * into settings from public.settings s where s.id;
  for lead in
    select l.id, l.caller_id, l.state, l.language
      from public.leads l
     where l.status = 'new'
       and l.caller_id is not null
       and l.assigned_at <= moment - pg_catalog.make_interval(mins => settings.sla_minutes)
       and l.reassign_count < settings.max_reassignments
     order by l.assigned_at, l.id
     limit 1000
       for update skip locked
  loop
    choice := engine.choose_caller(lead.state, lead.language, lead.caller_id, moment, day);
    continue when choice.caller_id is null;
    perform engine.book(choice.caller_id, day, moment);
    update public.leads
       set caller_id = choice.caller_id, assigned_at = moment, reassign_count = reassign_count + 1
     where id = lead.id;
    insert into public.assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, candidates, created_at)
    values (lead.id, choice.caller_id, lead.caller_id, 'sla_reassign', choice.tier, choice.candidates, moment);
    moved := moved || lead.id;
  end loop;
  if pg_catalog.cardinality(moved) > 0 then
    perform engine.publish_last_assigned(day);
  end if;
  return pg_catalog.jsonb_build_object('moved', pg_catalog.cardinality(moved), 'leads', pg_catalog.to_jsonb(moved));
end
$$;

/** An admin hands a lead to a caller of their choice (any existing caller,
    even one paused or at its limit), logged as `manual` with `note`.
    Security definer: it writes caller_daily_loads and assignment_logs, which
    no API role may write directly (the log is an audit trail), and it checks
    the admin role itself first. search_path is fixed. */
create or replace function public.reassign_lead(p_lead_id bigint, p_caller_id bigint, p_note text default null)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  day date := engine.local_day(moment);
  lead record;
  target record;
begin
  if public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can reassign leads';
  end if;
  perform engine.lock_assignments();
  select c.id, c.name into target from public.callers c where c.id = p_caller_id;
  if not found then
    raise exception using errcode = 'PT404', message = pg_catalog.format('caller %s does not exist', p_caller_id);
  end if;
  select l.id, l.caller_id into lead from public.leads l where l.id = p_lead_id for update;
  if not found then
    raise exception using errcode = 'PT404', message = pg_catalog.format('lead %s does not exist', p_lead_id);
  end if;
  if lead.caller_id is not distinct from p_caller_id then
    raise exception using errcode = 'P0001',
      message = pg_catalog.format('lead %s is already assigned to caller %s', p_lead_id, p_caller_id);
  end if;
  perform engine.book(target.id, day, moment);
  update public.leads
     set caller_id = target.id, assigned_at = moment,
         status = case when status = 'unassigned' then 'new' else status end
   where id = lead.id;
  insert into public.assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, candidates, note, created_at)
  values (lead.id, target.id, lead.caller_id, 'manual', null, '[]', p_note, moment);
  perform engine.publish_last_assigned(day);
  return pg_catalog.jsonb_build_object(
    'status', 'assigned', 'lead_id', lead.id, 'caller_id', target.id, 'caller_name', target.name,
    'previous_caller_id', lead.caller_id, 'reason', 'manual', 'tier', null);
end
$$;

revoke execute on function public.assign_backlog(), public.reassign_stale_leads() from public, anon, authenticated;
grant execute on function public.assign_backlog(), public.reassign_stale_leads() to service_role;
revoke execute on function public.reassign_lead(bigint, bigint, text) from public, anon;
grant execute on function public.reassign_lead(bigint, bigint, text) to authenticated, service_role;
