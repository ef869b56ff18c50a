-- Callers (sales agents who receive leads) and their per-day load counters.

/** A caller receives leads. `assigned_states` and `languages` hold the same
    codes as `leads.state` and `leads.language` (see docs/interfaces.md). */
create table if not exists public.callers (
  id bigint generated always as identity primary key,
  name text not null check (pg_catalog.length(pg_catalog.btrim(name)) between 1 and 200),
  email text null,
  user_id uuid null unique references auth.users (id) on delete set null,
  active boolean not null default true,
  paused_until timestamptz null,
  assigned_states text[] not null default '{}',
  languages text[] not null default '{}',
  daily_lead_limit int not null default 50 check (daily_lead_limit >= 0),
  weight int not null default 1 check (weight > 0),
  last_assigned_at timestamptz null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index if not exists callers_assigned_states_idx on public.callers using gin (assigned_states);

drop trigger if exists callers_20_touch on public.callers;
create trigger callers_20_touch before update on public.callers
  for each row execute function engine.touch_updated_at();

/** How many leads each caller was given on each local date (team time zone).
    A new day is simply a new key, so no reset job exists that could fail to
    run. Counts every assignment the caller received that day (any reason),
    so it always equals the number of that day's assignment_logs rows naming
    the caller; it is written only by the engine, under the assignment lock. */
create table if not exists public.caller_daily_loads (
  caller_id bigint not null references public.callers (id) on delete cascade,
  day date not null,
  assigned int not null default 0 check (assigned >= 0),
  -- The caller's latest assignment that day. The engine reads it for the
  -- "least recently assigned" tie-break and copies it to
  -- callers.last_assigned_at once per transaction, so a batch of 100 leads
  -- updates each caller row once, not 100 times.
  last_assigned_at timestamptz null,
  primary key (caller_id, day)
);
