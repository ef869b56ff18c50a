-- The test clock `bloc.now` is honoured only where the database enables it.
--
-- `engine.now()` used to return the setting `bloc.now` whenever it was set,
-- in production too: any session able to run `set_config` (a SQL console, a
-- misconfigured pooler, a future RPC) could date leads, loads and SLA
-- decisions at will. Now the override counts only when the row below says
-- so. Production never sets it; the engine tests set it once per test
-- database (tests/engine/support.rs, `Db::new`) as the database owner.
-- Without `bloc.now` the flag is not even read, so the wall clock costs
-- what it did.

/** Whether `engine.now()` honours `bloc.now`; exactly one row, off unless a
    test harness turns it on. Writable only by the owner: no API role has
    any privilege on it, and RLS is on with no policy. */
create table engine.clock_settings (
  id boolean primary key default true check (id),
  override_allowed boolean not null default false
);

insert into engine.clock_settings (id) values (true);

alter table engine.clock_settings enable row level security;
revoke all on table engine.clock_settings from public, anon, authenticated, service_role;

/** The engine's "now": the wall clock, `clock_timestamp()`, so decisions
    within one transaction (a batch) still get increasing times for the
    "least recently assigned" tie-break. Tests move time with
    `select set_config('bloc.now', '2026-01-01 10:00+05:30', false)`, which
    is honoured only while `engine.clock_settings.override_allowed` is true.
    Security definer, so that the API roles (whose triggers call it) need no
    privilege on that table; search_path is fixed. */
create or replace function engine.now() returns timestamptz
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  override text := pg_catalog.current_setting('bloc.now', true);
begin
  if override is null or override = '' then
    return pg_catalog.clock_timestamp();
  end if;
  if not exists (select 1 from engine.clock_settings s where s.override_allowed) then
    return pg_catalog.clock_timestamp();
  end if;
  return override::timestamptz;
end
$$;
