-- The batch path's candidate snapshots are built while deciding, as text.
--
-- `engine.ingest_batch` (…000200, narrowed in …001200) logged each decision
-- with a `json_agg` over every eligible caller, run per log row after the
-- loop: about 20 records turned into JSON for each lead, the largest single
-- cost of a batch of 100 (about a third of its time inside the function,
-- measured with pg_stat_statements on the development VM). Here each
-- caller's JSON element is built once per batch around its load, and a
-- decision's snapshot is those elements joined; after a pick only the picked
-- caller's element is rebuilt. The text is byte for byte what `json_agg`
-- wrote (and what `engine.choose_caller` still writes per lead): the same
-- keys in the same order, integers in their output form, the name through
-- the same JSON string escaping, elements joined with ", \n " as json_agg
-- joins records. tests/engine/09_batch_equivalence.rs compares the logs
-- with the per-lead path's byte for byte.
--
-- Only this function changes; its signature, its callers, the decisions,
-- the writes and the locking are those of …001200 (the caller,
-- public.ingest_leads, holds every phone lock and the assignment lock).

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

    Foreign keys: the inserts below still fire the row-level foreign-key
    checks of `leads.caller_id`, `assignment_logs.lead_id`,
    `assignment_logs.caller_id` and `caller_daily_loads.caller_id` (about
    three per lead). Under the locks held here none can fail: every caller
    named was read in this transaction after the assignment lock, which any
    delete of a caller must take first, and every lead named was inserted
    by this statement's transaction. They are kept for now because dropping
    them means rebuilding their ON DELETE actions as triggers (see
    docs/engine.md). */
create or replace function engine.ingest_batch(payloads jsonb, problems text[], team public.settings) returns jsonb
language plpgsql volatile
set search_path = ''
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

  -- Duplicate counters: once per original, however often it repeats here.
  update public.leads l
     set duplicate_count = l.duplicate_count + d.repeats, last_duplicate_at = d.latest
    from (select lead_ids[g.k] as id, pg_catalog.count(*)::int as repeats,
                 (pg_catalog.array_agg(moments[g.k] order by g.k desc))[1] as latest
            from pg_catalog.generate_series(1, total) as g(k)
           where targets[g.k] <> -g.k
           group by 1) d
   where l.id = d.id;

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

