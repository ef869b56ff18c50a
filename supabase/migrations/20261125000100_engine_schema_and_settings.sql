-- The team's settings row, and the engine's private schema with its clock.

/** Schema `engine` holds the assignment engine's internal functions.
    PostgREST exposes only `public`, so nothing here is callable over HTTP;
    API roles get `usage` only so that triggers and policies running as them
    can reach the few helpers granted below. */
create schema if not exists engine;
grant usage on schema engine to authenticated, service_role;
-- Functions are executable by PUBLIC by default; here nothing is unless granted.
alter default privileges in schema engine revoke execute on functions from public;

/** Team-wide settings; exactly one row, whose key can only be `true`. */
create table if not exists public.settings (
  id boolean primary key default true check (id),
  time_zone text not null default 'Asia/Kolkata',
  duplicate_window interval not null default '24 hours' check (duplicate_window >= interval '0'),
  sla_minutes int not null default 120 check (sla_minutes > 0),
  max_reassignments int not null default 3 check (max_reassignments >= 0),
  updated_at timestamptz not null default now()
);

insert into public.settings (id) values (true) on conflict (id) do nothing;

/** The engine's "now". Tests move time by setting `bloc.now` (any
    timestamptz text) for a session or transaction, e.g.
    `select set_config('bloc.now', '2026-01-01 10:00+05:30', true)`; with the
    setting unset or empty it is the wall clock, `clock_timestamp()`, so that
    decisions within one transaction (a batch) still get increasing
    `last_assigned_at` values for the "least recently assigned" tie-break.
    Every timestamp and every "today" the engine writes goes through this. */
create or replace function engine.now() returns timestamptz
language plpgsql volatile
set search_path = ''
as $$
begin
  -- The engine's helpers are plpgsql, not sql: a sql function that cannot be
  -- inlined (SET search_path prevents it) is parsed and planned on every call.
  return coalesce(nullif(pg_catalog.current_setting('bloc.now', true), '')::timestamptz, pg_catalog.clock_timestamp());
end
$$;

/** The team's time zone. */
create or replace function engine.time_zone() returns text
language plpgsql stable
set search_path = ''
as $$
begin
  return (select s.time_zone from public.settings s where s.id);
end
$$;

/** The local date of `at` in the team's time zone: the key of daily loads. */
create or replace function engine.local_day(moment timestamptz) returns date
language plpgsql stable
set search_path = ''
as $$
begin
  return (local_day.moment at time zone engine.time_zone())::date;
end
$$;

grant execute on function engine.now(), engine.time_zone(), engine.local_day(timestamptz)
  to authenticated, service_role;

/** Keeps `updated_at` current on every table that has one. */
create or replace function engine.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := engine.now();
  return new;
end
$$;

/** Rejects a time zone PostgreSQL does not know, so no later "today" fails. */
create or replace function engine.check_settings() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if not exists (select 1 from pg_catalog.pg_timezone_names where name = new.time_zone) then
    raise exception using
      errcode = '22023',
      message = pg_catalog.format('unknown time zone %L', new.time_zone),
      hint = 'use an IANA name such as Asia/Kolkata';
  end if;
  return new;
end
$$;

drop trigger if exists settings_10_check on public.settings;
create trigger settings_10_check before insert or update on public.settings
  for each row execute function engine.check_settings();

drop trigger if exists settings_20_touch on public.settings;
create trigger settings_20_touch before update on public.settings
  for each row execute function engine.touch_updated_at();
