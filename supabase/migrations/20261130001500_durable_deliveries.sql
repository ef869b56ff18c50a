-- Idempotency in the database, in the same transaction as the leads.
--
-- Until now the ingest service remembered answered deliveries in its own
-- memory: a retry that reached another instance, or came after a restart,
-- was processed again (and answered `duplicate` instead of the first
-- answer). Now every item handed to `ingest_lead` / `ingest_leads` may carry
-- a delivery reference beside its lead fields:
--
--   "delivery": {"sender": text, "key": text, "item": int, "body_hash": text}
--
-- `sender` names who authenticated the delivery (the service's id of the
-- webhook secret, or a native source such as "meta"), so senders never
-- share a key space; `key` is the delivery's idempotency key; `item` the
-- item's place in the HTTP delivery (0 for a single lead); `body_hash` the
-- hex SHA-256 of the raw HTTP body. The answer given to a referenced item
-- is stored in `engine.deliveries` by the same transaction that stores its
-- lead, so either both exist or neither does, and no extra round trip is
-- paid. For 24 hours a key is bound to the body it first came with:
--   * the same body: an item with a stored answer gets it again with
--     `"replayed": true`, and nothing else happens (no lead, no log row, no
--     load);
--   * another body: every item under the key (stored before or not) is
--     `{"status":"invalid","error":"idempotency_key_reused"}`, nothing
--     stored, so a different array cannot slip new items in under an old
--     key;
--   * within one call, the first item under a key with no live rows binds
--     the key to its body, exactly as if the items were sent one by one: a
--     later item with another body is `idempotency_key_reused`, and a later
--     item with the same reference and body is answered like the first
--     (its answer, replayed).
-- Items without a reference behave exactly as before. The bodies of both
-- RPCs are the landed ones (…001350 for ingest_lead, …001400 for
-- ingest_leads) with the delivery steps added.
--
-- LOCKING
--
-- Two transactions answering the same reference must not both miss the row
-- and both process the item. The phone lock alone does not prevent that (a
-- reused key may carry another phone, or an invalid lead with none), so a
-- referenced call also takes one advisory transaction lock per (sender,
-- key), class 1112297285, key hashtext(sender || ':' || key); a hash
-- collision only serializes two unrelated deliveries. Order in every path:
--   phone locks (ascending) -> delivery locks (ascending) -> assignment lock.
-- A transaction waiting for a delivery lock holds phone locks but no
-- assignment lock, and nobody holding a delivery lock waits for a phone
-- lock (each call takes all its phone locks first, and a PostgREST request
-- is one call), so every wait points forward in that one global order and
-- no cycle (deadlock) can form. The delivery rows are read by a statement
-- that starts after the delivery locks are granted, so under READ COMMITTED
-- its snapshot includes the row committed by whoever held the lock before.
-- Only then is the assignment lock taken, and only if some item is still to
-- be processed: a call made only of replays takes no assignment lock and
-- drains no backlog.
--
-- A row whose 24 hours are over counts as absent (whether or not the purge
-- has run yet); storing a new answer for its reference overwrites it. That
-- overwrite can only meet an expired row: the delivery lock is held, and
-- the read just before found no live one.

/** One answered item of a keyed delivery, for 24 hours: the exact jsonb
    answer `ingest_lead` / `ingest_leads` returned for it, so a repeat gets
    the first answer, on any instance of the service and after restarts.
    Written only inside the transaction that stored the item's lead (or
    decided it invalid). Purged by `engine.purge_deliveries()`. No API role
    reads it directly; the service role writes it only through the ingest
    RPCs (security invoker) and purges it through `purge_deliveries`. */
create table engine.deliveries (
  sender text not null check (sender <> ''),
  key text not null check (key <> ''),
  item integer not null check (item >= 0),
  body_hash text not null,
  result jsonb not null,
  received_at timestamptz not null,
  primary key (sender, key, item)
);

/** The purge deletes by age. */
create index deliveries_received_at_idx on engine.deliveries (received_at);

alter table engine.deliveries enable row level security;
revoke all on table engine.deliveries from public, anon, authenticated, service_role;
-- The ingest RPCs and the purge run as service_role (security invoker),
-- which bypasses RLS; no other role has any privilege.
grant select, insert, update, delete on table engine.deliveries to service_role;

/** Whether `ref` is a well-formed delivery reference: an object with
    non-empty text `sender` and `key`, an `item` that is a whole number
    0..999999999, and a `body_hash` of 64 lowercase hex digits. A plain SQL
    function, so it is inlined into the batch's set-based checks. */
create function engine.is_delivery_ref(ref jsonb) returns boolean
language sql immutable
set search_path = ''
as $$
  select coalesce(
    pg_catalog.jsonb_typeof(ref) = 'object'
    and pg_catalog.jsonb_typeof(ref -> 'sender') = 'string' and (ref ->> 'sender') <> ''
    and pg_catalog.jsonb_typeof(ref -> 'key') = 'string' and (ref ->> 'key') <> ''
    and pg_catalog.jsonb_typeof(ref -> 'item') = 'number' and (ref ->> 'item') ~ '^[0-9]{1,9}$'
    and pg_catalog.jsonb_typeof(ref -> 'body_hash') = 'string' and (ref ->> 'body_hash') ~ '^[0-9a-f]{64}$',
    false)
$$;

revoke execute on function engine.is_delivery_ref(jsonb) from public;
grant execute on function engine.is_delivery_ref(jsonb) to service_role;

/** Ingests one lead (already normalized by the ingest service; the phone is
    re-checked). Returns `{"status": "assigned"|"duplicate"|"unassigned",
    "lead_id", "caller_id", "caller_name", "reason", "tier"}`, or
    `{"status": "invalid", "error": "..."}` and changes nothing.
    After the phone lock, a waiting backlog is drained first (oldest first).

    With a `delivery` reference: after the phone lock (none for an invalid
    lead) the delivery lock; then, if a live row of the same sender and key
    has another body hash, the item is `idempotency_key_reused`; else a live
    stored answer for the reference is returned with `"replayed": true`;
    either way nothing else happens.
    Otherwise the lead is processed as without a reference and its answer,
    `invalid` included, is stored in engine.deliveries. A malformed
    reference fails the call (22023): it is the service's fault, not the
    lead's. */
create or replace function public.ingest_lead(payload jsonb) returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  problem text := engine.lead_payload_error(payload);
  ref jsonb := nullif(payload -> 'delivery', 'null'::jsonb);
  stored engine.deliveries;
  team public.settings;
  result jsonb;
begin
  if ref is null and problem is not null then
    return pg_catalog.jsonb_build_object('status', 'invalid', 'error', problem);
  end if;
  if ref is not null and not engine.is_delivery_ref(ref) then
    raise exception using errcode = '22023',
      message = 'delivery must be {"sender": text, "key": text, "item": int >= 0, "body_hash": 64 hex digits}';
  end if;
  if problem is null then
    perform engine.lock_phone(payload ->> 'phone');
  end if;
  if ref is not null then
    perform pg_catalog.pg_advisory_xact_lock(
      1112297285, pg_catalog.hashtext((ref ->> 'sender') || ':' || (ref ->> 'key')));
    -- A new statement: its snapshot sees what the lock's previous holder
    -- committed. A live row of the key with another body comes first.
    select d.* into stored
      from engine.deliveries d
     where d.sender = ref ->> 'sender' and d.key = ref ->> 'key'
       and d.received_at > engine.now() - interval '24 hours'
       and (d.item = (ref ->> 'item')::int or d.body_hash <> ref ->> 'body_hash')
     order by d.body_hash = ref ->> 'body_hash'
     limit 1;
    if found then
      if stored.body_hash = ref ->> 'body_hash' then
        return stored.result || '{"replayed": true}'::jsonb;
      end if;
      return '{"status": "invalid", "error": "idempotency_key_reused"}'::jsonb;
    end if;
  end if;

  if problem is not null then
    result := pg_catalog.jsonb_build_object('status', 'invalid', 'error', problem);
  else
    if exists (select 1 from public.leads l where l.status = 'unassigned') then
      perform engine.drain_backlog();
    end if;
    select * into team from public.settings s where s.id;
    result := (engine.ingest_valid_lead(payload, team, true)).result;
    if result ->> 'status' = 'assigned' then
      perform engine.publish_last_assigned(engine.local_day(engine.now()));
    end if;
  end if;

  if ref is not null then
    -- Any row met here is expired (see the migration's header).
    insert into engine.deliveries as d (sender, key, item, body_hash, result, received_at)
    values (ref ->> 'sender', ref ->> 'key', (ref ->> 'item')::int, ref ->> 'body_hash', result, engine.now())
    on conflict on constraint deliveries_pkey
    do update set body_hash = excluded.body_hash, result = excluded.result, received_at = excluded.received_at;
  end if;
  return result;
end
$$;

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
    subtransaction; only if a fault in some item's data still shows there
    (SQLSTATE class 22 or 23, which validation should have caught, e.g. a
    constraint added later) is the batch redone with one subtransaction per
    item through the per-lead path (engine.ingest_valid_lead). An item
    failing there with class 22 or 23 is answered `invalid` with a stable
    code, `invalid_lead_value` (22) or `lead_violates_constraint` (23),
    never the database's text, and the others are stored. Any other error
    (serialization failure, deadlock, lock or statement timeout, out of
    memory, a malformed delivery reference, ...) is not the lead's fault: it
    fails the whole call, so nothing is stored and the service answers 503
    for the sender to retry. The fast path does not pay for 100
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
  exception when data_exception or integrity_constraint_violation then
    answers := null; -- some item's data: find it item by item below
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
        when integrity_constraint_violation then
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

/** Forgets the deliveries answered more than 24 hours ago (by the engine's
    clock) and returns how many. Repeats older than that are new deliveries
    anyway (the RPCs ignore expired rows), so this only bounds the table.
    Takes no delivery lock: a row it deletes is expired, and an ingest that
    overwrites an expired row at the same moment either waits for the
    delete to commit (then inserts) or has already refreshed it (then the
    delete, rechecking its condition on the new row version, skips it). */
create function engine.purge_deliveries() returns integer
language sql volatile
set search_path = ''
as $$
  with gone as (
    delete from engine.deliveries d
     where d.received_at <= engine.now() - interval '24 hours'
    returning 1
  )
  select pg_catalog.count(*)::int from gone
$$;

revoke execute on function engine.purge_deliveries() from public;
grant execute on function engine.purge_deliveries() to service_role;

/** `engine.purge_deliveries()` for the ingest service's maintenance loop
    (service_role only); pg_cron calls the engine function itself. */
create function public.purge_deliveries() returns integer
language sql volatile
set search_path = ''
as $$
  select engine.purge_deliveries()
$$;

revoke execute on function public.purge_deliveries() from public, anon, authenticated;
grant execute on function public.purge_deliveries() to service_role;
