-- The minute jobs stop holding the assignment lock while a new backend
-- warms up (issue 14).
--
-- pg_cron starts a new backend for every run. At each minute's tick
-- `assign_backlog()` and `reassign_stale_leads()` each took the assignment
-- lock first and only then compiled their plpgsql, planned their queries
-- and loaded the catalogs of `leads` and its 18 indexes. Measured on the
-- 2-core VM: a first call in a new backend took 14.6 ms (`assign_backlog`,
-- with no backlog) and 10.8 ms (`reassign_stale_leads`, with nothing
-- stale) against 0.4 and 1.0 ms for a second call, nearly all of it under
-- the lock; under the ingest benchmark's load, with the other minute jobs
-- starting beside them, the drain held the lock for 80 ms
-- (`LOADGEN_PG_LOG=slow`). Every ingest call waited behind it: the leads
-- sent in those 100 ms were the run's slowest hundred (p99 179 ms against
-- ~100 ms in the same run away from the tick; docs/benchmarks.md).
--
-- 1. `assign_backlog()` first looks for an unassigned lead without the
--    lock (one probe of the partial index `leads_unassigned_created_at_idx`)
--    and, finding none, answers `{"moved": 0, "leads": []}` as the drain
--    would, without the lock. That is the answer of a drain run at that
--    moment: the drain only assigns leads that are unassigned, and a lead
--    left unassigned by a transaction not yet committed was never visible
--    to a drain that started before its commit either (it would find it
--    only by waiting for the lock that transaction holds; the next minute's
--    run, or the next ingest, which drains first, picks it up). With a
--    backlog it drains under the lock exactly as before, its catalogs
--    already loaded by the look.
-- 2. `reassign_stale_leads()` reads the leads it may move once before the
--    lock (the same predicate, at the call's time, one row, not locked), so
--    a new backend has loaded `leads`, its indexes and the settings, and
--    compiled `engine.now()` and `engine.local_day()`, before it waits. It
--    still always takes the lock and judges staleness by the clock read
--    after it, as before: a lead that becomes stale while the sweep waits
--    is moved by that sweep (tests/engine/10_clock_after_the_lock.rs has
--    the drain's version of this), so the look cannot decide anything.
--    Measured as the time a call held the lock after the lock it waited
--    for was released (a third session queued behind it; idle VM, no
--    backlog, nothing stale, three runs each): `assign_backlog` 5.1–7.8 ms
--    before, 0.7–1.8 ms after (the hand-over itself); `reassign_stale_leads`
--    7.1–11.2 ms before, 2.8–5.7 ms after.
--
-- LOCKING: unchanged wherever a lead is moved: the assignment lock, then
-- the leads' row locks, then the clock. The look before the lock takes no
-- lock beyond the snapshot's, writes nothing and returns nothing that is
-- used to decide.

/** The maintenance drain's entry point (pg_cron every minute, or
    service_role): assigns the backlog, oldest first, under the assignment
    lock (engine.drain_backlog). When no unassigned lead is visible it
    answers `{"moved": 0, "leads": []}` without taking the lock (…004300). */
create or replace function public.assign_backlog() returns jsonb
language plpgsql volatile
set search_path = ''
as $$
begin
  if not exists (select 1 from public.leads l where l.status = 'unassigned') then
    return pg_catalog.jsonb_build_object('moved', 0, 'leads', '[]'::jsonb);
  end if;
  return engine.drain_backlog();
end
$$;

/** The SLA sweep (pg_cron every minute, or service_role): under the
    assignment lock, moves each lead still `new` past `sla_minutes` (at the
    time read after the lock) to the best other caller, up to 1,000 a run,
    oldest first, logging `sla_reassign`. Before the lock it reads one such
    lead without locking it, only so that a new backend loads the catalogs
    and plans outside the lock (…004300); what it finds decides nothing. */
create or replace function public.reassign_stale_leads() returns jsonb
language plpgsql volatile
set search_path = ''
as $$
declare
  moment timestamptz;
  day date;
  settings public.settings;
  lead record;
  choice record;
  moved bigint[] := '{}';
begin
  -- The warm-up (see the header): the same tables, indexes and clock as
  -- below, read without locks; nothing read here is used after the lock.
  select * into settings from public.settings s where s.id;
  moment := engine.now();
  day := engine.local_day(moment);
  perform 1
     from public.leads l
    where l.status = 'new'
      and l.caller_id is not null
      and l.assigned_at <= moment - pg_catalog.make_interval(mins => settings.sla_minutes)
      and l.reassign_count < settings.max_reassignments
    limit 1;

  perform engine.lock_assignments();
  moment := engine.now();
  day := engine.local_day(moment);
  select * into settings from public.settings s where s.id;
  for lead in
    select l.id, l.caller_id, l.state, l.language
      from public.leads l
     where l.status = 'new'
       and l.caller_id is not null
       and l.assigned_at <= moment - pg_catalog.make_interval(mins => settings.sla_minutes)
       and l.reassign_count < settings.max_reassignments
     order by l.assigned_at, l.id
     limit 1000
       for update skip locked
  loop
    choice := engine.choose_caller(lead.state, lead.language, lead.caller_id, moment, day);
    continue when choice.caller_id is null;
    perform engine.book(choice.caller_id, day, moment);
    update public.leads
       set caller_id = choice.caller_id, assigned_at = moment, reassign_count = reassign_count + 1
     where id = lead.id;
    insert into public.assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, candidates, created_at)
    values (lead.id, choice.caller_id, lead.caller_id, 'sla_reassign', choice.tier, choice.candidates, moment);
    moved := moved || lead.id;
  end loop;
  if pg_catalog.cardinality(moved) > 0 then
    perform engine.publish_last_assigned(day);
  end if;
  return pg_catalog.jsonb_build_object('moved', pg_catalog.cardinality(moved), 'leads', pg_catalog.to_jsonb(moved));
end
$$;
