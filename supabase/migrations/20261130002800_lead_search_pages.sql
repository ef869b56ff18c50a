-- The leads table's search answers one page, and the Source filter lists
-- the sources that exist (issue 12 §5).
--
-- `lead_search(term)` of …002300 returned every match and left the
-- filters, order and page to REST. A plpgsql `return query execute` hands
-- back its whole result before the caller's `order by … limit` applies, so
-- a common name (25,000 matches at 1,000,000 leads) was read, kept and
-- sorted in full for 25 rows: 180–220 ms. Its planned total was the
-- function's default `rows 1000`, so the table said "about 1,000 leads"
-- even for a search that found nothing. This version takes the table's
-- filters, order and page, so the planner plans the one query that gives
-- the page and can stop at its last row. Timings in docs/benchmarks.md.
--
-- Plain `drop function`: the web app of this release calls only the new
-- signature (crates/web/src/query.rs); two signatures under one name
-- would make REST's choice depend on which arguments a body names.

drop function public.lead_search(text);

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
    `row_offset`, at most 10,000: the table's deepest page). The web app asks
    for one row more than a page to learn whether a next page exists; a
    search has no cheap total, so it shows none (query::Total::More).

    Runs as its owner: through REST under row level security PostgreSQL
    uses `ilike` and `like` as index conditions only when they are leakproof,
    which they are not, so every search read every lead. It applies the read
    policies itself: an admin sees every match, any other member only the
    leads it holds (none without a caller), a non-member nothing. The query
    is built from the arguments given and planned for their values
    (EXECUTE), so the planner chooses per call between walking the order's
    index with the search as a filter (a common name, where the page fills
    after a few hundred rows) and the trigram indexes (a rare name or a
    phone, a few matches to sort). Read-only, stable, no locks beyond a
    select's snapshot. */
create function public.lead_search(
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
     or row_offset is null or row_offset not between 0 and 10000 then
    raise exception using errcode = '22023',
      message = 'a search page takes 1 to 1,000 rows after an offset of 0 to 10,000, in a given direction';
  end if;
  if role is null then
    return;
  end if;
  matches := '(l.name ilike $1'
    || case when pg_catalog.length(digits) >= 3 then ' or l.phone like $2' else '' end || ')'
    || case when role <> 'admin' then ' and l.caller_id = $3' else '' end
    || case when lead_search.status is not null then ' and l.status = $4' else '' end
    || case when lead_search.caller_id is not null then ' and l.caller_id = $5'
            when unassigned then ' and l.caller_id is null' else '' end
    || case when lead_search.state is not null then ' and l.state = $6' else '' end
    || case when lead_search.source is not null then ' and l.source = $7' else '' end
    || case when received_from is not null then ' and l.created_at >= $8' else '' end
    || case when received_before is not null then ' and l.created_at < $9' else '' end;
  ordering := case when sort = 'created_at' then 'created_at' || dir
                   else sort || dir || ', {t}.created_at' || dir end || ', {t}.id' || dir;
  if sort = 'name' or row_offset >= 1000 then
    -- Gathered first, then sorted: the cost follows the number of matches.
    -- Sorted by name, the matches of a name search sit together in the
    -- name index (every "Priya …" under P) while the planner assumes them
    -- spread evenly: walking leads_name_created_at_idx for the first 26
    -- "Priya" read 550,000 leads (4.6 s). Past the 40th page a walk reads
    -- offset ÷ (the term's share of leads) rows, up to every lead, for a
    -- term the planner thinks common (400,000 for "Priya" page 400).
    statement := 'with matches as materialized (select l.* from public.leads l where ' || matches || ')'
      || ' select m.* from matches m order by m.' || pg_catalog.replace(ordering, '{t}', 'm');
  else
    -- Every other order is independent of the name, so walking its index
    -- (or a filter's index, when it gives the order) with the search as a
    -- filter finds a common name's page after a few hundred rows; a rare
    -- term uses the trigram indexes and sorts its few matches.
    statement := 'select l.* from public.leads l where ' || matches
      || ' order by l.' || pg_catalog.replace(ordering, '{t}', 'l');
  end if;
  statement := statement || ' limit $10 offset $11';
  return query execute statement
    using '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(needle, '\', '\\'), '%', '\%'), '_', '\_') || '%',
          '%' || digits || '%',
          public.my_caller_id(),
          lead_search.status, lead_search.caller_id, lead_search.state, lead_search.source,
          received_from, received_before, row_limit, row_offset;
end
$$;

revoke execute on function public.lead_search(text, text, bigint, boolean, text, text, timestamptz, timestamptz, text, boolean, integer, integer)
  from public, anon;
grant execute on function public.lead_search(text, text, bigint, boolean, text, text, timestamptz, timestamptz, text, boolean, integer, integer)
  to authenticated, service_role;

/** The lead sources in use, for the leads table's Source filter: sources
    are free text from the webhook, the import and the platform adapters,
    so a fixed list misses some. A "loose index scan" over
    leads_source_created_at_idx: each step descends the index once to the
    next source above the last, so 1,000,000 leads with a handful of
    sources cost a handful of descents, where `select distinct` would read
    every lead. At most 200, alphabetically (a team with more has
    sources that are really campaigns; the filter then offers the first
    200). Admins only (team members whose role is admin), like the leads
    table; runs as its owner, so row level security does not turn each
    descent into a walk. Read-only, stable, no locks beyond a select's
    snapshot. */
create function public.lead_sources() returns setof text
language plpgsql stable security definer
rows 10
set search_path = ''
as $$
begin
  if public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can list the lead sources';
  end if;
  return query
    with recursive found (source) as (
      (select l.source from public.leads l where l.source is not null order by l.source limit 1)
      union all
      select (select l.source from public.leads l where l.source > f.source order by l.source limit 1)
        from found f
       where f.source is not null
    )
    select f.source from found f where f.source is not null limit 200;
end
$$;

revoke execute on function public.lead_sources() from public, anon;
grant execute on function public.lead_sources() to authenticated;
