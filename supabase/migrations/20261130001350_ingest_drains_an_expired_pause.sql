-- An expired pause drains the backlog at the next ingest, oldest first.
--
-- A caller whose pause simply runs out fires no trigger (nothing is written),
-- so before this migration the leads left unassigned during the pause waited
-- for the next maintenance run (`assign_backlog`, which may be off) while
-- newer leads were assigned at once. Now `ingest_lead` and `ingest_leads`
-- drain the backlog before deciding their own leads whenever an unassigned
-- lead exists, so the oldest leads go first.
--
-- Locking: the drain runs after the call's phone locks, and takes the
-- assignment lock itself (re-entrant; the batch already holds it), so the
-- lock order stays phone locks -> assignment lock -> row locks. The check
-- for a backlog is an index probe on `leads_unassigned_created_at_idx`
-- (partial, usually empty); with no backlog nothing else changes. With a
-- backlog and nobody eligible, the drain costs one routing query per call.
--
-- Both paths drain at the same point, before any item is decided, so the
-- batch stays equal to the per-lead reference (09_batch_equivalence): within
-- one call the clock only moves forward, and eligibility changes only with
-- it. The bodies are the landed ones (…0700_ingest, …000200_set_based_batch_ingest)
-- with the drain added.

/** Ingests one lead (already normalized by the ingest service; the phone is
    re-checked). Returns `{"status": "assigned"|"duplicate"|"unassigned",
    "lead_id", "caller_id", "caller_name", "reason", "tier"}`, or
    `{"status": "invalid", "error": "..."}` and changes nothing.
    After the phone lock, a waiting backlog is drained first (oldest first). */
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
  if exists (select 1 from public.leads l where l.status = 'unassigned') then
    perform engine.drain_backlog();
  end if;
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
    assignment lock, as ingest_lead does one phone at a time. Then, if any
    lead is unassigned, the backlog is drained (engine.drain_backlog, which
    reads the clock after the lock), so an expired pause is honoured before
    this batch's leads are decided. Then engine.ingest_batch decides and
    stores the whole batch, reading the clock after the locks.

    Errors: items are validated up front. The batch then runs in one
    subtransaction; only if something still fails there (which validation
    should have caught, e.g. a constraint added later) is the batch redone
    with one subtransaction per item through the per-lead path
    (engine.ingest_valid_lead), so the failing items are reported and the
    others stored. The fast path does not pay for 100 subtransactions (more
    than 64 per transaction overflow the snapshot's subxid cache and slow
    every backend). */
create or replace function public.ingest_leads(payloads jsonb) returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  total int;
  team public.settings;
  problems text[];
  results jsonb[];
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

  -- The keys of engine.lock_phone, taken here directly (one call per phone
  -- of a plpgsql function costs more than the lock itself), sorted.
  perform pg_catalog.pg_advisory_xact_lock(1112297284, valid.key)
     from (select distinct pg_catalog.hashtext(payloads -> (ord - 1)::int ->> 'phone') as key
             from pg_catalog.generate_series(1, total) as ord
            where problems[ord] is null
            order by key) as valid;
  if exists (select 1 from pg_catalog.unnest(problems) p where p is null) then
    perform engine.lock_assignments();
    -- The backlog first, oldest first: leads left unassigned while nobody
    -- was eligible (say, until a pause ran out) go before this batch's.
    if exists (select 1 from public.leads l where l.status = 'unassigned') then
      perform engine.drain_backlog();
    end if;
  end if;
  select * into team from public.settings s where s.id;

  begin
    return engine.ingest_batch(payloads, problems, team);
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

revoke execute on function public.ingest_leads(jsonb) from public, anon, authenticated;
grant execute on function public.ingest_leads(jsonb) to service_role;
