-- Engine functions are executable only by the roles that call them.
--
-- PostgreSQL lets PUBLIC execute every new function. The first migration's
-- `alter default privileges in schema engine revoke execute on functions
-- from public` did not change that: a per-schema default privilege can only
-- add to the global defaults, never take away. So every engine helper was
-- executable by every role (`authenticated` could call engine.choose_caller,
-- engine.lock_assignments or engine.drain_backlog from SQL), and the ingest
-- RPCs, which are security invoker, silently relied on it.
--
-- Who needs what. A trigger function needs no EXECUTE: PostgreSQL checks it
-- when the trigger is created, not when it fires. A function a trigger
-- function (or a trigger's WHEN clause) calls does need it, for the role
-- whose statement fired the trigger, unless the trigger function is a
-- security definer.
--   service_role   runs ingest_lead, ingest_leads, assign_backlog and
--                  reassign_stale_leads, all security invoker, so it needs
--                  every helper they call (granted below);
--   authenticated  admins' and callers' writes fire triggers that read
--                  engine.now(); admins' dashboard_today() reads
--                  engine.time_zone() and engine.local_day() (granted in
--                  …0100); the callers lock trigger calls
--                  engine.lock_assignments() until …0600 makes it a definer;
--   anon           nothing (it has no usage on schema engine either).
-- tests/engine/12_privileges.rs compares every such grant with
-- tests/engine/allowlist/privileges.txt.

-- From here on, a function the migration role creates, in any schema, is
-- executable by no one it is not granted to. The global form is needed for
-- the reason above. In `public` the bootstrap's (Supabase's) per-schema
-- defaults still grant new functions to anon, authenticated and
-- service_role, so an RPC keeps revoking from them what it does not mean.
alter default privileges revoke execute on functions from public;

revoke execute on all functions in schema engine from public;

-- Trigger functions: fired, never called, so no role needs EXECUTE.
revoke execute on function
  engine.guard_lead_update(), engine.stamp_lead_status(),
  engine.lock_assignments_for_callers(), engine.drain_backlog_on_caller_change(),
  engine.link_login_on_caller_change(), engine.link_caller_on_login_created()
  from authenticated, service_role;

-- What the ingest RPCs and the sweeps call, as service_role.
grant execute on function
  engine.lead_payload_error(jsonb),
  engine.lock_phone(text),
  engine.ingest_valid_lead(jsonb, public.settings, boolean),
  engine.choose_caller(text, text, bigint, timestamptz, date),
  engine.book(bigint, date, timestamptz),
  engine.publish_last_assigned(date),
  engine.drain_backlog()
  to service_role;
