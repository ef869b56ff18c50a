-- The routing decision: which caller gets a lead, and the lock that makes
-- every decision see every decision before it.
--
-- LOCKING DESIGN (see docs/engine.md for the full argument)
--
-- Every write to assignment state -- caller_daily_loads, callers
-- (eligibility, limits, weights, last_assigned_at), and the caller of a lead --
-- happens inside a transaction that first takes ONE transaction-scoped
-- advisory lock, engine.lock_assignments(), and keeps it until commit.
-- The candidate query runs as a later statement than the lock. Under Read
-- Committed each statement takes a fresh snapshot, and the previous holder
-- released the lock only after its commit became visible, so the snapshot
-- contains every earlier decision. No decision reads a stale load, and
-- no `SELECT ... ORDER BY ... LIMIT 1 FOR UPDATE` is involved: the trap where
-- a waiting FOR UPDATE re-checks its WHERE on one changed row (and returns
-- nothing, or a choice the new loads no longer support) cannot happen.
--
-- Lock order, everywhere: phone locks (ascending key) -> the assignment lock
-- -> row locks. Writes to `callers` take the assignment lock in a BEFORE
-- STATEMENT trigger, before their row locks, so an admin editing a caller
-- cannot deadlock with an ingest that updates the same caller's
-- last_assigned_at.

/** The single assignment lock; held until the end of the transaction. */
create or replace function engine.lock_assignments() returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  -- key space 0x424C4F43 ('BLOC'), object 1: the assignment lock
  perform pg_catalog.pg_advisory_xact_lock(1112297283, 1);
end
$$;

/** Serializes leads with one phone, so two concurrent requests with that
    phone yield exactly one lead: the second waits for the first to commit,
    then (new statement, new snapshot) finds it as a duplicate. Different
    phones colliding on the 32-bit hash merely wait for each other. */
create or replace function engine.lock_phone(phone text) returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  perform pg_catalog.pg_advisory_xact_lock(1112297284, pg_catalog.hashtext(lock_phone.phone));
end
$$;

/** The routing rule. Must be called with engine.lock_assignments() already
    held, from a later statement, so its snapshot includes every decision.

    Eligible: active, not paused at `moment`, and not `exclude`.
      tier 1  state match: `state` in assigned_states and under today's limit;
              callers speaking `language` come first (strict preference).
      tier 2  any eligible caller under today's limit.
      tier 4  overflow: everyone eligible is at its limit.
    Within tiers 1 and 2: lowest assigned_today / weight, then least
    recently assigned (never assigned first), then lowest id. In tier 4:
    fewest assigned_today, then least recently assigned, then lowest id.
    No row when nobody is eligible. */
create or replace function engine.choose_caller(
  state text, language text, exclude bigint, moment timestamptz, day date,
  out caller_id bigint, out caller_name text, out tier int, out candidates json
)
language plpgsql volatile
set search_path = ''
as $$
begin
  -- plpgsql rather than sql: its plan is cached per session, where a
  -- non-inlined sql function would be planned again on every lead.
  -- `eligible` is materialized once and read twice: for the choice (top-1
  -- sort) and for the candidate snapshot. The snapshot is json_agg over plain
  -- rows (row_to_json per row), which is cheaper per lead than a window
  -- json_agg of json_build_object calls and yields more compact text.
  with eligible as materialized (
    select c.id, c.name, c.languages, c.daily_lead_limit, c.weight,
           coalesce(l.last_assigned_at, c.last_assigned_at) as last_assigned_at,
           coalesce(l.assigned, 0) as assigned_today,
           case
             when coalesce(l.assigned, 0) >= c.daily_lead_limit then 4
             when choose_caller.state is not null and choose_caller.state = any (c.assigned_states) then 1
             else 2
           end as rank_tier
    from public.callers c
    left join public.caller_daily_loads l on l.caller_id = c.id and l.day = choose_caller.day
    where c.active
      and (c.paused_until is null or c.paused_until <= choose_caller.moment)
      and c.id is distinct from choose_caller.exclude
  )
  select r.id, r.name, r.rank_tier,
         (select pg_catalog.json_agg(s order by s.caller_id)
            from (select e.id as caller_id, e.name, e.assigned_today, e.daily_lead_limit, e.weight
                    from eligible e) s)
    into choose_caller.caller_id, choose_caller.caller_name, choose_caller.tier, choose_caller.candidates
  from eligible r
  order by r.rank_tier,
           (r.rank_tier = 1 and choose_caller.language is not null and choose_caller.language = any (r.languages)) desc,
           case when r.rank_tier = 4 then r.assigned_today::numeric else r.assigned_today::numeric / r.weight end,
           r.last_assigned_at nulls first,
           r.id
  limit 1;
end
$$;

/** Books one assignment to `caller_id` on `day`: the daily load and its
    last_assigned_at. Caller must hold the assignment lock. */
create or replace function engine.book(caller_id bigint, day date, moment timestamptz) returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  insert into public.caller_daily_loads as l (caller_id, day, assigned, last_assigned_at)
  values (book.caller_id, book.day, 1, book.moment)
  on conflict on constraint caller_daily_loads_pkey
  do update set assigned = l.assigned + 1, last_assigned_at = excluded.last_assigned_at;
end
$$;

/** Copies the latest booking time of `day` (and the day before, for a
    transaction that crossed midnight) to callers.last_assigned_at, once at
    the end of each engine operation. Caller must hold the assignment lock. */
create or replace function engine.publish_last_assigned(day date) returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  update public.callers c
     set last_assigned_at = l.last_assigned_at
    from (select d.caller_id, max(d.last_assigned_at) as last_assigned_at
            from public.caller_daily_loads d
           where d.day between publish_last_assigned.day - 1 and publish_last_assigned.day
           group by d.caller_id) l
   where l.caller_id = c.id
     and (c.last_assigned_at is null or l.last_assigned_at > c.last_assigned_at);
end
$$;
