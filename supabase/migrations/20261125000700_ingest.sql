-- Ingest RPCs: store a lead once per phone and window, and assign it.

/** Why `payload` is not a storable lead, or null when it is. Pure: no
    writes, so a batch can check every item before taking any lock. */
create or replace function engine.lead_payload_error(payload jsonb) returns text
language plpgsql immutable
set search_path = ''
as $$
declare
  field text;
  value jsonb;
begin
  if payload is null or pg_catalog.jsonb_typeof(payload) is distinct from 'object' then
    return 'each lead must be a JSON object';
  end if;
  value := payload -> 'phone';
  if value is null or pg_catalog.jsonb_typeof(value) = 'null' then
    return 'phone is required';
  end if;
  if pg_catalog.jsonb_typeof(value) <> 'string' then
    return 'phone must be a string';
  end if;
  if (value #>> '{}') !~ '^\+[1-9][0-9]{6,14}$' then
    return pg_catalog.format('phone %s is not in E.164 form (+ and 7 to 15 digits)', value);
  end if;
  foreach field in array array['name', 'email', 'state', 'city', 'language', 'source'] loop
    value := payload -> field;
    if value is not null and pg_catalog.jsonb_typeof(value) not in ('null', 'string') then
      return pg_catalog.format('%s must be a string or null', field);
    end if;
    if pg_catalog.length(value #>> '{}') > 1000 then
      return pg_catalog.format('%s is longer than 1000 characters', field);
    end if;
  end loop;
  value := payload -> 'metadata';
  if value is not null and pg_catalog.jsonb_typeof(value) not in ('null', 'object') then
    return 'metadata must be a JSON object or null';
  end if;
  return null;
end
$$;

/** Stores (or recognises as duplicate) one valid lead. The caller holds the
    lead's phone lock, so no other transaction can insert this phone until
    ours ends, and this statement's snapshot sees any such lead committed
    before the lock was granted. `team` is the settings row, read once per
    call of ingest_lead / ingest_leads rather than once per lead.

    `result` is the item's answer. For an assignment, `log_candidates` and
    `decided_at` are the candidate snapshot and time of the decision; the
    assignment_logs row is inserted here when `write_log`, else the caller
    (a batch, still holding the assignment lock) inserts all of its log rows
    in decision order with one statement before it returns. */
create or replace function engine.ingest_valid_lead(
  payload jsonb, team public.settings, write_log boolean,
  out result jsonb, out log_candidates json, out decided_at timestamptz
)
language plpgsql volatile
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  day date := (moment at time zone team.time_zone)::date;
  lead_phone text := payload ->> 'phone';
  lead_state text := nullif(pg_catalog.btrim(payload ->> 'state'), '');
  lead_language text := pg_catalog.lower(nullif(pg_catalog.btrim(payload ->> 'language'), ''));
  original record;
  choice record;
  reason text;
  new_lead_id bigint;
begin
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
  -- Assignments, not `select * into`: a function call in an assignment is a
  -- simple expression, evaluated without starting an executor per lead.
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

/** Ingests one lead (already normalized by the ingest service; the phone is
    re-checked). Returns `{"status": "assigned"|"duplicate"|"unassigned",
    "lead_id", "caller_id", "caller_name", "reason", "tier"}`, or
    `{"status": "invalid", "error": "..."}` and changes nothing. */
create or replace function public.ingest_lead(payload jsonb) returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  problem text := engine.lead_payload_error(payload);
  team public.settings;
  result jsonb;
begin
  if problem is not null then
    return pg_catalog.jsonb_build_object('status', 'invalid', 'error', problem);
  end if;
  perform engine.lock_phone(payload ->> 'phone');
  select * into team from public.settings s where s.id;
  result := (engine.ingest_valid_lead(payload, team, true)).result;
  if result ->> 'status' = 'assigned' then
    perform engine.publish_last_assigned(engine.local_day(engine.now()));
  end if;
  return result;
end
$$;

/** Ingests an array of leads in one transaction and returns an array of
    results in the same order (each as from ingest_lead). An invalid item
    gets `{"status":"invalid","error":...}` and does not affect the others.

    Locks: every valid item's phone lock first, in ascending key order (so
    two batches cannot deadlock on each other's phones), then the
    assignment lock, as ingest_lead does one phone at a time.

    Errors: items are validated up front. The writes then run in one
    subtransaction; only if something still fails there (which validation
    should have caught) is the batch redone with one subtransaction per item,
    so the fast path does not pay for 100 subtransactions (more than 64 per
    transaction overflow the snapshot's subxid cache and slow every backend). */
create or replace function public.ingest_leads(payloads jsonb) returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  total int;
  team public.settings;
  problems text[];
  results jsonb[];
  snapshots json[];
  decided timestamptz[];
  outcome record;
  i int;
begin
  if payloads is null or pg_catalog.jsonb_typeof(payloads) is distinct from 'array' then
    raise exception using errcode = '22023', message = 'payloads must be a JSON array of lead objects';
  end if;
  total := pg_catalog.jsonb_array_length(payloads);
  if total > 1000 then
    raise exception using errcode = '22023',
      message = pg_catalog.format('a batch holds at most 1000 leads, got %s', total);
  end if;
  if total = 0 then
    return '[]'::jsonb;
  end if;

  select pg_catalog.array_agg(engine.lead_payload_error(item) order by ord)
    into problems
    from pg_catalog.jsonb_array_elements(payloads) with ordinality as t(item, ord);

  perform engine.lock_phone(phone)
     from (select distinct payloads -> (ord - 1)::int ->> 'phone' as phone,
                  pg_catalog.hashtext(payloads -> (ord - 1)::int ->> 'phone') as key
             from pg_catalog.generate_series(1, total) as ord
            where problems[ord] is null
            order by key) as valid;
  if exists (select 1 from pg_catalog.unnest(problems) p where p is null) then
    perform engine.lock_assignments();
  end if;
  select * into team from public.settings s where s.id;

  begin
    results := '{}';
    snapshots := '{}';
    decided := '{}';
    for i in 1 .. total loop
      if problems[i] is not null then
        results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', problems[i]);
        snapshots := snapshots || null::json;
        decided := decided || null::timestamptz;
      else
        outcome := engine.ingest_valid_lead(payloads -> (i - 1), team, false);
        results := results || outcome.result;
        snapshots := snapshots || outcome.log_candidates;
        decided := decided || outcome.decided_at;
      end if;
    end loop;
    -- The batch's assignment_logs rows, in decision order, in one statement
    -- (a multi-row insert costs well under half as much per row as one insert
    -- per lead). Still under the assignment lock, so log ids keep following
    -- the decision order; each row carries the snapshot and time its
    -- decision saw. Nothing reads the log to decide, so writing it after the
    -- batch's decisions changes no decision.
    insert into public.assignment_logs (lead_id, caller_id, reason, tier, candidates, created_at)
    select (r ->> 'lead_id')::bigint, (r ->> 'caller_id')::bigint, r ->> 'reason', (r ->> 'tier')::int, c, d
      from rows from (pg_catalog.unnest(results), pg_catalog.unnest(snapshots), pg_catalog.unnest(decided))
           with ordinality as t(r, c, d, ord)
     where r ->> 'status' = 'assigned'
     order by ord;
    perform engine.publish_last_assigned(engine.local_day(engine.now()));
    return pg_catalog.to_jsonb(results);
  exception when others then
    null; -- fall through to the item-by-item path below
  end;

  results := '{}';
  for i in 1 .. total loop
    if problems[i] is not null then
      results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', problems[i]);
      continue;
    end if;
    begin
      results := results || (engine.ingest_valid_lead(payloads -> (i - 1), team, true)).result;
    exception when others then
      results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', sqlerrm);
    end;
  end loop;
  if exists (select 1 from pg_catalog.unnest(problems) p where p is null) then
    perform engine.publish_last_assigned(engine.local_day(engine.now()));
  end if;
  return pg_catalog.to_jsonb(results);
end
$$;

revoke execute on function public.ingest_lead(jsonb), public.ingest_leads(jsonb) from public, anon, authenticated;
grant execute on function public.ingest_lead(jsonb), public.ingest_leads(jsonb) to service_role;
