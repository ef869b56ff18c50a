-- The batch engine's choice of caller scans the callers covering the
-- lead's state first (issue 14).
--
-- `engine.ingest_batch` (…004200) decides each new lead with a plpgsql scan
-- of every active caller, comparing each with the best so far (tier, the
-- language class inside tier 1, load / weight, recency, id): about a
-- dozen plpgsql expressions per caller met, per lead, all of it under the
-- assignment lock, and growing with the team. Backend CPU per batch of 128
-- (one session, alternating arms; docs/benchmarks.md): with 20 callers
-- 24.4 -> 22.5, 28.5 -> 26.7 and 29.2 -> 29.3 ms in three sets, and with
-- 100 callers 43.8 -> 38.1 ms (-13%).
--
-- Tier 1 is the callers that cover the lead's state and are under their
-- limit, and any of them beats every caller of tiers 2 and 4. So the scan
-- now meets first only the callers covering the lead's state (a handful:
-- computed once per batch for each (state, language) pair the batch
-- holds), in the same id order and with the same comparisons, and scans
-- every caller, exactly as before, only when none of those is in tier 1
-- (all paused or at their limit, or no caller covers the state). The best
-- of a set holding every tier-1 caller is the best of all, and ties are
-- still kept by the lower id, so the decisions are the same; the oracle
-- (tests/engine/09_batch_equivalence.rs) compares them byte for byte with
-- the per-lead path, now also with covering callers filling up inside a
-- batch.
--
-- Only the function's body changes (`create or replace` keeps its grants,
-- restated below as they are); the locks, reads, writes and answers are
-- as in …004200.

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
        choice is a plpgsql scan (…004100), not a statement per item: first
        of the callers covering the item's state, and of all the callers
        only when none of those is in tier 1 (…004400).

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
create or replace function engine.ingest_batch(payloads jsonb, problems text[], team public.settings,
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
  -- The callers covering kind K's state (classes 0-2), by position, in
  -- ascending order: covering[cover_from[K] .. cover_to[K]].
  covering int[];
  cover_from int[];
  cover_to int[];
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

    with covered as (
      select ((u.i - 1) / m + 1)::int as kind, ((u.i - 1) % m + 1)::int as n
        from pg_catalog.unnest(classes) with ordinality as u(class_of, i)
       where u.class_of <= 2
    )
    select coalesce((select pg_catalog.array_agg(c.n order by c.kind, c.n) from covered c), '{}'),
           pg_catalog.array_agg((select pg_catalog.count(*) from covered c where c.kind < g.kind)::int + 1
                                order by g.kind),
           pg_catalog.array_agg((select pg_catalog.count(*) from covered c where c.kind <= g.kind)::int
                                order by g.kind)
      into covering, cover_from, cover_to
      from pg_catalog.generate_series(1, pg_catalog.cardinality(classes) / m) as g(kind);
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
    --
    -- Tier 1 first, over the callers covering the item's state only: any
    -- tier-1 caller beats every caller of tiers 2 and 4, and these are all
    -- the callers that can be in tier 1, met in the same id order, so the
    -- best of them is the best of all. Only when none of them is in tier 1
    -- (all paused or at their limit, or none covers the state) are all the
    -- callers scanned, exactly as before.
    class_base := (kinds[k] - 1) * m;
    pick := null;
    for place in cover_from[kinds[k]] .. cover_to[kinds[k]] loop
      candidate := covering[place];
      continue when caller_pauses[candidate] > moments[k]
                 or loads[candidate] >= caller_limits[candidate];
      candidate_rank := classes[class_base + candidate];
      if pick is not null then
        continue when candidate_rank > pick_rank;
      end if;
      candidate_ratio := loads[candidate]::numeric / caller_weights[candidate];
      if pick is not null and candidate_rank = pick_rank then
        continue when candidate_ratio > pick_ratio;
        continue when candidate_ratio = pick_ratio
                  and (pick_recent is null
                       or (recents[candidate] is not null and recents[candidate] >= pick_recent));
      end if;
      pick := candidate;
      pick_tier := 1;
      pick_rank := candidate_rank;
      pick_ratio := candidate_ratio;
      pick_recent := recents[candidate];
    end loop;
    if pick is null then
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
    end if;
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
