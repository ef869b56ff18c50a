-- Caller changes that make someone eligible drain the backlog at once.

/** Takes the assignment lock before any statement writes `callers`, so the
    row locks it then takes come after the assignment lock, in the same order
    as the engine's own `last_assigned_at` updates: no deadlock. It also means
    an eligibility change and a routing decision never overlap. */
create or replace function engine.lock_assignments_for_callers() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform engine.lock_assignments();
  return null;
end
$$;

drop trigger if exists callers_00_lock on public.callers;
create trigger callers_00_lock before insert or update or delete on public.callers
  for each statement execute function engine.lock_assignments_for_callers();

/** Drains the backlog when a caller becomes eligible: created active,
    activated, or unpaused. Security definer: the admin whose edit fired it
    may not write leads' caller, loads or logs directly; search_path is fixed. */
create or replace function engine.drain_backlog_on_caller_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform engine.drain_backlog();
  return null;
end
$$;

grant execute on function engine.lock_assignments_for_callers(), engine.drain_backlog_on_caller_change()
  to authenticated, service_role;

drop trigger if exists callers_30_drain_on_insert on public.callers;
create trigger callers_30_drain_on_insert after insert on public.callers
  for each row
  when (new.active and (new.paused_until is null or new.paused_until <= engine.now()))
  execute function engine.drain_backlog_on_caller_change();

drop trigger if exists callers_30_drain_on_update on public.callers;
create trigger callers_30_drain_on_update after update of active, paused_until on public.callers
  for each row
  when (new.active and (new.paused_until is null or new.paused_until <= engine.now())
        and not (old.active and (old.paused_until is null or old.paused_until <= engine.now())))
  execute function engine.drain_backlog_on_caller_change();

grant execute on function engine.lock_assignments() to authenticated, service_role;
