-- Every engine path reads the clock after it holds the assignment lock.
--
-- Before this migration, `ingest_lead`, the backlog drain, the SLA sweep and
-- the manual move read `engine.now()` when they started, then waited for the
-- assignment lock. A decision made after a long wait was stamped with the
-- earlier time: near local midnight a lead decided (in lock order) after
-- another lead of the new day could be booked on the previous day, so the new
-- day's cap could be exceeded and `last_assigned_at` could go backwards.
--
-- Now each path takes its locks first and reads the clock in a later
-- statement. The order of lock grants is the order of decisions, and the
-- clock is read inside that order, so decision times are non-decreasing in
-- the order of decisions and each decision is booked on the day it was made.
-- The bodies below are the landed ones (…0700_ingest, …0800_reassignment)
-- with only the clock reads moved.

/** Stores (or recognises as duplicate) one valid lead; the per-lead reference
    path, used by `ingest_lead` and by the item-by-item fallback of
    `ingest_leads`. The caller holds the lead's phone lock, so no other
    transaction can insert this phone until ours ends, and this statement's
    snapshot sees any such lead committed before the lock was granted. `team`
    is the settings row, read once per call.

    Clock: the duplicate check uses the time read after the phone lock; a
    lead that is not a duplicate is decided, booked and stamped with the time
    read after the assignment lock is granted.

    `result` is the item's answer. For an assignment, `log_candidates` and
    `decided_at` are the candidate snapshot and time of the decision; the
    assignment_logs row is inserted here when `write_log`. */
create or replace function engine.ingest_valid_lead(
  payload jsonb, team public.settings, write_log boolean,
  out result jsonb, out log_candidates json, out decided_at timestamptz
)
language plpgsql volatile
set search_path = ''
as $$
declare
  moment timestamptz;
  day date;
  lead_phone text := payload ->> 'phone';
  lead_state text := nullif(pg_catalog.btrim(payload ->> 'state'), '');
  lead_language text := pg_catalog.lower(nullif(pg_catalog.btrim(payload ->> 'language'), ''));
  original record;
  choice record;
  reason text;
  new_lead_id bigint;
begin
  moment := engine.now();
  select l.id, l.caller_id, c.name as caller_name
    into original
    from public.leads l
    left join public.callers c on c.id = l.caller_id
   where l.phone = lead_phone
     and l.created_at > moment - team.duplicate_window
   order by l.created_at desc
   limit 1;
  if found then
    update public.leads
       set duplicate_count = duplicate_count + 1, last_duplicate_at = moment
     where id = original.id;
    result := pg_catalog.jsonb_build_object(
      'status', 'duplicate', 'lead_id', original.id, 'caller_id', original.caller_id,
      'caller_name', original.caller_name, 'reason', null, 'tier', null);
    return;
  end if;

  -- Taken even when nobody turns out eligible: a caller being activated
  -- concurrently then either is seen here or drains this lead after we commit.
  perform engine.lock_assignments();
  -- The decision's time: read after the lock was granted, so it is not
  -- earlier than any decision made before ours.
  moment := engine.now();
  day := (moment at time zone team.time_zone)::date;
  choice := engine.choose_caller(lead_state, lead_language, null, moment, day);

  if choice.caller_id is not null then
    perform engine.book(choice.caller_id, day, moment);
  end if;

  insert into public.leads (
    phone, name, email, state, city, language, source, metadata,
    status, caller_id, assigned_at, created_at, updated_at)
  values (
    lead_phone,
    nullif(pg_catalog.btrim(payload ->> 'name'), ''),
    nullif(pg_catalog.btrim(payload ->> 'email'), ''),
    lead_state,
    nullif(pg_catalog.btrim(payload ->> 'city'), ''),
    lead_language,
    nullif(pg_catalog.btrim(payload ->> 'source'), ''),
    coalesce(nullif(payload -> 'metadata', 'null'::jsonb), '{}'::jsonb),
    case when choice.caller_id is null then 'unassigned' else 'new' end,
    choice.caller_id,
    case when choice.caller_id is null then null else moment end,
    moment, moment)
  returning id into new_lead_id;

  if choice.caller_id is null then
    result := pg_catalog.jsonb_build_object(
      'status', 'unassigned', 'lead_id', new_lead_id, 'caller_id', null,
      'caller_name', null, 'reason', null, 'tier', null);
    return;
  end if;

  reason := case choice.tier when 1 then 'state_match' when 2 then 'global' else 'overflow' end;
  if write_log then
    insert into public.assignment_logs (lead_id, caller_id, reason, tier, candidates, created_at)
    values (new_lead_id, choice.caller_id, reason, choice.tier, choice.candidates, moment);
  end if;

  result := pg_catalog.jsonb_build_object(
    'status', 'assigned', 'lead_id', new_lead_id, 'caller_id', choice.caller_id,
    'caller_name', choice.caller_name, 'reason', reason, 'tier', choice.tier);
  log_candidates := choice.candidates;
  decided_at := moment;
end
$$;

/** Assigns every unassigned lead, oldest first, with the normal routing and
    reason `backlog`. Stops at the first lead nobody can take (then nobody
    is eligible for any of them). Returns `{"moved": n, "leads": [ids]}`.
    The clock is read after the assignment lock is granted. */
create or replace function engine.drain_backlog() returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  moment timestamptz;
  day date;
  lead record;
  choice record;
  moved bigint[] := '{}';
begin
  perform engine.lock_assignments();
  moment := engine.now();
  day := engine.local_day(moment);
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

/** The SLA rule: a lead still `new` `sla_minutes` after its assignment goes
    to a different eligible caller (never its current one; overflow allowed),
    logged as `sla_reassign`, at most `max_reassignments` times per lead.
    Safe to call from several API instances at once: the assignment lock
    serializes the sweeps, and SKIP LOCKED leaves alone a lead whose caller
    is updating it right now (the next sweep sees the outcome).
    At most 1000 leads per call. Returns `{"moved": n, "leads": [ids]}`.
    The clock is read after the assignment lock is granted, so "stale" is
    judged at the time the sweep actually decides. */
create or replace function public.reassign_stale_leads() returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  moment timestamptz;
  day date;
  settings public.settings;
  lead record;
  choice record;
  moved bigint[] := '{}';
begin
  perform engine.lock_assignments();
  moment := engine.now();
  day := engine.local_day(moment);
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

revoke execute on function public.reassign_stale_leads() from public, anon, authenticated;
grant execute on function public.reassign_stale_leads() to service_role;

/** An admin hands a lead to a caller of their choice (any existing caller,
    even one paused or at its limit), logged as `manual` with `note`.
    Security definer: it writes caller_daily_loads and assignment_logs, which
    no API role may write directly (the log is an audit trail), and it checks
    the admin role itself first. search_path is fixed. The clock is read
    after the assignment lock is granted. */
create or replace function public.reassign_lead(p_lead_id bigint, p_caller_id bigint, p_note text default null)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  moment timestamptz;
  day date;
  lead record;
  target record;
begin
  if public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can reassign leads';
  end if;
  perform engine.lock_assignments();
  moment := engine.now();
  day := engine.local_day(moment);
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

revoke execute on function public.reassign_lead(bigint, bigint, text) from public, anon;
grant execute on function public.reassign_lead(bigint, bigint, text) to authenticated, service_role;
