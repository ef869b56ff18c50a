-- Only admins, the engine and service_role write `callers`, and a refused
-- write takes no lock.
--
-- Before: the BEFORE STATEMENT trigger callers_00_lock took the global
-- assignment lock for every insert, update or delete on `callers`, whoever
-- sent it and however many rows RLS then let through. Any signed-in user
-- could PATCH /rest/v1/callers (filtered to 0 rows by RLS) and stall every
-- ingest behind that request.
--
-- Now two statement triggers fire, in name order:
--   callers_00_check_writer  security invoker, so it sees the writer's role.
--                            Raises 42501 unless the writer is service_role,
--                            the owner of the table (migrations, and the
--                            engine's security definer functions, which run
--                            as it) or a signed-in admin. Takes no lock.
--   callers_01_lock          security definer, so no API role needs EXECUTE
--                            on engine.lock_assignments(). Takes the
--                            assignment lock for an insert, a delete, and an
--                            update of any column but `user_id`.
--
-- LOCKING: why an update of only `user_id` takes no assignment lock.
-- Linking a confirmed login to its caller (…0700_confirmed_caller_logins)
-- writes `callers.user_id` from Auth's sign-up or confirmation transaction.
-- With the lock, anyone able to sign up could queue ingests behind their
-- sign-up. `user_id` is not assignment state (no routing decision reads it),
-- and that transaction takes no engine lock, so it holds at most this one
-- caller row's lock, which an engine transaction may wait for but which never
-- waits for the engine: no deadlock. The lock order of docs/engine.md
-- (assignment lock, then row locks) still holds for every write that changes
-- assignment state. 11_security.rs fails when a `callers` column is added and
-- not listed in callers_01_lock below.

/** Refuses a write to `callers`, before anything is locked, unless it comes
    from service_role, the table's owner (migrations and the engine's
    security definer functions) or a signed-in admin. Security invoker on
    purpose: `current_user` is then the role that sent the statement. */
create function engine.check_callers_writer() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user = 'service_role'
     or (current_user = 'authenticated' and public.my_role() is not distinct from 'admin')
     or pg_catalog.pg_has_role(current_user,
          (select c.relowner from pg_catalog.pg_class c where c.oid = tg_relid), 'USAGE') then
    return null;
  end if;
  raise exception using
    errcode = '42501',
    message = 'only admins can change callers';
end
$$;

revoke execute on function engine.check_callers_writer() from public;

/** Takes the assignment lock before a statement that changes assignment
    state in `callers` takes its row locks (see …0600_routing and
    …0900_backlog_triggers). Now a security definer: it fires only after
    engine.check_callers_writer() let the statement through, and no API role
    needs EXECUTE on engine.lock_assignments() for it. */
create or replace function engine.lock_assignments_for_callers() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform engine.lock_assignments();
  return null;
end
$$;

drop trigger callers_00_lock on public.callers;

create trigger callers_00_check_writer before insert or update or delete on public.callers
  for each statement execute function engine.check_callers_writer();

create trigger callers_01_lock
  before insert or delete
      or update of id, name, email, active, paused_until, assigned_states, languages,
                   daily_lead_limit, weight, last_assigned_at, created_at, updated_at
  on public.callers
  for each statement execute function engine.lock_assignments_for_callers();

-- Admins' writes to callers took the lock through the invoker trigger; now
-- only the engine's own invokers (service_role) call it.
revoke execute on function engine.lock_assignments() from authenticated;
