-- Leads: incoming prospects, each assigned to at most one caller.

/** One row per distinct phone per duplicate window. `status` is
    `unassigned` exactly while nobody was eligible to take the lead; the
    status timestamps are set by trigger, never by clients. */
create table if not exists public.leads (
  id bigint generated always as identity primary key,
  phone text not null check (phone ~ '^\+[1-9][0-9]{6,14}$'),
  name text null,
  email text null,
  state text null,
  city text null,
  language text null,
  source text null,
  metadata jsonb not null default '{}' check (pg_catalog.jsonb_typeof(metadata) = 'object'),
  status text not null default 'new'
    check (status in ('new', 'contacted', 'qualified', 'converted', 'lost', 'unassigned')),
  -- restrict: a caller with leads is deactivated, not deleted, so no lead loses its owner silently
  caller_id bigint null references public.callers (id) on delete restrict,
  assigned_at timestamptz null,
  contacted_at timestamptz null,
  qualified_at timestamptz null,
  converted_at timestamptz null,
  lost_at timestamptz null,
  status_changed_at timestamptz null,
  notes text null,
  duplicate_count int not null default 0,
  last_duplicate_at timestamptz null,
  reassign_count int not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- The duplicate check: newest lead with this phone.
create index if not exists leads_phone_created_at_idx on public.leads (phone, created_at desc);
-- A caller's list, and RLS's `caller_id = my_caller_id()`.
create index if not exists leads_caller_id_status_idx on public.leads (caller_id, status);
-- The SLA sweep looks only at leads still `new`.
create index if not exists leads_new_assigned_at_idx on public.leads (assigned_at) where status = 'new';
-- The backlog drain looks only at unassigned leads.
create index if not exists leads_unassigned_created_at_idx on public.leads (created_at, id) where status = 'unassigned';
-- Dashboards count today's leads.
create index if not exists leads_created_at_idx on public.leads (created_at);

/** What an API user may change on a lead. Admins may edit contact fields,
    status and notes; a caller only `status` and `notes` of its own leads
    (RLS limits the rows, this limits the columns beyond the column grants).
    Nobody but the engine moves a lead to `unassigned` or edits `caller_id`
    and `phone` (not granted; reassign with `reassign_lead`). Engine functions
    run as the table owner, so `current_user` tells them apart. */
create or replace function engine.guard_lead_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user not in ('authenticated', 'anon') then
    return new;
  end if;
  if new.status = 'unassigned' and old.status is distinct from 'unassigned' then
    raise exception using errcode = '42501', message = 'only the assignment engine can mark a lead unassigned';
  end if;
  if public.my_role() is distinct from 'admin'
     and (pg_catalog.to_jsonb(new) - 'status' - 'notes' - 'updated_at')
         is distinct from (pg_catalog.to_jsonb(old) - 'status' - 'notes' - 'updated_at') then
    raise exception using errcode = '42501', message = 'a caller may change only status and notes of its leads';
  end if;
  return new;
end
$$;

/** Stamps the status timestamps. Skipping a stage (straight from `new` to
    `converted`) stamps the earlier stages it implies, once. */
create or replace function engine.stamp_lead_status() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  stamp timestamptz := engine.now();
begin
  if new.status is distinct from old.status then
    new.status_changed_at := stamp;
    if new.status in ('contacted', 'qualified', 'converted') and new.contacted_at is null then
      new.contacted_at := stamp;
    end if;
    if new.status in ('qualified', 'converted') and new.qualified_at is null then
      new.qualified_at := stamp;
    end if;
    if new.status = 'converted' and new.converted_at is null then
      new.converted_at := stamp;
    end if;
    if new.status = 'lost' and new.lost_at is null then
      new.lost_at := stamp;
    end if;
  end if;
  new.updated_at := stamp;
  return new;
end
$$;

grant execute on function engine.guard_lead_update(), engine.stamp_lead_status() to authenticated, service_role;

drop trigger if exists leads_10_guard on public.leads;
create trigger leads_10_guard before update on public.leads
  for each row execute function engine.guard_lead_update();

drop trigger if exists leads_20_stamp on public.leads;
create trigger leads_20_stamp before update on public.leads
  for each row execute function engine.stamp_lead_status();
