-- Who may see and change what: table grants, then row-level security.
--
-- Admins read and write everything (through the RPCs where the engine must
-- keep its counters and log right). A caller reads its own caller row, load,
-- leads and logs, and changes only status and notes of its own leads.
-- `anon` reads nothing. `service_role` bypasses RLS (the ingest service).

-- Supabase's default privileges grant everything in `public` to the API
-- roles; start from nothing and grant explicitly.
revoke all on public.settings, public.callers, public.caller_daily_loads,
  public.team_members, public.leads, public.assignment_logs
  from anon, authenticated;
grant all on public.settings, public.callers, public.caller_daily_loads,
  public.team_members, public.leads, public.assignment_logs
  to service_role;

grant select on public.settings, public.callers, public.caller_daily_loads,
  public.team_members, public.leads, public.assignment_logs
  to authenticated;
grant update (time_zone, duplicate_window, sla_minutes, max_reassignments) on public.settings to authenticated;
grant insert, update, delete on public.callers to authenticated;
grant insert, update, delete on public.team_members to authenticated;
-- Never caller_id (reassign_lead logs it), phone (the duplicate key) or the
-- engine's counters and timestamps.
grant update (status, notes, name, email, state, city, language, source, metadata) on public.leads to authenticated;
grant delete on public.leads to authenticated;

alter table public.settings enable row level security;
alter table public.callers enable row level security;
alter table public.caller_daily_loads enable row level security;
alter table public.team_members enable row level security;
alter table public.leads enable row level security;
alter table public.assignment_logs enable row level security;

-- settings
drop policy if exists "Team members can read the settings" on public.settings;
create policy "Team members can read the settings" on public.settings
  for select to authenticated using ((select public.my_role()) is not null);
drop policy if exists "Admins can change the settings" on public.settings;
create policy "Admins can change the settings" on public.settings
  for update to authenticated
  using ((select public.my_role()) = 'admin') with check ((select public.my_role()) = 'admin');

-- callers
drop policy if exists "Admins can manage callers" on public.callers;
create policy "Admins can manage callers" on public.callers
  for all to authenticated
  using ((select public.my_role()) = 'admin') with check ((select public.my_role()) = 'admin');
drop policy if exists "Callers can read their own caller row" on public.callers;
create policy "Callers can read their own caller row" on public.callers
  for select to authenticated using (id = (select public.my_caller_id()));

-- caller_daily_loads
drop policy if exists "Admins can read every caller's load" on public.caller_daily_loads;
create policy "Admins can read every caller's load" on public.caller_daily_loads
  for select to authenticated using ((select public.my_role()) = 'admin');
drop policy if exists "Callers can read their own load" on public.caller_daily_loads;
create policy "Callers can read their own load" on public.caller_daily_loads
  for select to authenticated using (caller_id = (select public.my_caller_id()));

-- team_members
drop policy if exists "Admins can manage team members" on public.team_members;
create policy "Admins can manage team members" on public.team_members
  for all to authenticated
  using ((select public.my_role()) = 'admin') with check ((select public.my_role()) = 'admin');
drop policy if exists "Members can read their own membership" on public.team_members;
create policy "Members can read their own membership" on public.team_members
  for select to authenticated using (user_id = (select auth.uid()));

-- leads
drop policy if exists "Admins can read every lead" on public.leads;
create policy "Admins can read every lead" on public.leads
  for select to authenticated using ((select public.my_role()) = 'admin');
drop policy if exists "Admins can update every lead" on public.leads;
create policy "Admins can update every lead" on public.leads
  for update to authenticated
  using ((select public.my_role()) = 'admin') with check ((select public.my_role()) = 'admin');
drop policy if exists "Admins can delete leads" on public.leads;
create policy "Admins can delete leads" on public.leads
  for delete to authenticated using ((select public.my_role()) = 'admin');
drop policy if exists "Callers can read their own leads" on public.leads;
create policy "Callers can read their own leads" on public.leads
  for select to authenticated using (caller_id = (select public.my_caller_id()));
drop policy if exists "Callers can update their own leads" on public.leads;
create policy "Callers can update their own leads" on public.leads
  for update to authenticated
  using (caller_id = (select public.my_caller_id()))
  with check (caller_id = (select public.my_caller_id()));

-- assignment_logs
drop policy if exists "Admins can read every assignment log" on public.assignment_logs;
create policy "Admins can read every assignment log" on public.assignment_logs
  for select to authenticated using ((select public.my_role()) = 'admin');
drop policy if exists "Callers can read their own assignment logs" on public.assignment_logs;
create policy "Callers can read their own assignment logs" on public.assignment_logs
  for select to authenticated using (caller_id = (select public.my_caller_id()));
