-- The names of the leads an ingest creates join the name dictionary before
-- the assignment lock (issue 14).
--
-- Measured under `loadgen --modes a` (256 senders, 20 callers; the engine's
-- steps timed inside the functions, docs/benchmarks.md): the assignment
-- lock's turn was ~24.5 ms for ~127 leads, and the lead insert ~9.6 ms of
-- it. Of that insert, the statement trigger that adds the batch's names to
-- `engine.lead_names` (…003900) took 2.2–2.7 ms a batch of 128 new names
-- (a row, its primary key entry and its trigram entries each) and
-- 0.6–1.0 ms when every name was already there (a primary-key probe each).
--
-- Nothing about a lead's name depends on the decision. So `ingest_leads`
-- and the per-lead path now add the names of the leads they will create
-- before they ask for the assignment lock, after their phone and delivery
-- locks; the trigger stays (every other writer of leads still needs it)
-- and, under the lock, finds them there.
--
-- Which names: an item creates a lead when no stored lead of its phone is
-- inside the duplicate window. Its stored lead was read before the lock
-- (…004200); one created at or before the window's start read then is
-- outside it after the lock too, so such items, and those with no stored
-- lead, add their names. A duplicate adds none (the dictionary gains no
-- name no lead holds). An item whose stored lead leaves the window between
-- the two reads has its name added by the trigger, under the lock, as
-- before.
--
-- Locking. A name's insert takes its row and its unique-index entry; a
-- second insert of the same name waits for the first transaction to end.
-- Before the lock, a transaction holds its phone and delivery locks and
-- waits only on names (inserted in sorted order, so two such transactions
-- cannot wait on each other) and then on the assignment lock. Under the
-- lock, the ingest paths find their names already added (by themselves, or
-- committed by others) and wait on no name. The one exception, as before
-- this migration: a name added under the lock (the window case above, the
-- per-lead path after it drained a backlog, an import's fallback) may wait
-- on a transaction that added the same name and now waits for the
-- assignment lock; PostgreSQL detects that deadlock within
-- `deadlock_timeout` and fails one of the two, which the service answers
-- with 503 for its sender to retry (40P01 is not the lead's fault).
--
-- `engine.add_lead_names` holds the one insert; the trigger calls it too.
-- `engine.ingest_valid_lead` (…000100) and `public.ingest_leads` (…004200)
-- are restated whole with the name step added; `create or replace` keeps
-- their grants.

/** Adds the distinct non-null `names` to the name dictionary
    (`engine.lead_names`), in sorted order so that two transactions adding
    several of the same new names cannot deadlock on each other's entries;
    a name already there costs a primary-key probe and no write. Security
    definer: only its owner may write the dictionary. */
create function engine.add_lead_names(names text[]) returns void
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  insert into engine.lead_names (name)
  select distinct n.name from pg_catalog.unnest(names) as n(name) where n.name is not null order by n.name
  on conflict do nothing;
end
$$;

revoke execute on function engine.add_lead_names(text[]) from public;
grant execute on function engine.add_lead_names(text[]) to service_role;

/** After an insert into public.leads, once per statement: its distinct
    names join the dictionary (see …003900 for the transition table it
    reads and its locking). The ingest paths have added their names before
    the assignment lock (…004500), so for them this is a probe per name. */
create or replace function engine.lead_names_inserted() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform engine.add_lead_names(array(select n.name from inserted n));
  return null;
end
$$;

/** Stores (or recognises as duplicate) one valid lead; the per-lead reference
    path, used by `ingest_lead` and by the item-by-item fallback of
    `ingest_leads`. The caller holds the lead's phone lock, so no other
    transaction can insert this phone until ours ends, and this statement's
    snapshot sees any such lead committed before the lock was granted. `team`
    is the settings row, read once per call.

    Clock: the duplicate check uses the time read after the phone lock; a
    lead that is not a duplicate is decided, booked and stamped with the time
    read after the assignment lock is granted.

    A lead that is not a duplicate adds its name to the name dictionary
    before the assignment lock (…004500), as `ingest_leads` does.

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

  -- Its name joins the name dictionary before the assignment lock (…004500).
  perform engine.add_lead_names(array[nullif(pg_catalog.btrim(payload ->> 'name'), '')]);

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

    The newest stored lead for each processed item's phone (its id and
    created_at) is read after the phone locks and before the assignment
    lock: the phone locks already keep it from changing (…004200), and
    every read done before the assignment lock is time it is not held.

    The names of the leads the batch will create join the name dictionary
    right after that read, still before the assignment lock (…004500), so
    that the insert trigger under the lock finds them there: an item with
    no stored lead of its phone, or only one older than the duplicate
    window at the time read then, creates a lead (the time read after the
    lock is later, so it still does). An item whose stored lead leaves the
    window between the two reads has its name added by the trigger, as
    before.

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
  -- Per item k, read after the phone locks and before the assignment lock
  -- (see the header): the previous processed item with the same phone, and
  -- the newest stored lead with the phone (for the first such item only).
  previous int[];
  stored_ids bigint[];
  stored_at timestamptz[];
  -- A stored lead created at or before this is outside the duplicate
  -- window now, and still is after the assignment lock (see the header).
  window_start timestamptz;
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
    -- The newest stored lead for each phone, probed once per phone (its
    -- first processed item; later items with the phone follow `previous`).
    -- Under the phone locks no lead with these phones can be inserted, and
    -- no API role may change a lead's phone or created_at, so this is what
    -- a read after the assignment lock would find; only the lead's caller
    -- can still change (reassignment, the SLA sweep and the drain move it
    -- under the assignment lock), and engine.ingest_batch reads it after.
    select pg_catalog.array_agg(i.previous order by i.k),
           pg_catalog.array_agg(s.id order by i.k),
           pg_catalog.array_agg(s.created_at order by i.k)
      into previous, stored_ids, stored_at
      from (select t.k, t.phone,
                   case when work[t.k] is null
                        then pg_catalog.lag(t.k) over (partition by work[t.k] is null, t.phone order by t.k)
                   end as previous
              from (select g.k, payloads -> (g.k - 1) ->> 'phone' as phone
                      from pg_catalog.generate_series(1, total) as g(k)) t) i
      left join lateral (
        select l.id, l.created_at
          from public.leads l
         where l.phone = i.phone
           and work[i.k] is null
           and i.previous is null
         order by l.created_at desc
         limit 1) s on true;

    -- The names of the leads this batch creates, into the name dictionary
    -- before the assignment lock (see the header): the first processed
    -- item of each phone, unless its stored lead is inside the window.
    window_start := engine.now() - (select s.duplicate_window from public.settings s where s.id);
    perform engine.add_lead_names(array(
      select nullif(pg_catalog.btrim(payloads -> (g.k - 1) ->> 'name'), '')
        from pg_catalog.generate_series(1, total) as g(k)
       where work[g.k] is null
         and previous[g.k] is null
         and (stored_at[g.k] is null or stored_at[g.k] <= window_start)));

    perform engine.lock_assignments();
    -- The backlog first, oldest first: leads left unassigned while nobody
    -- was eligible (say, until a pause ran out) go before this batch's.
    if exists (select 1 from public.leads l where l.status = 'unassigned') then
      perform engine.drain_backlog();
    end if;
  end if;
  select * into team from public.settings s where s.id;

  begin
    answers := engine.ingest_batch(payloads, work, team, previous, stored_ids, stored_at);
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
