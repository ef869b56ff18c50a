-- Team settings from the web app: an audit of every change, an admin-only
-- RPC that validates each field, the list of IANA zones, and the team's
-- "today" as the engine computes it, so the web app needs no zone table.
--
-- Locking: update_settings takes the assignment lock (engine.lock_assignments)
-- before it updates the settings row, the same order as every ingest (phone
-- locks -> assignment lock -> row locks). An assignment in progress therefore
-- finishes with the zone, window and SLA it read after its lock, and the next
-- one reads the new values; no decision mixes the two. Nothing else locks the
-- settings row, so this cannot deadlock. The audit rows are written by a
-- trigger in the same transaction as the change.

/** One row per changed setting: who changed it (the auth user and the email
    they had then; null for a change made outside the API, such as a SQL
    console or a migration), when (engine.now()), which field, and the old
    and new values as text in the units update_settings takes
    (`duplicate_window_minutes` in minutes). Written by the trigger
    settings_30_audit on every update of public.settings, whatever path made
    it, so the record cannot be skipped. Admins read it; no API role writes
    it, and nobody may change or delete it through the API. */
create table public.settings_audit (
  id bigint generated always as identity primary key,
  changed_at timestamptz not null,
  changed_by uuid references auth.users (id) on delete set null,
  changed_by_email text,
  field text not null check (field in ('time_zone', 'duplicate_window_minutes', 'sla_minutes', 'max_reassignments')),
  old_value text,
  new_value text
);

-- The settings page lists the newest changes first.
create index settings_audit_changed_at_idx on public.settings_audit (changed_at desc, id desc);

alter table public.settings_audit enable row level security;
revoke all on public.settings_audit from anon, authenticated, service_role;
grant select on public.settings_audit to authenticated, service_role;
-- Only the trigger's owner inserts, so no API role needs its sequence.
revoke all on sequence public.settings_audit_id_seq from anon, authenticated, service_role;

create policy "Admins can read the settings audit" on public.settings_audit
  for select to authenticated using ((select public.my_role()) = 'admin');

/** Writes one settings_audit row per setting that changed. Security definer,
    so the roles that may change settings need no privilege on the audit
    table; search_path is fixed. Who: auth.uid() from the request's JWT
    claims, and that user's email from auth.users. The duplicate window is
    written in minutes, the unit update_settings takes. */
create function engine.audit_settings() returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  actor uuid := auth.uid();
  actor_email text;
  moment timestamptz := engine.now();
begin
  if actor is not null then
    select u.email into actor_email from auth.users u where u.id = actor;
  end if;
  insert into public.settings_audit (changed_at, changed_by, changed_by_email, field, old_value, new_value)
  select moment, actor, actor_email, c.field, c.old_value, c.new_value
    from (values
      ('time_zone', old.time_zone, new.time_zone),
      ('duplicate_window_minutes', pg_catalog.trim_scale((pg_catalog.date_part('epoch', old.duplicate_window) / 60)::numeric)::text,
       pg_catalog.trim_scale((pg_catalog.date_part('epoch', new.duplicate_window) / 60)::numeric)::text),
      ('sla_minutes', old.sla_minutes::text, new.sla_minutes::text),
      ('max_reassignments', old.max_reassignments::text, new.max_reassignments::text)
    ) as c (field, old_value, new_value)
   where c.old_value is distinct from c.new_value;
  return null;
end
$$;

create trigger settings_30_audit after update on public.settings
  for each row execute function engine.audit_settings();

/** The team's settings as the settings page shows them: {time_zone,
    duplicate_window_minutes, sla_minutes, max_reassignments, updated_at}.
    Team members only (service_role too); security invoker, so the settings
    row's RLS applies. */
create function public.team_settings() returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  result jsonb;
begin
  if current_user in ('anon', 'authenticated') and public.my_role() is null then
    raise exception using errcode = '42501', message = 'only team members can read the settings';
  end if;
  select pg_catalog.jsonb_build_object(
           'time_zone', s.time_zone,
           'duplicate_window_minutes', pg_catalog.trim_scale((pg_catalog.date_part('epoch', s.duplicate_window) / 60)::numeric),
           'sla_minutes', s.sla_minutes,
           'max_reassignments', s.max_reassignments,
           'updated_at', s.updated_at)
    into result
    from public.settings s
   where s.id;
  return result;
end
$$;

revoke execute on function public.team_settings() from public, anon;
grant execute on function public.team_settings() to authenticated, service_role;

/** Changes the team settings; an argument left null keeps its value. Each
    field is checked on its own, and a bad one is refused with SQLSTATE
    22023 (HTTP 400) and a message that starts with the field's name:
      p_time_zone                 a name in pg_timezone_names;
      p_duplicate_window_minutes  0–525600 (a year; 0 treats every lead as new);
      p_sla_minutes               1–10080 (a week);
      p_max_reassignments         0–100.
    Nothing is changed when any field is refused. Every change is written to
    settings_audit (trigger settings_30_audit). Returns team_settings().
    Admins only: security definer because the audit and the assignment lock
    need privileges no API role has, so it checks the role itself first;
    search_path is fixed. Takes the assignment lock before the row lock (see
    the head of this file). */
create function public.update_settings(
  p_time_zone text default null,
  p_duplicate_window_minutes integer default null,
  p_sla_minutes integer default null,
  p_max_reassignments integer default null
) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  if public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can change the settings';
  end if;
  if p_time_zone is not null
     and not exists (select 1 from pg_catalog.pg_timezone_names z where z.name = p_time_zone) then
    raise exception using errcode = '22023',
      message = pg_catalog.format('time_zone %L is not a time zone PostgreSQL knows', p_time_zone),
      hint = 'use an IANA name such as Asia/Kolkata or America/New_York';
  end if;
  if p_duplicate_window_minutes is not null and p_duplicate_window_minutes not between 0 and 525600 then
    raise exception using errcode = '22023',
      message = pg_catalog.format('duplicate_window_minutes must be from 0 to 525600 (a year), got %s', p_duplicate_window_minutes);
  end if;
  if p_sla_minutes is not null and p_sla_minutes not between 1 and 10080 then
    raise exception using errcode = '22023',
      message = pg_catalog.format('sla_minutes must be from 1 to 10080 (a week), got %s', p_sla_minutes);
  end if;
  if p_max_reassignments is not null and p_max_reassignments not between 0 and 100 then
    raise exception using errcode = '22023',
      message = pg_catalog.format('max_reassignments must be from 0 to 100, got %s', p_max_reassignments);
  end if;
  perform engine.lock_assignments();
  update public.settings s
     set time_zone = coalesce(p_time_zone, s.time_zone),
         duplicate_window = coalesce(pg_catalog.make_interval(mins => p_duplicate_window_minutes), s.duplicate_window),
         sla_minutes = coalesce(p_sla_minutes, s.sla_minutes),
         max_reassignments = coalesce(p_max_reassignments, s.max_reassignments)
   where s.id;
  return public.team_settings();
end
$$;

revoke execute on function public.update_settings(text, integer, integer, integer) from public, anon;
grant execute on function public.update_settings(text, integer, integer, integer) to authenticated, service_role;

/** The zones the settings page offers, by name: [{name, utc_offset_minutes}],
    the offset being the one in force now. Only the IANA region zones
    (Africa/…, America/…, Asia/…, Europe/… and so on) and UTC: PostgreSQL
    also lists posix/…, right/… and legacy names (US/Eastern, EST5EDT, GMT+3)
    that name the same rules again. update_settings still accepts every name
    PostgreSQL knows, so a zone set earlier under a legacy name stays valid.
    Any signed-in role may read it; it says nothing about the team. */
create function public.time_zone_names() returns jsonb
language plpgsql stable
set search_path = ''
as $$
begin
  return (
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
             'name', z.name,
             'utc_offset_minutes', (pg_catalog.date_part('epoch', z.utc_offset) / 60)::integer) order by z.name)
      from pg_catalog.pg_timezone_names z
     where z.name = 'UTC'
        or z.name ~ '^(Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific)/');
end
$$;

revoke execute on function public.time_zone_names() from public, anon;
grant execute on function public.time_zone_names() to authenticated, service_role;

/** The team's "today", computed exactly as the engine computes it, so the
    web app's day is the engine's: {time_zone, day, starts_at, ends_at,
    utc_offset_minutes, now, refresh_at}.
      now          engine.now();
      day          engine.local_day(now), the key of caller_daily_loads;
      starts_at    day's local midnight, `day::timestamp at time zone zone`
                   (the expression dashboard_today() counts from);
      ends_at      the next day's local midnight; [starts_at, ends_at) is 23
                   or 25 hours long on a daylight-saving day;
      utc_offset_minutes  the zone's offset from UTC at `now`;
      refresh_at   when this answer stops being true: ends_at, or the first
                   quarter hour before it where the offset changes (every
                   zone changes offset on a quarter hour).
    Team members only (service_role too). */
create function public.team_today() returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  zone text := engine.time_zone();
  today date := engine.local_day(moment);
  starts timestamptz := today::timestamp at time zone zone;
  ends timestamptz := (today + 1)::timestamp at time zone zone;
  offset_now integer := (pg_catalog.date_part('epoch', (moment at time zone zone) - (moment at time zone 'UTC')) / 60)::integer;
  offset_changes timestamptz;
begin
  if current_user in ('anon', 'authenticated') and public.my_role() is null then
    raise exception using errcode = '42501', message = 'only team members can read the team''s day';
  end if;
  select pg_catalog.min(step) into offset_changes
    from pg_catalog.generate_series(
           pg_catalog.date_bin('15 minutes', moment, timestamptz '2000-01-01 00:00+00') + interval '15 minutes',
           ends, interval '15 minutes') as step
   where (pg_catalog.date_part('epoch', (step at time zone zone) - (step at time zone 'UTC')) / 60)::integer <> offset_now;
  return pg_catalog.jsonb_build_object(
    'time_zone', zone,
    'day', today,
    'starts_at', starts,
    'ends_at', ends,
    'utc_offset_minutes', offset_now,
    'now', moment,
    'refresh_at', coalesce(offset_changes, ends));
end
$$;

revoke execute on function public.team_today() from public, anon;
grant execute on function public.team_today() to authenticated, service_role;
