-- A conflict is not the lead's fault: ingest_leads answers `invalid` only
-- for faults in an item's own data.
--
-- Until now `ingest_leads` (…001500) caught all of SQLSTATE class 23 as the
-- item's fault, in the batch and item by item. A 23505 (unique) or 23503
-- (reference, as engine.check_references_exist raises it) inside the engine
-- says that a row written concurrently conflicts: the engine's locks are
-- meant to make that impossible, but if it ever happens the lead is valid
-- and a retry stores it. Answered `invalid` it became a 422 for a webhook
-- sender, who does not retry a 4xx, and for a CSV import a refusal stored
-- in engine.lead_imports and replayed on every re-import: a valid lead
-- refused for our own fault. Now only class 22 (data exception), 23502
-- (not null) and 23514 (check) are the item's data; the rest of class 23
-- fails the whole call like a deadlock does, nothing is stored, and the
-- ingest service answers 503 with Retry-After (its classifier draws the
-- same line, crates/api/src/rpc.rs).
--
-- The function is restated whole from …001500 with only the two handlers
-- and the doc comment's error paragraph changed; its grants are kept by
-- `create or replace`.

/** Ingests an array of leads in one transaction and returns an array of
    results in the same order (each as from ingest_lead). An invalid item
    gets `{"status":"invalid","error":...}` and does not affect the others.

    Locks: every valid item's phone lock first, in ascending key order (so
    two batches cannot deadlock on each other's phones); then, if any item
    carries a delivery reference, the delivery locks of its (sender, key)
    pairs in ascending key order; then the assignment lock, as ingest_lead
    does one phone at a time. Then, if any lead is unassigned, the backlog
    is drained (engine.drain_backlog, which reads the clock after the lock),
    so an expired pause is honoured before this batch's leads are decided.
    Then engine.ingest_batch decides and stores the whole batch, reading the
    clock after the locks.

    Delivery references: read after the delivery locks (one statement for
    the whole batch), each item is either `idempotency_key_reused` (a live
    row of its sender and key, or an earlier item of this call with them,
    has another body hash), or answered from engine.deliveries (a replay),
    or a repeat of an earlier item of this call with the same reference
    (answered like it), or processed.
    Only processed items reach engine.ingest_batch (the others are passed
    as if invalid and their answers replaced afterwards); their answers are
    stored with one insert, in this transaction.

    Errors: items are validated up front. The batch then runs in one
    subtransaction; only if a fault in some item's own data still shows
    there (SQLSTATE class 22, or 23502 not null / 23514 check, which
    validation should have caught, e.g. a constraint added later) is the
    batch redone with one subtransaction per item through the per-lead
    path (engine.ingest_valid_lead). An item failing there with one of
    those is answered `invalid` with a stable code, `invalid_lead_value`
    (22) or `lead_violates_constraint` (23502, 23514), never the
    database's text, and the others are stored. Any other error is not the
    lead's fault and fails the whole call, so nothing is stored and the
    service answers 503 for the sender to retry: a serialization failure,
    deadlock, lock or statement timeout, out of memory, a malformed
    delivery reference, and the rest of class 23 (23505 unique, 23503
    reference, 23P01 exclusion, 23001 restrict), which say a row written
    concurrently conflicts, not that the lead is wrong. The fast path does not pay for 100
    subtransactions (more than 64 per transaction overflow the snapshot's
    subxid cache and slow every backend). */
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
  answers jsonb;
  -- Delivery references, per item k (1-based); all null when none has one.
  refs jsonb[];
  keyed boolean;
  fixed jsonb[];   -- the answer decided from engine.deliveries or an earlier item's reference
  copies int[];    -- the earlier, processed item with the same reference and body
  work text[];     -- problems, plus 'answered' for items not to be processed
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

  select pg_catalog.array_agg(engine.lead_payload_error(t.item) order by t.ord),
         pg_catalog.array_agg(nullif(t.item -> 'delivery', 'null'::jsonb) order by t.ord)
    into problems, refs
    from pg_catalog.jsonb_array_elements(payloads) with ordinality as t(item, ord);
  keyed := exists (select 1 from pg_catalog.unnest(refs) r where r is not null);
  if keyed and exists (select 1 from pg_catalog.unnest(refs) r where r is not null and not engine.is_delivery_ref(r)) then
    raise exception using errcode = '22023',
      message = 'delivery must be {"sender": text, "key": text, "item": int >= 0, "body_hash": 64 hex digits}';
  end if;

  -- The keys of engine.lock_phone, taken here directly (one call per phone
  -- of a plpgsql function costs more than the lock itself), sorted.
  perform pg_catalog.pg_advisory_xact_lock(1112297284, valid.key)
     from (select distinct pg_catalog.hashtext(payloads -> (ord - 1)::int ->> 'phone') as key
             from pg_catalog.generate_series(1, total) as ord
            where problems[ord] is null
            order by key) as valid;

  work := problems;
  if keyed then
    -- After every phone lock, the delivery locks, sorted (see the header).
    perform pg_catalog.pg_advisory_xact_lock(1112297285, d.key)
       from (select distinct pg_catalog.hashtext((r ->> 'sender') || ':' || (r ->> 'key')) as key
               from pg_catalog.unnest(refs) as r
              where r is not null
              order by key) as d;
    -- A new statement: it sees every answer committed before our locks.
    with referenced as (
      select r.k::int as k, r.ref ->> 'sender' as sender, r.ref ->> 'key' as key,
             (r.ref ->> 'item')::int as item, r.ref ->> 'body_hash' as body_hash
        from pg_catalog.unnest(refs) with ordinality as r(ref, k)
       where r.ref is not null
    ),
    -- The body a key is bound to: that of its live rows (they all share
    -- one), else that of its first item in this call, as when the items
    -- are sent one by one.
    bound as (
      select f.*,
             coalesce(
               (select o.body_hash
                  from engine.deliveries o
                 where o.sender = f.sender and o.key = f.key
                   and o.received_at > engine.now() - interval '24 hours'
                 limit 1),
               pg_catalog.first_value(f.body_hash) over (partition by f.sender, f.key order by f.k)) as key_hash
        from referenced f
    ),
    -- The first item of each reference that is not refused: the one processed.
    firsts as (
      select b.*,
             pg_catalog.first_value(b.k)
               over (partition by b.sender, b.key, b.item, b.body_hash = b.key_hash order by b.k) as first_k
        from bound b
    ),
    decided as (
      select f.k,
             case
               when f.body_hash <> f.key_hash
                 then '{"status": "invalid", "error": "idempotency_key_reused"}'::jsonb
               when d.sender is not null then d.result || '{"replayed": true}'::jsonb
             end as answer,
             case when f.body_hash = f.key_hash and d.sender is null and f.k <> f.first_k
                  then f.first_k end as copy_of
        from firsts f
        left join engine.deliveries d
          on d.sender = f.sender and d.key = f.key and d.item = f.item
         and d.received_at > engine.now() - interval '24 hours'
    )
    select pg_catalog.array_agg(x.answer order by g.k),
           pg_catalog.array_agg(x.copy_of order by g.k),
           pg_catalog.array_agg(case when x.answer is not null or x.copy_of is not null then 'answered'
                                     else problems[g.k] end order by g.k)
      into fixed, copies, work
      from pg_catalog.generate_series(1, total) as g(k)
      left join decided x on x.k = g.k;
  end if;

  if exists (select 1 from pg_catalog.unnest(work) p where p is null) then
    perform engine.lock_assignments();
    -- The backlog first, oldest first: leads left unassigned while nobody
    -- was eligible (say, until a pause ran out) go before this batch's.
    if exists (select 1 from public.leads l where l.status = 'unassigned') then
      perform engine.drain_backlog();
    end if;
  end if;
  select * into team from public.settings s where s.id;

  begin
    answers := engine.ingest_batch(payloads, work, team);
  exception when data_exception or not_null_violation or check_violation then
    answers := null; -- some item's own data: find it item by item below
  end;

  if answers is null then
    results := '{}';
    for i in 1 .. total loop
      if work[i] is not null then
        results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', work[i]);
        continue;
      end if;
      begin
        results := results || (engine.ingest_valid_lead(payloads -> (i - 1), team, true)).result;
      exception
        when data_exception then
          results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', 'invalid_lead_value');
        when not_null_violation or check_violation then
          results := results || pg_catalog.jsonb_build_object('status', 'invalid', 'error', 'lead_violates_constraint');
      end;
    end loop;
    if exists (select 1 from pg_catalog.unnest(work) p where p is null) then
      perform engine.publish_last_assigned(engine.local_day(engine.now()));
    end if;
    answers := pg_catalog.to_jsonb(results);
  end if;

  if not keyed then
    return answers;
  end if;

  -- The processed items' answers, one row per reference. Any row met is
  -- expired (see the header).
  insert into engine.deliveries as d (sender, key, item, body_hash, result, received_at)
  select r.ref ->> 'sender', r.ref ->> 'key', (r.ref ->> 'item')::int, r.ref ->> 'body_hash',
         answers -> (r.k::int - 1), engine.now()
    from pg_catalog.unnest(refs) with ordinality as r(ref, k)
   where r.ref is not null and fixed[r.k] is null and copies[r.k] is null
  on conflict on constraint deliveries_pkey
  do update set body_hash = excluded.body_hash, result = excluded.result, received_at = excluded.received_at;

  select pg_catalog.jsonb_agg(
           case when fixed[g.k] is not null then fixed[g.k]
                when copies[g.k] is not null then (answers -> (copies[g.k] - 1)) || '{"replayed": true}'::jsonb
                else answers -> (g.k - 1) end
           order by g.k)
    into answers
    from pg_catalog.generate_series(1, total) as g(k);
  return answers;
end
$$;
