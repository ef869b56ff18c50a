-- Indexes for the web app's reads at 1,000,000 leads (issue 12 §5).
--
-- Every request the web app makes was timed through localbase's REST on a
-- cluster seeded with 1,000,000 leads over 90 days (tests/examples/million.rs;
-- the figures before and after this migration are in docs/benchmarks.md).
-- Each index below names the request it serves. The leads table's order is
-- always `<column>.<dir>,created_at.<dir>,id.<dir>` in one direction with
-- PostgreSQL's default null placement (crates/web/src/query.rs), so one
-- index per sort column serves both directions: ascending forwards,
-- descending backwards.
--
-- Plain `create index` (not `concurrently`): migrations run in a
-- transaction. On a live table of a million rows each build holds a SHARE
-- lock, which blocks ingest (inserts) but not reads, for a few seconds per
-- index; apply it outside the busiest hours.

/** pg_trgm, for the leads table's name and phone search (`ilike
    '%term%'`, `like '%digits%'`), which no btree can serve. Schema
    `extensions`, as Supabase installs it (`create extension pg_trgm with
    schema extensions`); REST's search path includes that schema. */
create extension pg_trgm with schema extensions;

-- The newest-first leads table (backwards), the live feed (`order=
-- created_at.desc,id.desc&limit=12`), every `created_at` range filter
-- (from / to dates) and dashboard_today()'s received and per-hour counts.
-- It replaces the single-column index, which could not give the `id`
-- tie-break in order, so a page had to sort every lead of the range.
create index leads_created_at_id_idx on public.leads (created_at, id);
drop index public.leads_created_at_idx;

-- The status filter with the newest first, and the sort by status.
create index leads_status_created_at_idx on public.leads (status, created_at, id);

-- The state filter with the newest first, and the sort by state.
create index leads_state_created_at_idx on public.leads (state, created_at, id);

-- The source filter with the newest first.
create index leads_source_created_at_idx on public.leads (source, created_at, id);

-- The caller filter (`caller_id=eq.N`, and `caller_id=is.null` for
-- "Nobody") with the newest first. leads_caller_id_status_idx stays for the
-- caller's own list and RLS.
create index leads_caller_id_created_at_idx on public.leads (caller_id, created_at, id);

-- The sort by name.
create index leads_name_created_at_idx on public.leads (name, created_at, id);

-- The sort by assignment time.
create index leads_assigned_at_created_at_idx on public.leads (assigned_at, created_at, id);

-- The search box: `name ilike '%term%'` and `phone like '%digits%'` (three
-- characters or more; shorter terms cannot be split into trigrams, so the
-- web app searches phones from three digits).
create index leads_name_trgm_idx on public.leads using gin (name extensions.gin_trgm_ops);
create index leads_phone_trgm_idx on public.leads using gin (phone extensions.gin_trgm_ops);

-- dashboard_today()'s `converted` and `duplicates` read a day of
-- converted_at and last_duplicate_at; without these each was a scan of
-- every lead. Partial: most leads are never converted nor re-sent, and a
-- range predicate implies `is not null`, so the planner uses them.
create index leads_converted_at_idx on public.leads (converted_at) where converted_at is not null;
create index leads_last_duplicate_at_idx on public.leads (last_duplicate_at) where last_duplicate_at is not null;

/** Today's figures (the same answer as before: see 20261125001200_dashboard.sql
    for every field), in fewer passes. Today's leads are read once for
    `received` and `leads_per_hour` together (an index-only range on
    leads_created_at_id_idx), and today's assignment log once for `assigned`
    and `overflow` together; `converted` and `duplicates` each read a day of
    their partial index. At 1,000,000 leads the function read every lead
    twice before (no index on converted_at or last_duplicate_at): 1.3 s,
    now tens of milliseconds (docs/benchmarks.md). Read-only, no locks
    beyond a select's snapshot. */
create or replace function public.dashboard_today() returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  zone text := engine.time_zone();
  today date := engine.local_day(moment);
  starts timestamptz := today::timestamp at time zone zone;
  ends timestamptz := (today + 1)::timestamp at time zone zone;
  hours jsonb;
  received bigint;
  assigned bigint;
  overflow bigint;
  converted bigint;
begin
  if current_user in ('anon', 'authenticated') and public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can read the dashboard';
  end if;
  select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('hour', h, 'leads', coalesce(n.leads, 0)) order by h),
         coalesce(sum(n.leads), 0)
    into hours, received
    from pg_catalog.generate_series(0, 23) as h
    left join (
      select pg_catalog.date_part('hour', created_at at time zone zone)::int as hour, count(*) as leads
        from public.leads where created_at >= starts and created_at < ends
       group by 1) n on n.hour = h;
  select count(*), count(*) filter (where tier = 4) into assigned, overflow
    from public.assignment_logs where created_at >= starts and created_at < ends;
  select count(*) into converted from public.leads where converted_at >= starts and converted_at < ends;
  return pg_catalog.jsonb_build_object(
    'day', today,
    'time_zone', zone,
    'received', received,
    'assigned', assigned,
    'duplicates', (select count(*) from public.leads where last_duplicate_at >= starts and last_duplicate_at < ends),
    'overflow', overflow,
    'unassigned', (select count(*) from public.leads where status = 'unassigned'),
    'converted', converted,
    'conversion_rate', case when received = 0 then null else round(converted::numeric / received, 4) end,
    'per_caller', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'caller_id', c.id, 'name', c.name, 'active', c.active,
               'paused', c.paused_until is not null and c.paused_until > moment,
               'assigned_today', coalesce(l.assigned, 0),
               'daily_lead_limit', c.daily_lead_limit, 'weight', c.weight) order by c.id)
        from public.callers c
        left join public.caller_daily_loads l on l.caller_id = c.id and l.day = today), '[]'::jsonb),
    'leads_per_hour', hours);
end
$$;

-- The admins' read policies, written so the planner estimates them right.
--
-- `(select public.my_role()) = 'admin'` is an init-plan parameter compared
-- with a constant; the planner cannot know its value and gives any such
-- equality a selectivity of 0.5 %. OR-ed with the callers' policy
-- (`caller_id = …`, 2 % at 50 callers) it expected an admin to see 2.5 % of
-- the leads: `count=planned` said about 25,000 of 1,000,000, and plans were
-- chosen for a few rows (a name search over the trigram index, then a sort
-- of every match: 1.8 s). `<> 'caller'` is the same rule, since
-- team_members.role is 'admin' or 'caller' (its check constraint) and a
-- non-member's null role matches neither, but the planner estimates an
-- inequality at 99.5 %, so it plans an admin's reads for the whole table.
-- A third role added to team_members must revisit these two policies.
drop policy "Admins can read every lead" on public.leads;
create policy "Admins can read every lead" on public.leads
  for select to authenticated using ((select public.my_role()) <> 'caller');

drop policy "Admins can read every assignment log" on public.assignment_logs;
create policy "Admins can read every assignment log" on public.assignment_logs
  for select to authenticated using ((select public.my_role()) <> 'caller');

/** The leads table's name and phone search, where the trigram indexes can
    serve it. Through REST, `name=ilike.*term*` runs under RLS, and
    PostgreSQL uses an operator as an index condition under RLS only when it
    is leakproof; `~~*` and `~~` are not (and only a superuser can mark
    them), so every search read every lead: 2 to 3 s at 1,000,000. This
    function runs as its owner, so the planner may use leads_name_trgm_idx
    and leads_phone_trgm_idx, and applies the read policies itself: an admin
    gets every match, a caller only its own leads, anyone else nothing.
    `term` matches the name anywhere, case-insensitively; its digits, when
    there are 3 or more, match the phone anywhere. `%`, `_` and `\` in the
    term are literal. The web app filters, orders, pages and counts the
    result through REST (`POST /rpc/lead_search?status=eq.new&order=…`).
    Read-only, stable, no locks beyond a select's snapshot. */
create function public.lead_search(term text) returns setof public.leads
language plpgsql stable security definer
set search_path = ''
as $$
declare
  pattern text := '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
                    pg_catalog.btrim(coalesce(term, '')), '\', '\\'), '%', '\%'), '_', '\_') || '%';
  digits text := pg_catalog.regexp_replace(coalesce(term, ''), '[^0-9]', '', 'g');
  role text := public.my_role();
  caller bigint := public.my_caller_id();
begin
  if pg_catalog.btrim(coalesce(term, '')) = '' or role is null then
    return;
  end if;
  -- Planned for these values (EXECUTE), so the planner sees the pattern and
  -- chooses between the trigram indexes and a walk of leads_created_at_id_idx.
  return query execute
    'select l.* from public.leads l
      where ($1 = ''admin'' or l.caller_id = $2)
        and (l.name ilike $3' || case when pg_catalog.length(digits) >= 3 then ' or l.phone like $4' else '' end || ')'
    using role, caller, pattern, '%' || digits || '%';
end
$$;

revoke execute on function public.lead_search(text) from public, anon;
grant execute on function public.lead_search(text) to authenticated, service_role;
