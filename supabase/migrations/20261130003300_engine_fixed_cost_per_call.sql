-- The engine's fixed cost per call (issue 14): two statement plans that
-- did not depend on the batch.
--
-- 1. The per-statement reference check of `leads` (…002700) probes each
--    named lead by its primary key, as the foreign key did, whatever plan
--    the session caches.
-- 2. `engine.ingest_batch` runs generic plans, planned once per session,
--    instead of planning most of its statements again on every call.
--
-- Measured on a scratch durable cluster (pg_stat_statements with
-- `track = all` and `track_planning = on`, pgbench sending batches over one
-- connection, 20 callers): a batch of one lead spent 4.4 ms inside
-- `ingest_leads` against 1.3 ms for the pre-issue engine; about 1.4 ms of
-- it was planning and, at 100 leads, a third of the call was the check of
-- part 1. Nothing here changes a decision, a row written or an answer; the
-- oracle (tests/engine/09_batch_equivalence.rs) compares them byte for byte.
--
-- Part 1.
--
-- `engine.check_references_exist` locked the named rows with one statement,
-- `… where l.id = any (ids) for key share of l`. plpgsql caches a generic
-- plan for it after five calls per session, planned with the table's
-- statistics of that moment. A session whose first calls came while
-- `leads` was small or never analyzed (a fresh database, the first minutes
-- after a truncate, every engine-bench cell) cached a sequential scan with
-- `id = any (ids)` as a filter, and kept it: every later batch then read the
-- whole table to lock its own new leads. The cost grew with the table, not
-- with the batch: on a scratch durable cluster (pg_stat_statements,
-- `track = all`) the lock of a batch of 100 new leads took 10.2 ms per call
-- on average while the table grew from empty to 21,000 leads, a third of
-- the whole call, against 0.4 ms for the index scan the same statement
-- gets with fresh statistics. The foreign key
-- it replaced never had this: its query (`select 1 from only leads x where
-- id = $1 for key share of x`) is an equality on the primary key, an index
-- probe under any statistics.
--
-- Now the lead ids are joined to `leads` one at a time (`unnest(ids)`,
-- sorted, and a LATERAL subquery with `l.id = i.id`): the planner's only
-- join is a nested loop with the id as a parameter of the inner scan, and
-- an equality on the primary key costs less than a scan of any table the
-- planner assumes (at least 10 pages for a table never vacuumed), so each
-- id gets the foreign key's probe: 0.4 ms for the same 100 leads at the
-- same size, and flat as the table grows. The `callers` statement stays as
-- it was: a team's callers are tens to hundreds of rows on a page or a
-- few, so even a cached sequential scan of them is bounded by the team, not
-- by the leads, and measured cheaper there than a probe per id (0.04
-- against 0.23 ms for 20 callers).
--
-- Only the statement for `leads` changes: the function's signature, its
-- callers (the statement triggers of …002700), the rows it locks, the lock
-- strength, the errors and what is stored are the same. No decision
-- depends on it.
--
-- LOCKING: unchanged. Each named lead that exists is locked FOR KEY SHARE
-- by the LockRows node of its own probe, in ascending id (the ids are
-- sorted first, as the btree scan of `= any` sorted them), once per
-- statement, after the child rows are written: the same rows and the same
-- strength as the `= any` statement (and the foreign key's locks before
-- it), so the lock order of docs/engine.md is unchanged. The leads locked
-- here are the batch's own new ones (ingest) or leads the transaction
-- already holds FOR UPDATE (the drain, the sweep, reassign_lead), so the
-- order cannot meet another transaction's anyway. A lead deleted
-- concurrently is still waited for and then not locked (the probe re-checks
-- it after the deleter commits and returns nothing), so the count falls
-- short and the check raises, as before. `ids` is distinct (every caller
-- passes `select distinct`), so the count of locked rows is compared with
-- its length as before.

/** Locks the rows `ids` (distinct, not null) of `parent` ('callers' or
    'leads') FOR KEY SHARE, as a foreign key's check does, in one
    statement (for leads, one primary-key probe per id), and raises
    foreign_key_violation, worded as PostgreSQL words it for the dropped
    constraint `constraint_name` on `child`.`child_column`, when fewer rows
    were locked than asked for (a parent deleted before the lock, even
    concurrently, is not locked: the lock waits for the deleter and then
    skips the row).
    Only then does it look for the missing id, for the message. The lock
    statement is written out per parent, not built with EXECUTE, so the
    ingest path runs a plan plpgsql keeps; for leads, the probe per id keeps
    that plan an index probe whatever the table's statistics were when it
    was made. */
create or replace function engine.check_references_exist(parent text, ids bigint[], child text, child_column text, constraint_name text)
returns void
language plpgsql volatile
set search_path = ''
as $$
declare
  locked bigint;
  missing bigint;
begin
  if ids is null or pg_catalog.cardinality(ids) = 0 then
    return;
  end if;
  if parent = 'callers' then
    select pg_catalog.count(*) into locked
      from (select c.id from public.callers c where c.id = any (ids) for key share of c) x;
  elsif parent = 'leads' then
    select pg_catalog.count(*) into locked
      from (select u.id from pg_catalog.unnest(ids) as u(id) order by u.id) i,
           lateral (select l.id from public.leads l where l.id = i.id for key share of l) x;
  else
    raise exception 'engine.check_references_exist: no reference check for table "%"', parent;
  end if;
  if locked = pg_catalog.cardinality(ids) then
    return;
  end if;
  execute pg_catalog.format(
    'select pg_catalog.min(i.id) from pg_catalog.unnest($1) as i(id)
      where not exists (select 1 from public.%I p where p.id = i.id)', parent)
    into missing using ids;
  if missing is not null then
    raise exception using
      errcode = 'foreign_key_violation',
      message = pg_catalog.format('insert or update on table "%s" violates foreign key constraint "%s"',
                                  child, constraint_name),
      detail = pg_catalog.format('Key (%s)=(%s) is not present in table "%s".', child_column, missing, parent),
      table = child,
      constraint = constraint_name;
  end if;
end
$$;

-- Part 2.
--
-- plpgsql plans each statement with custom plans for five calls, then keeps
-- a generic plan only if it does not look more expensive than the custom
-- ones. Most statements of `engine.ingest_batch` read only the call's
-- arrays (`generate_series(1, total)`, `unnest(picks, …)`): a custom plan
-- knows their sizes and a generic one assumes 1,000 rows, so the generic
-- plan always looked dearer and seven statements were planned again on
-- every call (the lookup of the newest lead per phone, the items' state and
-- language pairs, the log insert, the answers, …): about 1.3 ms a call, at
-- any batch size. `plan_cache_mode = force_generic_plan` on the function
-- plans each once per session. A generic plan is made with the statistics
-- of its moment (the trap of part 1), so the statements that read `leads`
-- were checked under it on a never-analyzed table: the lookup per phone
-- stays a LATERAL `limit 1` on `leads_phone_created_at_idx`, and the
-- duplicate counters' joined update, whose generic plan there hashed the
-- whole table, now runs only when the batch repeats a lead, through
-- EXECUTE (planned for that call's values, as before). The setting applies
-- to what the function calls too: the reference checks' triggers (already
-- generic) and `engine.now()`.
--
-- The body is …001800's with that update changed and the "References" and
-- "Plans" paragraphs of its comment; signature, grants (kept by `create or
-- replace`), callers and locking are unchanged: `public.ingest_leads`
-- holds every phone lock and the assignment lock before calling it.

/** Decides and stores a batch of leads. Called only by `ingest_leads`, with
    every valid item's phone lock and the assignment lock held;
    `problems[k]` is null for a valid item `k` (1-based), else its error.
    Returns the answers in item order, as `ingest_lead` would give them one
    after another, with the same decisions, log rows and loads.

    Reads, once: the clock per item (right after the locks, in item order);
    the active callers with a limit above 0, with limit, weight, pause,
    states, languages and `last_assigned_at`; the loads of the batch's local day(s); the newest
    stored lead for each of the batch's phones (one index probe each).

    Decides, item by item in memory:
      * a duplicate when the newest lead with its phone (stored, or created
        by an earlier item of this batch) is inside the duplicate window, so
        repeated phones in one batch go to their first occurrence's lead;
      * else a new lead, routed by the same ordering as
        `engine.choose_caller`: tier; language inside tier 1; load / weight
        (load alone in tier 4); least recently assigned; lowest id.

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
create or replace function engine.ingest_batch(payloads jsonb, problems text[], team public.settings) returns jsonb
language plpgsql volatile
set search_path = ''
set plan_cache_mode = force_generic_plan
as $$
declare
  total int := pg_catalog.jsonb_array_length(payloads);
  -- Per item k (1-based).
  moments timestamptz[];       -- the item's time, read after the locks
  days date[];                 -- its local day
  previous int[];              -- the previous valid item with the same phone
  stored_ids bigint[];         -- the newest stored lead with the item's phone
  stored_at timestamptz[];
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
  repeated_ids bigint[];       -- the leads this batch repeats, with how often and when last
  repeated_counts int[];
  repeated_latest timestamptz[];
  answers jsonb;
begin
  -- The clock, once per item in item order (one statement, so the reads
  -- follow the rows), after the phone locks and the assignment lock.
  select pg_catalog.array_agg(case when problems[t.k] is null then engine.now() end order by t.k)
    into moments
    from pg_catalog.generate_series(1, total) as t(k);
  select pg_catalog.array_agg((t.moment at time zone team.time_zone)::date order by t.k)
    into days
    from pg_catalog.unnest(moments) with ordinality as t(moment, k);

  -- The newest stored lead for each phone, probed once per phone (its first
  -- valid item); later items with the phone follow `previous`.
  select pg_catalog.array_agg(i.previous order by i.k),
         pg_catalog.array_agg(s.id order by i.k),
         pg_catalog.array_agg(s.created_at order by i.k),
         pg_catalog.array_agg(s.caller_id order by i.k),
         pg_catalog.array_agg(s.caller_name order by i.k)
    into previous, stored_ids, stored_at, stored_callers, stored_names
    from (select t.k, t.phone,
                 case when problems[t.k] is null
                      then pg_catalog.lag(t.k) over (partition by problems[t.k] is null, t.phone order by t.k)
                 end as previous
            from (select g.k, payloads -> (g.k - 1) ->> 'phone' as phone
                    from pg_catalog.generate_series(1, total) as g(k)) t) i
    left join lateral (
      select l.id, l.created_at, l.caller_id, c.name as caller_name
        from public.leads l
        left join public.callers c on c.id = l.caller_id
       where l.phone = i.phone
         and problems[i.k] is null
         and i.previous is null
       order by l.created_at desc
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

    -- engine.choose_caller's ordering, over the in-memory loads.
    class_base := (kinds[k] - 1) * m;
    select r.n, r.tier
      into pick, pick_tier
      from (select c.n, c.id, c.load, c.weight, c.recent,
                   case when c.load >= c.lim then 4
                        when classes[class_base + c.n] <= 2 then 1
                        else 2 end as tier
              from unnest(caller_ids, caller_limits, caller_weights, caller_pauses, loads, recents)
                   with ordinality as c(id, lim, weight, paused, load, recent, n)
             where c.paused is null or c.paused <= moments[k]) r
     order by r.tier,
              case when r.tier = 1 then classes[class_base + r.n] else 2 end,
              case when r.tier = 4 then r.load::numeric else r.load::numeric / r.weight end,
              r.recent nulls first,
              r.id
     limit 1;
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

