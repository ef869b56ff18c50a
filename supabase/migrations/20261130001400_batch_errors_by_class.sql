-- Only a fault in an item's own data makes that item `invalid`.
--
-- Before this migration the item-by-item fallback of `ingest_leads` answered
-- any error of an item as `{"status":"invalid","error":sqlerrm}`: a
-- deadlock, a serialization failure, a lock timeout or a full disk became a
-- permanent 422 for the sender (who does not retry a 4xx), with the raw
-- database text in the answer. Now only SQLSTATE classes 22 (data exception)
-- and 23 (integrity constraint violation) raised while storing the item mark
-- it `invalid`, with a stable code; every other error propagates and fails
-- the call. The fast path's handler is narrowed the same way, so a transient
-- fault there fails the call at once instead of being retried item by item
-- under the same locks. (`query_canceled`, a statement timeout, was never
-- caught: plpgsql's OTHERS excludes it.) Locking is unchanged.

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
    subtransaction; only if a fault in some item's data still shows there
    (SQLSTATE class 22 or 23, which validation should have caught, e.g. a
    constraint added later) is the batch redone with one subtransaction per
    item through the per-lead path (engine.ingest_valid_lead). An item
    failing there with class 22 or 23 is answered `invalid` with a stable
    code, `invalid_lead_value` (22) or `lead_violates_constraint` (23),
    never the database's text, and the others are stored. Any other error
    (serialization failure, deadlock, lock or statement timeout, out of
    memory, ...) is not the lead's fault: it fails the whole call, so
    nothing is stored and the service answers 503 for the sender to retry. The fast path does not pay for 100 subtransactions (more
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
  exception when data_exception or integrity_constraint_violation then
    null; -- some item's data: find it item by item below
  end;

  results := '{}';
  for i in 1 .. total loop
    if problems[i] is not null then
      results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', problems[i]);
      continue;
    end if;
    begin
      results := results || (engine.ingest_valid_lead(payloads -> (i - 1), team, true)).result;
    exception
      when data_exception then
        results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', 'invalid_lead_value');
      when integrity_constraint_violation then
        results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', 'lead_violates_constraint');
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
