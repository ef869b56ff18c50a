-- A search sorted by name reads a dictionary of the distinct lead names
-- (issue 12 §5: "leads: search Priya, sort name asc", first page and page
-- 40, p95 ≤ 50 ms at 1,000,000 leads; …3600 left it at 56–66 ms).
--
-- …3600 gathered every match's sort keys from the trigram bitmap (24,984
-- "Priya" leads on 14,672 heap pages) to keep one page of them. A name
-- sort needs only the *distinct* names in order: engine.lead_names holds
-- every distinct non-null leads.name (a superset: a name whose last lead
-- went stays until the prune job below removes it), with a trigram index
-- like leads_name_trgm_idx. The search reads the matching names in the
-- page's order and, for each, that name's leads from
-- leads_name_created_at_idx (name, created_at, id) in the same direction,
-- stopping when the page is full. The same rows, order, ties, cap and
-- errors as …3600 (tests/engine/28_lead_name_dictionary.rs compares the two
-- on random data); timings in docs/benchmarks.md ("…3900"). Only an
-- admin's search without a filter takes this path: with a filter, or as a
-- caller, the gather of …3600 is faster when the filter matches few of a
-- name's leads.
--
-- Kept up to date by triggers on public.leads (an insert adds its names,
-- a rename its new name; a delete or rename records the old names as prune
-- candidates) and pruned by a pg_cron job every five minutes, so an erased
-- lead's name does not stay.

/** Every distinct non-null `public.leads.name`, and possibly names no lead
    holds any more (until engine.prune_lead_names() runs). Never a subset:
    every statement that writes a name into public.leads adds it here in
    the same transaction (triggers below), so lead_search's name sort,
    which reads names only from here, finds every lead. Only its owner
    reads or writes it (row level security on, no policies, no grants);
    lead_search reads it as its owner. */
create table engine.lead_names (
  name text primary key
);

alter table engine.lead_names enable row level security;
revoke all on table engine.lead_names from public, anon, authenticated, service_role;

-- The search's `name ilike '%term%'`, as leads_name_trgm_idx on leads.
-- Left out of …3700's every-minute merge of pending lists (its function
-- returns the pages of the two leads indexes, which its tests count): a
-- new name's trigrams wait on this index's pending list until autovacuum
-- or the 4 MB limit merges them. On a team whose names repeat few names
-- are new; where most are, adding this index to that job is the next step.
create index lead_names_trgm_idx on engine.lead_names using gin (name extensions.gin_trgm_ops);

/** Names that lost a lead (a delete, or a rename away from them) since the
    last prune: engine.prune_lead_names() deletes those no lead still has
    from engine.lead_names. Small: it is emptied every run. Owner only, like
    engine.lead_names. */
create table engine.lead_name_prune_candidates (
  name text primary key
);

alter table engine.lead_name_prune_candidates enable row level security;
revoke all on table engine.lead_name_prune_candidates from public, anon, authenticated, service_role;

/** After an insert into public.leads, once per statement: its distinct
    names join the dictionary. One statement per ingest batch (ingest_leads
    inserts a batch in one statement), reading the transition table the
    statement-level triggers of …2700 already fill (PostgreSQL keeps one per
    table and event for all its triggers), and `on conflict do nothing`:
    a name already there costs one primary-key probe, no write.

    Locking: inserting a name takes only the new row and its unique-index
    entry. Two transactions inserting the same new name: the second waits
    on the first's uncommitted entry and then does nothing (or inserts it,
    if the first rolled back). The names are inserted in sorted order so
    that two statements inserting several of the same new names in
    opposite orders cannot deadlock on each other's entries (ingest_leads
    runs under the assignment lock, one batch at a time, but a plain insert
    by service_role or an import does not). */
create function engine.lead_names_inserted() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  insert into engine.lead_names (name)
  select distinct n.name from inserted n where n.name is not null order by n.name
  on conflict do nothing;
  return null;
end
$$;

revoke execute on function engine.lead_names_inserted() from public;

create trigger leads_60_lead_names after insert on public.leads
  referencing new table as inserted
  for each statement execute function engine.lead_names_inserted();

/** After a lead's name changes, per row: the new name joins the
    dictionary, the old one becomes a prune candidate. A column-list
    trigger fires only for an UPDATE that names `name` in its SET list, so
    ingest's duplicate-count update and the status updates never call it.
    The same locking as the insert trigger (one name per row; an UPDATE
    renaming many leads at once could take new names in any order, which
    no engine path does). */
create function engine.lead_name_changed() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  if new.name is not null then
    insert into engine.lead_names (name) values (new.name) on conflict do nothing;
  end if;
  if old.name is not null then
    insert into engine.lead_name_prune_candidates (name) values (old.name) on conflict do nothing;
  end if;
  return null;
end
$$;

revoke execute on function engine.lead_name_changed() from public;

create trigger leads_60_lead_name_changed after update of name on public.leads
  for each row when (new.name is distinct from old.name)
  execute function engine.lead_name_changed();

/** After a delete from public.leads, once per statement: the deleted
    leads' names become prune candidates (another lead may still hold
    them; the prune job checks). */
create function engine.lead_names_deleted() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  insert into engine.lead_name_prune_candidates (name)
  select distinct d.name from deleted d where d.name is not null order by d.name
  on conflict do nothing;
  return null;
end
$$;

revoke execute on function engine.lead_names_deleted() from public;

create trigger leads_60_lead_names_deleted after delete on public.leads
  referencing old table as deleted
  for each statement execute function engine.lead_names_deleted();

/** After TRUNCATE of public.leads: no lead is left, so no name is. TRUNCATE
    holds ACCESS EXCLUSIVE on leads until it commits, so no insert can add
    a lead (and its name) meanwhile. */
create function engine.lead_names_truncated() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  delete from engine.lead_names;
  delete from engine.lead_name_prune_candidates;
  return null;
end
$$;

revoke execute on function engine.lead_names_truncated() from public;

create trigger leads_60_lead_names_truncated after truncate on public.leads
  for each statement execute function engine.lead_names_truncated();

/** Deletes from engine.lead_names the prune candidates no lead holds any
    more, and empties the candidates; returns the names deleted, or null
    when it gave up waiting for the lock (the next run tries again, nothing
    lost). Run every five minutes by pg_cron (below); does nothing, and
    takes no lock on leads, when there is no candidate.

    Locking. Deleting a name is only safe when no lead holds it, including
    leads of transactions not yet committed: a transaction that inserted a
    lead named X while X was in the dictionary added nothing (`on conflict
    do nothing`), so if this run deleted X on a snapshot taken before that
    transaction committed, the dictionary would lose a held name and
    lead_search would miss its leads. So the run first takes SHARE on
    public.leads: it conflicts with ROW EXCLUSIVE, which every INSERT,
    UPDATE and DELETE on leads holds until its transaction ends, so the
    lock is granted only once every writer of leads has committed or rolled
    back, and no new one starts until this transaction ends. The delete
    then runs on a snapshot taken after the lock (READ COMMITTED takes one
    per statement; the function refuses any other isolation level, whose
    snapshot would predate the lock), sees every lead ever committed, and
    no writer can add a lead or a candidate before it commits. The
    candidates it clears were all written by transactions that committed
    before the lock, so every one of them was checked.

    It waits for the lock at most `lock_timeout` = 50 ms: while it waits,
    new writers (ingest among them) queue behind it, so a long wait would
    stall ingest. A timeout (55P03) is caught: the run returns null and
    leaves the candidates for the next. Held: one primary-key probe of
    leads_name_created_at_idx per candidate, and the deletes; readers
    (searches, reports, the caller queue) are not blocked by SHARE. */
create function engine.prune_lead_names() returns bigint
language plpgsql volatile security definer
set search_path = ''
set lock_timeout = '50ms'
as $$
declare
  pruned bigint;
begin
  if not exists (select from engine.lead_name_prune_candidates) then
    return 0;
  end if;
  if pg_catalog.current_setting('transaction_isolation') <> 'read committed' then
    raise exception using errcode = '25000',
      message = 'engine.prune_lead_names() runs only at READ COMMITTED (its delete needs a snapshot taken after its lock)';
  end if;
  begin
    lock table public.leads in share mode;
  exception when lock_not_available then
    return null;
  end;
  with gone as (
    delete from engine.lead_names n
    using engine.lead_name_prune_candidates c
    where n.name = c.name
      and not exists (select from public.leads l where l.name = c.name)
    returning 1
  )
  select pg_catalog.count(*) into pruned from gone;
  delete from engine.lead_name_prune_candidates;
  return pruned;
end
$$;

revoke execute on function engine.prune_lead_names() from public;

-- Every name the leads hold now. No name is missed although no lock is
-- taken here (`supabase db push` does not run a file in one transaction
-- block, where LOCK TABLE is refused): CREATE TRIGGER above took SHARE ROW
-- EXCLUSIVE on public.leads, which waits for every transaction holding
-- ROW EXCLUSIVE (every writer of leads) to end, so a lead inserted or
-- renamed without the triggers was committed before them and this later
-- statement's snapshot sees it; every later write fires the triggers.
insert into engine.lead_names (name)
select distinct l.name from public.leads l where l.name is not null;

analyze engine.lead_names;

/** The job: every five minutes, like the merge of …3700 (see
    20261130001600_sweeps_on_pg_cron.sql for where pg_cron exists and who
    runs its jobs: `postgres`, the owner of this function and the tables);
    no job where pg_cron is not installed in this database. A run with no
    candidate reads one empty table and returns. Without the job names of
    deleted leads stay in the dictionary: searches stay exact (a name no
    lead holds has no row to show), but an erased lead's name is kept. */
do $$
begin
  if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    return;
  end if;
  perform cron.schedule('prune_lead_names', '*/5 * * * *', 'select engine.prune_lead_names()');
end
$$;

-- `create or replace`: the same signature, so the grants of …2800 stay as
-- they are (execute for authenticated and service_role, not public or
-- anon). Only the name sort's statement changes; the doc comment's last
-- paragraph says how.

/** One page of the leads table's search: leads whose name contains `term`
    (case-insensitively) or, when `term` holds 3 digits or more, whose phone
    contains those digits; `%`, `_` and `\` in `term` are literal. A term
    needs 3 characters (after trimming): shorter ones cannot use the trigram
    indexes (pg_trgm splits text into three-character pieces) and would read
    every lead, so they are refused (22023, HTTP 400) and the web app says
    so before sending one.

    The other arguments are the table's filters (`status`; `caller_id`, or
    `unassigned` for leads nobody holds; `state`; `source`; received from
    `received_from`, inclusive, to `received_before`, exclusive), its order
    (`sort` one of created_at, name, state, status, assigned_at, then
    created_at and id, all in one direction as the table orders without a
    search) and its page (`row_limit` rows, at most 1,000, after
    `row_offset`). A search reaches its first 1,000 matches in that order:
    `row_offset + row_limit` may be at most 1,001 (the web app asks one row
    more than a page to learn whether a next page exists, so its 40th page
    of 25 asks rows 976 to 1,001); a page beyond is refused (22023, HTTP
    400, naming the limit), and the web app stops its pager there and says
    so. A search has no cheap total, so the web app shows none
    (query::Total::More).

    Runs as its owner: through REST under row level security PostgreSQL
    uses `ilike` and `like` as index conditions only when they are leakproof,
    which they are not, so every search read every lead. It applies the read
    policies itself: an admin sees every match, any other member only the
    leads it holds (none without a caller), a non-member nothing. The query
    is built from the arguments given and planned for their values
    (EXECUTE), so the planner chooses per call between walking the order's
    index with the search as a filter (a common name, where the page fills
    after a few hundred rows) and the trigram indexes (a rare name or a
    phone, a few matches to sort).

    Sorted by name, a name search without a phone part reads the distinct
    names from engine.lead_names (…3900) rather than every matching lead
    when an admin searches without a filter: the names that match, in the
    page's order, and for each that name's leads in (created_at, id) order
    from leads_name_created_at_idx, until the page is full. Read-only,
    stable, no locks beyond a select's snapshot. */
create or replace function public.lead_search(
  term text,
  status text default null,
  caller_id bigint default null,
  unassigned boolean default false,
  state text default null,
  source text default null,
  received_from timestamptz default null,
  received_before timestamptz default null,
  sort text default 'created_at',
  descending boolean default true,
  row_limit integer default 25,
  row_offset integer default 0
) returns setof public.leads
language plpgsql stable security definer
rows 25
set search_path = ''
-- The planner's default (4) prices a random page read at four sequential
-- ones, so for "Priya" in Sikkim it gathered both indexes' matches (25,000
-- and 14,600) into bitmaps, 34 ms, rather than walk the state's index
-- newest first until 26 Priyas, 1 ms, whose reads are cache hits. 1.1 (the
-- usual figure for data in memory or on SSD) picks the walk whenever a
-- filter's index can give the order; rare terms still use the trigram
-- indexes. Only this function's statements see it.
set random_page_cost = 1.1
as $$
declare
  needle text := pg_catalog.btrim(coalesce(term, ''));
  digits text := pg_catalog.regexp_replace(coalesce(term, ''), '[^0-9]', '', 'g');
  role text := public.my_role();
  dir text := case when descending then ' desc' else '' end;
  filters text;
  matches text;
  ordering text;
  statement text;
begin
  if pg_catalog.length(needle) < 3 then
    raise exception using errcode = '22023', message = 'a search needs at least 3 characters';
  end if;
  if sort is null or sort not in ('created_at', 'name', 'state', 'status', 'assigned_at') then
    raise exception using errcode = '22023',
      message = pg_catalog.format('leads cannot be sorted by %s', coalesce(sort, 'nothing')),
      hint = 'sort by created_at, name, state, status or assigned_at';
  end if;
  if descending is null or row_limit is null or row_limit not between 1 and 1000
     or row_offset is null or row_offset < 0 then
    raise exception using errcode = '22023',
      message = 'a search page takes 1 to 1,000 rows after an offset of 0 or more, in a given direction';
  end if;
  -- Written so that no sum overflows an integer.
  if row_offset > 1001 - row_limit then
    raise exception using errcode = '22023',
      message = 'a search reaches only its first 1,000 matches (row_offset + row_limit at most 1,001)',
      hint = 'add a word to the search or a filter to reach the others';
  end if;
  if role is null then
    return;
  end if;
  filters := case when role <> 'admin' then ' and l.caller_id = $3' else '' end
    || case when lead_search.status is not null then ' and l.status = $4' else '' end
    || case when lead_search.caller_id is not null then ' and l.caller_id = $5'
            when unassigned then ' and l.caller_id is null' else '' end
    || case when lead_search.state is not null then ' and l.state = $6' else '' end
    || case when lead_search.source is not null then ' and l.source = $7' else '' end
    || case when received_from is not null then ' and l.created_at >= $8' else '' end
    || case when received_before is not null then ' and l.created_at < $9' else '' end;
  matches := '(l.name ilike $1'
    || case when pg_catalog.length(digits) >= 3 then ' or l.phone like $2' else '' end || ')'
    || filters;
  ordering := case when sort = 'created_at' then 'created_at' || dir
                   else sort || dir || ', {t}.created_at' || dir end || ', {t}.id' || dir;
  -- The dictionary's path only for an admin's search without a filter: a
  -- caller's search, or any filter, keeps …3600's path below. A filter on
  -- another column is checked on each lead of each matching name in turn,
  -- so when it matches few of them the walk reads every lead of every
  -- matching name (25,000 for "Priya") by index: a page beyond its matches
  -- took 37–43 ms against …3600's 9–12 ms. A received range is an index
  -- condition inside each name, yet still one probe per matching name:
  -- with every name distinct (25,000 "Priya" names) a range of half an
  -- hour took 114 ms against 1.4 ms (…3600 walks the received index).
  -- Figures in docs/benchmarks.md ("…3900").
  if sort = 'name' and pg_catalog.length(digits) < 3 and filters = '' then
    -- The distinct names that match, gathered in a subquery that `offset
    -- 0` keeps whole and sorted there: left to itself the planner walks
    -- the dictionary's primary key in order with `ilike` as a filter (it
    -- assumes the matches spread evenly), which read 72,740 names before
    -- the first "Priya" (34 ms) in a dictionary of 116,000; the trigram
    -- index finds the 2,909 matches and they sort in 4 ms. For each name,
    -- lateral, its leads from leads_name_created_at_idx in (created_at,
    -- id) order (an index-only scan). Names are distinct and arrive
    -- sorted, so the incremental sort above the join sorts only within
    -- each name, and the limit stops the join once the page is full: a
    -- page reads only the names and leads before it. No name gives more
    -- rows than `row_limit + row_offset`. A name no lead holds any more
    -- (not yet pruned) gives no row.
    statement := 'with page as (select n.name, m.id, m.created_at'
      || ' from (select d.name from engine.lead_names d where d.name ilike $1 order by d.name' || dir || ' offset 0) n'
      || ' cross join lateral (select l.id, l.created_at from public.leads l where l.name = n.name'
      || ' order by l.created_at' || dir || ', l.id' || dir || ' limit $10 + $11) m'
      || ' order by n.name' || dir || ', m.created_at' || dir || ', m.id' || dir
      || ' limit $10 offset $11)'
      || ' select l.* from page p join public.leads l on l.id = p.id order by p.'
      || pg_catalog.replace(ordering, '{t}', 'p');
  elsif sort = 'name' then
    -- A name-or-phone search sorted by name, a caller's, or a filtered one:
    -- gathered first, then sorted, as in …3600. Sorted by name, the
    -- matches of a name search sit together in the name index (every
    -- "Priya …" under P) while the planner assumes them spread evenly:
    -- walking leads_name_created_at_idx for the first 26 "Priya" read
    -- 550,000 leads (4.6 s). Only the sort keys and `id` are gathered, in a
    -- subquery that `offset 0` keeps whole (so the planner cannot walk the
    -- name index for it) and that streams into the sort's top-N heap; the
    -- page's rows are then read by primary key.
    statement := 'with page as (select s.id, s.name, s.created_at from (select l.id, l.name, l.created_at'
      || ' from public.leads l where ' || matches || ' offset 0) s order by s.'
      || pg_catalog.replace(ordering, '{t}', 's') || ' limit $10 offset $11)'
      || ' select l.* from page p join public.leads l on l.id = p.id order by p.'
      || pg_catalog.replace(ordering, '{t}', 'p');
  else
    -- Every other order is independent of the name, so walking its index
    -- (or a filter's index, when it gives the order) with the search as a
    -- filter finds a common name's page after a few hundred rows, and its
    -- 1,000th match after about 40,000 (2.5 % of leads are "Priya"); a rare
    -- term uses the trigram indexes and sorts its few matches.
    statement := 'select l.* from public.leads l where ' || matches
      || ' order by l.' || pg_catalog.replace(ordering, '{t}', 'l') || ' limit $10 offset $11';
  end if;
  return query execute statement
    using '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(needle, '\', '\\'), '%', '\%'), '_', '\_') || '%',
          '%' || digits || '%',
          public.my_caller_id(),
          lead_search.status, lead_search.caller_id, lead_search.state, lead_search.source,
          received_from, received_before, row_limit, row_offset;
end
$$;
