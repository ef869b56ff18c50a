-- The newest lead per phone is read before the assignment lock, and the
-- clock without a function call per item (issue 14).
--
-- Measured as in …004100 (pg_stat_statements, batches of 128, one
-- connection): after …004100 a batch spent ~25 ms in `ingest_leads`, all but
-- its validation and phone locks under the assignment lock. Two reads
-- there did not need it:
--
-- 1. The newest stored lead for each phone (1.2 ms a batch of 128 on a
--    small table; an index probe per phone, deeper on a large one). Under
--    the phone locks, which `ingest_leads` holds before it asks for the
--    assignment lock, no lead with those phones can be inserted (every
--    insert of a lead is the engine's, under its phone's lock), and no API
--    role may change a lead's `phone` or `created_at` (column grants,
--    engine.guard_lead_update), so the lead found is the one a read after
--    the assignment lock would find. What can still change is its caller:
--    reassignment, the SLA sweep and the drain move it under the assignment
--    lock. So `ingest_leads` reads the lead's id and created_at before the
--    lock, and `engine.ingest_batch` reads its caller after, by primary key,
--    only for the items that found one. A lead deleted in between (an
--    admin's delete takes neither lock) is the same race as before: the
--    read after the lock could equally have preceded that delete.
-- 2. The clock: `engine.now()` once per item (a security definer function:
--    a call with its GUC save and restore, ~3.5 µs) returns
--    `clock_timestamp()` unless the session sets the `bloc.now` override.
--    Without one, the batch reads `clock_timestamp()` directly, still once
--    per item, after the locks, in item order.
--
-- `engine.ingest_batch` takes the lookup as three new parameters, so it is
-- a new function (same grants) and the old signature is dropped; nothing
-- else calls it. `public.ingest_leads` is restated whole from …003400 with
-- the lookup added and the call changed; `create or replace` keeps its
-- grants. Decisions, rows, answers and the lock order are unchanged; the
-- oracle (tests/engine/09_batch_equivalence.rs) compares them byte for
-- byte with the per-lead path.

/** Decides and stores a batch of leads. Called only by `ingest_leads`, with
    every valid item's phone lock and the assignment lock held;
    `problems[k]` is null for a valid item `k` (1-based), else its error.
    Returns the answers in item order, as `ingest_lead` would give them one
    after another, with the same decisions, log rows and loads.

    `previous[k]` is the previous processed item with item k's phone, and
    `stored_ids[k]`, `stored_at[k]` the newest stored lead with that phone
    (for the first such item), as `ingest_leads` read them under the phone
    locks, before the assignment lock.

    Reads, once: the clock per item (right after the locks, in item order;
    `clock_timestamp()` itself unless the session sets a clock override);
    the caller of each stored lead found (one primary-key probe each); the
    active callers with a limit above 0, with limit, weight, pause, states,
    languages and `last_assigned_at`; the loads of the batch's local
    day(s).

    Decides, item by item in memory:
      * a duplicate when the newest lead with its phone (stored, or created
        by an earlier item of this batch) is inside the duplicate window, so
        repeated phones in one batch go to their first occurrence's lead;
      * else a new lead, routed by the same ordering as
        `engine.choose_caller`: tier; language inside tier 1; load / weight
        (load alone in tier 4); least recently assigned; lowest id. The
        choice is a plpgsql scan of the callers (…004100), not a statement
        per item.

    Writes, one statement each: the new leads (one multi-row insert, ids
    drawn in item order); the duplicate counters; the log rows, each with the
    candidate snapshot its decision saw, in decision order; the loads; and
    `callers.last_assigned_at`.

    `unnest(a, b, …)` is written unqualified on purpose: the multi-array
    form is FROM-clause syntax, not a function `pg_catalog.unnest` can name;
    pg_catalog is still searched first under `search_path = ''`.

    References: the inserts below fire the per-statement reference checks
    of …002700 (one lock statement per table and parent, not one query per
    row). Under the locks held here none can fail: every caller named was
    read in this transaction after the assignment lock, which any delete of
    a caller must take first, and every lead named was inserted by this
    transaction.

    Plans: every statement here runs a generic plan (`plan_cache_mode =
    force_generic_plan`), planned once per session, instead of being
    planned again on each call: most of them read only this call's arrays,
    and plpgsql kept custom plans for those because a custom plan sees the
    arrays' sizes and so always looks cheaper; about 1.3 ms a call went to
    planning, at any batch size. A generic plan is made with the table
    statistics of its moment, so the statements that read `leads` are
    written to stay index probes under any: the newest lead per phone is a
    LATERAL `limit 1` on `leads_phone_created_at_idx`; the duplicate
    counters' joined update (whose generic plan, made while `leads` was
    small, could hash all of `leads`) runs only when the batch repeats a
    lead, through EXECUTE, planned for that call's values as before. The
    other tables read are the team's callers and one day's loads. */
create function engine.ingest_batch(payloads jsonb, problems text[], team public.settings,
                                   previous int[], stored_ids bigint[], stored_at timestamptz[]) returns jsonb
language plpgsql volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  total int := pg_catalog.jsonb_array_length(payloads);
  -- Per item k (1-based).
  moments timestamptz[];       -- the item's time, read after the locks
  days date[];                 -- its local day
  stored_callers bigint[];
  stored_names text[];
  targets bigint[];            -- the item's lead: a stored lead's id, or -j for the lead item j creates
  target_at timestamptz[];     -- that lead's created_at
  slots int[];                 -- for an item creating a lead: its place among the new leads
  picks int[];                 -- the chosen caller's position n in caller_ids
  tiers int[];
  lead_ids bigint[];           -- the item's lead id, once the leads are inserted
  -- Active callers by position n = 1..m, ordered by id; the pause is
  -- checked per item, against the item's time.
  m int;
  caller_ids bigint[];
  caller_names text[];
  caller_limits int[];
  caller_weights int[];
  caller_pauses timestamptz[];
  caller_last timestamptz[];   -- latest assignment: callers.last_assigned_at, then ours
  -- Items with the same (state, language) route alike: kinds[k] numbers
  -- the item's pair among the batch's distinct pairs (a handful).
  -- classes[(kinds[k] - 1) * m + n], caller n for item k: 3 does not cover
  -- the item's state; covers it and 1 speaks the item's language, 2 does
  -- not, 0 unknown (a NULL inside `languages`: engine.choose_caller's
  -- `(…) desc` sorts that NULL first, and so does this code).
  kinds int[];
  classes smallint[];
  class_base int;
  -- The log's candidate snapshots, as JSON text built while deciding:
  -- caller n's element is heads[n] || its load || tails[n], kept current in
  -- elements[n]; snapshots[k] is what item k's decision saw.
  heads text[];
  tails text[];
  elements text[];
  snapshots text[];
  latest_pause timestamptz;    -- no caller is paused at or after this
  -- The in-memory state of the local day being decided.
  current_day date;
  loads int[];
  recents timestamptz[];
  created int := 0;
  new_ids bigint[];
  k int;
  j int;
  pick int;
  pick_tier int;
  pick_rank int;               -- the best so far: its class inside tier 1, else 2
  pick_ratio numeric;          -- its load / weight (its load in tier 4)
  pick_recent timestamptz;     -- its latest assignment
  candidate int;               -- the caller being compared with the best so far
  candidate_tier int;
  candidate_rank int;
  candidate_ratio numeric;
  repeated_ids bigint[];       -- the leads this batch repeats, with how often and when last
  repeated_counts int[];
  repeated_latest timestamptz[];
  answers jsonb;
begin
  -- The clock, once per item in item order (one statement, so the reads
  -- follow the rows), after the phone locks and the assignment lock.
  if coalesce(pg_catalog.current_setting('bloc.now', true), '') = '' then
    -- No clock override in this session: engine.now() would return
    -- clock_timestamp(), so read that directly instead of calling
    -- engine.now() (a security definer function) once per item.
    select pg_catalog.array_agg(case when problems[t.k] is null then pg_catalog.clock_timestamp() end order by t.k)
      into moments
      from pg_catalog.generate_series(1, total) as t(k);
  else
    select pg_catalog.array_agg(case when problems[t.k] is null then engine.now() end order by t.k)
      into moments
      from pg_catalog.generate_series(1, total) as t(k);
  end if;
  select pg_catalog.array_agg((t.moment at time zone team.time_zone)::date order by t.k)
    into days
    from pg_catalog.unnest(moments) with ordinality as t(moment, k);

  -- The caller of each stored lead found before the assignment lock (see
  -- `public.ingest_leads`), read now: reassignment, the SLA sweep and the
  -- drain move a lead's caller under the assignment lock. One primary-key
  -- probe per item that has a stored lead: the `limit 1` keeps the LATERAL
  -- subquery from being pulled up into a join, whose generic plan (the
  -- array's size unknown) hashed all of `leads`; as a subquery with the id
  -- as its parameter it is a probe of `leads_pkey` under any statistics.
  select pg_catalog.array_agg(s.caller_id order by t.k),
         pg_catalog.array_agg(s.caller_name order by t.k)
    into stored_callers, stored_names
    from pg_catalog.unnest(stored_ids) with ordinality as t(id, k)
    left join lateral (
      select l.caller_id, c.name as caller_name
        from public.leads l
        left join public.callers c on c.id = l.caller_id
       where l.id = t.id
       limit 1) s on true;

  select coalesce(pg_catalog.array_agg(c.id order by c.id), '{}'),
         pg_catalog.array_agg(c.name order by c.id),
         pg_catalog.array_agg(c.daily_lead_limit order by c.id),
         pg_catalog.array_agg(c.weight order by c.id),
         pg_catalog.array_agg(c.paused_until order by c.id),
         pg_catalog.array_agg(c.last_assigned_at order by c.id)
    into caller_ids, caller_names, caller_limits, caller_weights, caller_pauses, caller_last
    from public.callers c
   where c.active
     and c.daily_lead_limit > 0;
  m := pg_catalog.cardinality(caller_ids);
  -- Each caller's candidate element around its load, byte for byte what
  -- json_agg writes for the row (caller_id, name, assigned_today,
  -- daily_lead_limit, weight) in engine.choose_caller: integers in their
  -- text form, the name through the same JSON string escaping. None of the
  -- columns can be null (NOT NULL in public.callers).
  select pg_catalog.array_agg('{"caller_id":' || c.id || ',"name":' || pg_catalog.to_json(c.name)::text
                              || ',"assigned_today":' order by c.n),
         pg_catalog.array_agg(',"daily_lead_limit":' || c.lim || ',"weight":' || c.weight || '}' order by c.n),
         pg_catalog.max(c.paused)
    into heads, tails, latest_pause
    from unnest(caller_ids, caller_names, caller_limits, caller_weights, caller_pauses)
         with ordinality as c(id, name, lim, weight, paused, n);

  if m > 0 then
    with items as materialized (
      select g.k,
             nullif(pg_catalog.btrim(payloads -> (g.k - 1) ->> 'state'), '') as state,
             pg_catalog.lower(nullif(pg_catalog.btrim(payloads -> (g.k - 1) ->> 'language'), '')) as language
        from pg_catalog.generate_series(1, total) as g(k)
    ),
    pairs as materialized (
      select p.state, p.language, pg_catalog.row_number() over (order by p.state, p.language)::int as kind
        from (select distinct i.state, i.language from items i) p
    )
    select (select pg_catalog.array_agg(p.kind order by i.k)
              from items i
              join pairs p on p.state is not distinct from i.state and p.language is not distinct from i.language),
           (select pg_catalog.array_agg(
                     (case when coalesce(p.state is not null and p.state = any (c.assigned_states), false)
                           then case (p.language is not null and p.language = any (c.languages))
                                  when true then 1 when false then 2 else 0 end
                           else 3 end)::smallint
                     order by p.kind, c.id)
              from pairs p
             cross join (select c.id, c.assigned_states, c.languages
                           from public.callers c
                          where c.id = any (caller_ids)) c)
      into kinds, classes;
  end if;

  targets := pg_catalog.array_fill(null::bigint, array[total]);
  target_at := pg_catalog.array_fill(null::timestamptz, array[total]);
  slots := pg_catalog.array_fill(null::int, array[total]);
  picks := pg_catalog.array_fill(null::int, array[total]);
  snapshots := pg_catalog.array_fill(null::text, array[total]);
  tiers := pg_catalog.array_fill(null::int, array[total]);

  for k in 1 .. total loop
    continue when problems[k] is not null;
    j := previous[k];
    if j is not null then
      targets[k] := targets[j];
      target_at[k] := target_at[j];
      stored_callers[k] := stored_callers[j];
      stored_names[k] := stored_names[j];
    else
      targets[k] := stored_ids[k];
      target_at[k] := stored_at[k];
    end if;
    -- A duplicate of the newest lead with this phone, if inside the window
    -- (the same test as engine.ingest_valid_lead's lookup).
    continue when targets[k] is not null and target_at[k] > moments[k] - team.duplicate_window;

    targets[k] := -k;
    target_at[k] := moments[k];
    created := created + 1;
    slots[k] := created;
    continue when m = 0;

    if days[k] is distinct from current_day then
      -- Enter a local day (the first, or the next when midnight falls
      -- inside the batch): its stored loads plus this batch's bookings on it
      -- so far. A caller not booked that day is as recent as its latest
      -- assignment on any day, which is what callers.last_assigned_at says
      -- after each per-lead call.
      current_day := days[k];
      select pg_catalog.array_agg(coalesce(l.assigned, 0) + coalesce(b.booked, 0) order by c.n),
             pg_catalog.array_agg(coalesce(b.latest, l.last_assigned_at, caller_last[c.n]) order by c.n)
        into loads, recents
        from pg_catalog.unnest(caller_ids) with ordinality as c(id, n)
        left join public.caller_daily_loads l on l.caller_id = c.id and l.day = current_day
        left join (select p.pick, pg_catalog.count(*)::int as booked, pg_catalog.max(p.moment) as latest
                     from unnest(picks[1:k - 1], days[1:k - 1], moments[1:k - 1]) as p(pick, day, moment)
                    where p.pick is not null and p.day = current_day
                    group by p.pick) b on b.pick = c.n;
      select pg_catalog.array_agg(heads[c.n] || loads[c.n] || tails[c.n] order by c.n)
        into elements
        from pg_catalog.generate_series(1, m) as c(n);
    end if;

    -- engine.choose_caller's ordering, over the in-memory loads: a scan of
    -- the callers in id order that keeps the first best it meets, comparing
    -- key by key as the ORDER BY did: tier; inside tier 1 the language
    -- class; load / weight (load alone in tier 4), the same numeric
    -- division; least recently assigned, never assigned first; and the
    -- lowest id, by keeping the earlier of two equals. A paused caller is
    -- skipped (a null pause compares as null, so `continue` does not skip).
    class_base := (kinds[k] - 1) * m;
    pick := null;
    for candidate in 1 .. m loop
      continue when caller_pauses[candidate] > moments[k];
      candidate_tier := case when loads[candidate] >= caller_limits[candidate] then 4
                             when classes[class_base + candidate] <= 2 then 1
                             else 2 end;
      candidate_rank := case when candidate_tier = 1 then classes[class_base + candidate] else 2 end;
      if pick is not null then
        continue when candidate_tier > pick_tier
                   or (candidate_tier = pick_tier and candidate_rank > pick_rank);
      end if;
      candidate_ratio := case when candidate_tier = 4 then loads[candidate]::numeric
                              else loads[candidate]::numeric / caller_weights[candidate] end;
      if pick is not null and candidate_tier = pick_tier and candidate_rank = pick_rank then
        continue when candidate_ratio > pick_ratio;
        -- Equal so far: the less recent wins (never assigned first), else
        -- the earlier, lower id stays.
        continue when candidate_ratio = pick_ratio
                  and (pick_recent is null
                       or (recents[candidate] is not null and recents[candidate] >= pick_recent));
      end if;
      pick := candidate;
      pick_tier := candidate_tier;
      pick_rank := candidate_rank;
      pick_ratio := candidate_ratio;
      pick_recent := recents[candidate];
    end loop;
    continue when pick is null;

    picks[k] := pick;
    tiers[k] := pick_tier;
    -- The candidates this decision saw: the callers eligible at its time
    -- (all of them, unless a pause outlasts it) with their loads before it,
    -- joined as json_agg joins elements. Only the picked caller's element
    -- changes for the next decision.
    if latest_pause is null or latest_pause <= moments[k] then
      snapshots[k] := '[' || pg_catalog.array_to_string(elements, E', \n ') || ']';
    else
      snapshots[k] := '[' || pg_catalog.array_to_string(array(
                        select elements[c.n]
                          from pg_catalog.generate_series(1, m) as c(n)
                         where caller_pauses[c.n] is null or caller_pauses[c.n] <= moments[k]
                         order by c.n), E', \n ') || ']';
    end if;
    loads[pick] := loads[pick] + 1;
    elements[pick] := heads[pick] || loads[pick] || tails[pick];
    recents[pick] := moments[k];
    caller_last[pick] := greatest(caller_last[pick], moments[k]);
  end loop;

  -- The new leads in one insert. The rows reach it sorted by item and each
  -- draws its identity as it is inserted, so ids follow item order.
  with inserted as (
    insert into public.leads (
      phone, name, email, state, city, language, source, metadata,
      status, caller_id, assigned_at, created_at, updated_at)
    select t.p ->> 'phone',
           nullif(pg_catalog.btrim(t.p ->> 'name'), ''),
           nullif(pg_catalog.btrim(t.p ->> 'email'), ''),
           nullif(pg_catalog.btrim(t.p ->> 'state'), ''),
           nullif(pg_catalog.btrim(t.p ->> 'city'), ''),
           pg_catalog.lower(nullif(pg_catalog.btrim(t.p ->> 'language'), '')),
           nullif(pg_catalog.btrim(t.p ->> 'source'), ''),
           coalesce(nullif(t.p -> 'metadata', 'null'::jsonb), '{}'::jsonb),
           case when picks[t.k] is null then 'unassigned' else 'new' end,
           caller_ids[picks[t.k]],
           case when picks[t.k] is null then null else moments[t.k] end,
           moments[t.k], moments[t.k]
      from (select g.k, payloads -> (g.k - 1) as p
              from pg_catalog.generate_series(1, total) as g(k)
             where targets[g.k] = -g.k) t
     order by t.k
    returning id
  )
  select pg_catalog.array_agg(i.id order by i.id) into new_ids from inserted i;

  select pg_catalog.array_agg(case when t.target > 0 then t.target
                                   when t.target < 0 then new_ids[slots[-t.target]] end
                              order by t.k)
    into lead_ids
    from pg_catalog.unnest(targets) with ordinality as t(target, k);

  -- Duplicate counters: once per original, however often it repeats here;
  -- no statement at all when the batch repeats no lead. The one update is
  -- planned for this call's originals (EXECUTE; see "Plans" above).
  select pg_catalog.array_agg(d.id order by d.id),
         pg_catalog.array_agg(d.repeats order by d.id),
         pg_catalog.array_agg(d.latest order by d.id)
    into repeated_ids, repeated_counts, repeated_latest
    from (select lead_ids[g.k] as id, pg_catalog.count(*)::int as repeats,
                 (pg_catalog.array_agg(moments[g.k] order by g.k desc))[1] as latest
            from pg_catalog.generate_series(1, total) as g(k)
           where targets[g.k] <> -g.k
           group by 1) d;
  if repeated_ids is not null then
    execute 'update public.leads l
                set duplicate_count = l.duplicate_count + d.repeats, last_duplicate_at = d.latest
               from unnest($1, $2, $3) as d(id, repeats, latest)
              where l.id = d.id'
      using repeated_ids, repeated_counts, repeated_latest;
  end if;

  -- The log rows, in decision order, each with the candidates its decision
  -- saw (the text json_agg would have written; the cast checks it).
  insert into public.assignment_logs (lead_id, caller_id, reason, tier, candidates, created_at)
  select lead_ids[g.k], caller_ids[picks[g.k]],
         case tiers[g.k] when 1 then 'state_match' when 2 then 'global' else 'overflow' end,
         tiers[g.k], snapshots[g.k]::json, moments[g.k]
    from pg_catalog.generate_series(1, total) as g(k)
   where picks[g.k] is not null
   order by g.k;

  -- The loads: one upsert per caller and day.
  insert into public.caller_daily_loads as l (caller_id, day, assigned, last_assigned_at)
  select caller_ids[b.pick], b.day, pg_catalog.count(*)::int,
         (pg_catalog.array_agg(b.moment order by b.k desc))[1]
    from unnest(picks, days, moments) with ordinality as b(pick, day, moment, k)
   where b.pick is not null
   group by b.pick, b.day
  on conflict on constraint caller_daily_loads_pkey
  do update set assigned = l.assigned + excluded.assigned, last_assigned_at = excluded.last_assigned_at;

  -- callers.last_assigned_at, once per caller (as engine.publish_last_assigned).
  update public.callers c
     set last_assigned_at = b.latest
    from (select caller_ids[p.pick] as id, pg_catalog.max(p.moment) as latest
            from unnest(picks, moments) as p(pick, moment)
           where p.pick is not null
           group by p.pick) b
   where c.id = b.id
     and (c.last_assigned_at is null or b.latest > c.last_assigned_at);

  select pg_catalog.jsonb_agg(
           case
             when problems[g.k] is not null then
               pg_catalog.jsonb_build_object('status', 'invalid', 'error', problems[g.k])
             when targets[g.k] > 0 then
               pg_catalog.jsonb_build_object(
                 'status', 'duplicate', 'lead_id', lead_ids[g.k], 'caller_id', stored_callers[g.k],
                 'caller_name', stored_names[g.k], 'reason', null, 'tier', null)
             when targets[g.k] <> -g.k then
               pg_catalog.jsonb_build_object(
                 'status', 'duplicate', 'lead_id', lead_ids[g.k], 'caller_id', caller_ids[picks[-targets[g.k]]],
                 'caller_name', caller_names[picks[-targets[g.k]]], 'reason', null, 'tier', null)
             when picks[g.k] is null then
               pg_catalog.jsonb_build_object(
                 'status', 'unassigned', 'lead_id', lead_ids[g.k], 'caller_id', null,
                 'caller_name', null, 'reason', null, 'tier', null)
             else
               pg_catalog.jsonb_build_object(
                 'status', 'assigned', 'lead_id', lead_ids[g.k], 'caller_id', caller_ids[picks[g.k]],
                 'caller_name', caller_names[picks[g.k]],
                 'reason', case tiers[g.k] when 1 then 'state_match' when 2 then 'global' else 'overflow' end,
                 'tier', tiers[g.k])
           end
           order by g.k)
    into answers
    from pg_catalog.generate_series(1, total) as g(k);
  return answers;
end
$$;

revoke execute on function engine.ingest_batch(jsonb, text[], public.settings, int[], bigint[], timestamptz[]) from public;
grant execute on function engine.ingest_batch(jsonb, text[], public.settings, int[], bigint[], timestamptz[]) to service_role;

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

drop function engine.ingest_batch(jsonb, text[], public.settings);
