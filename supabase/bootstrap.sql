-- Supabase's standard roles, schemas and publication, for a plain PostgreSQL 15.
--
-- Real Supabase projects already have all of this, so it lives outside
-- `supabase/migrations`. Local databases (localbase, tests) run it once before
-- the migrations. Every statement is idempotent: running the file again, or
-- from several processes against one server at once, changes nothing.

/** API roles, as Supabase names them. PostgREST logs in as `authenticator`
    and switches to the role named by the JWT. Local clusters use trust auth,
    so `authenticator` needs no password. */
do $$
declare
  spec record;
begin
  for spec in
    select * from (values
      ('anon',          'nologin noinherit'),
      ('authenticated', 'nologin noinherit'),
      ('service_role',  'nologin noinherit bypassrls'),
      ('authenticator', 'login noinherit')
    ) as t(name, options)
  loop
    if not exists (select 1 from pg_roles where rolname = spec.name) then
      begin
        execute format('create role %I %s', spec.name, spec.options);
      exception when duplicate_object or unique_violation then
        null; -- another process created it first
      end;
    end if;
  end loop;
end
$$;

/** Membership and per-role settings are cluster-wide, so they are changed only
    when missing: concurrent bootstraps of several databases on one server
    would otherwise collide on the same catalog rows. */
do $$
declare
  granted_role text;
  setting record;
begin
  foreach granted_role in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (
      select 1 from pg_auth_members m
      join pg_roles r on r.oid = m.roleid
      join pg_roles u on u.oid = m.member
      where r.rolname = granted_role and u.rolname = 'authenticator'
    ) then
      begin
        execute format('grant %I to authenticator', granted_role);
      exception when others then
        null; -- granted concurrently by another process
      end;
    end if;
  end loop;
  for setting in
    select * from (values
      ('anon', 'statement_timeout=3s'),
      ('authenticated', 'statement_timeout=8s'),
      ('authenticator', 'statement_timeout=8s')
    ) as t(role_name, config)
  loop
    if not exists (
      select 1 from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
      where r.rolname = setting.role_name and s.setdatabase = 0
        and setting.config = any(s.setconfig)
    ) then
      begin
        execute format('alter role %I set %s = %L', setting.role_name,
          split_part(setting.config, '=', 1), split_part(setting.config, '=', 2));
      exception when others then
        null; -- set concurrently by another process
      end;
    end if;
  end loop;
end
$$;

/** Extensions live in their own schema, as on Supabase. */
create schema if not exists extensions;
create extension if not exists pgcrypto with schema extensions;
create extension if not exists "uuid-ossp" with schema extensions;
grant usage on schema extensions to anon, authenticated, service_role;

do $$
begin
  execute format('alter database %I set search_path = "$user", public, extensions', current_database());
end
$$;

/** The public schema: usable by the API roles, and new objects granted to
    them by default (Supabase does the same, so migrations must revoke what
    an API role must not have). */
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

/** Schema `auth`, the part of GoTrue's schema this project relies on.
    localbase's Auth reads and writes these tables; the columns follow
    GoTrue's so code written against Supabase keeps working. */
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  instance_id uuid null,
  id uuid not null primary key default gen_random_uuid(),
  aud varchar(255) null default 'authenticated',
  role varchar(255) null default 'authenticated',
  email varchar(255) null unique,
  encrypted_password varchar(255) null,
  email_confirmed_at timestamptz null,
  invited_at timestamptz null,
  confirmation_token varchar(255) null,
  confirmation_sent_at timestamptz null,
  recovery_token varchar(255) null,
  recovery_sent_at timestamptz null,
  email_change_token_new varchar(255) null,
  email_change varchar(255) null,
  email_change_sent_at timestamptz null,
  last_sign_in_at timestamptz null,
  raw_app_meta_data jsonb null default '{}'::jsonb,
  raw_user_meta_data jsonb null default '{}'::jsonb,
  is_super_admin boolean null,
  created_at timestamptz null default now(),
  updated_at timestamptz null default now(),
  phone text null unique,
  phone_confirmed_at timestamptz null,
  phone_change text null default '',
  phone_change_token varchar(255) null default '',
  phone_change_sent_at timestamptz null,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current varchar(255) null default '',
  email_change_confirm_status smallint null default 0,
  banned_until timestamptz null,
  reauthentication_token varchar(255) null default '',
  reauthentication_sent_at timestamptz null,
  is_sso_user boolean not null default false,
  deleted_at timestamptz null,
  is_anonymous boolean not null default false
);

/** One row per sign-in method of a user (GoTrue's `identities`). */
create table if not exists auth.identities (
  provider_id text not null,
  user_id uuid not null references auth.users (id) on delete cascade,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz null,
  created_at timestamptz null default now(),
  updated_at timestamptz null default now(),
  email text generated always as (lower(identity_data ->> 'email')) stored,
  id uuid not null primary key default gen_random_uuid(),
  unique (provider_id, provider)
);
create index if not exists identities_user_id_idx on auth.identities (user_id);

/** One row per signed-in session; access tokens carry its id as `session_id`. */
create table if not exists auth.sessions (
  id uuid not null primary key default gen_random_uuid(),
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz null default now(),
  updated_at timestamptz null default now(),
  factor_id uuid null,
  aal text null default 'aal1' check (aal in ('aal1', 'aal2', 'aal3')),
  not_after timestamptz null,
  refreshed_at timestamp null,
  user_agent text null,
  ip inet null,
  tag text null
);
create index if not exists sessions_user_id_idx on auth.sessions (user_id);

/** Refresh tokens, rotated on use: each new token names the one it replaced
    in `parent`; reuse of a revoked token is detectable by that chain. */
create table if not exists auth.refresh_tokens (
  instance_id uuid null,
  id bigint generated by default as identity primary key,
  token varchar(255) null unique,
  user_id uuid null references auth.users (id) on delete cascade,
  revoked boolean null default false,
  created_at timestamptz null default now(),
  updated_at timestamptz null default now(),
  parent varchar(255) null,
  session_id uuid null references auth.sessions (id) on delete cascade
);
create index if not exists refresh_tokens_session_id_revoked_idx on auth.refresh_tokens (session_id, revoked);
create index if not exists refresh_tokens_parent_idx on auth.refresh_tokens (parent);
create index if not exists refresh_tokens_updated_at_idx on auth.refresh_tokens (updated_at desc);

/** The JWT claims PostgREST put in `request.jwt.claims` for this transaction
    (or the legacy `request.jwt.claim` setting), as jsonb; null without a JWT. */
create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

/** The signed-in user's id (`sub`), or null. Reads the legacy per-claim
    setting `request.jwt.claim.sub` first, as Supabase's own function does. */
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

/** The JWT's `role` claim (`anon`, `authenticated`, `service_role`), or null. */
create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

/** The JWT's `email` claim, or null. */
create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
  to anon, authenticated, service_role;

/** Realtime streams the tables of this publication; migrations add them. */
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    create publication supabase_realtime;
  end if;
exception when duplicate_object then
  null; -- created concurrently by another process
end
$$;
