-- A search sorted by name streams its matches' sort keys into the sort
-- (issue 12 §5: "leads: search Priya, sort name asc", first page and page
-- 40, p95 ≤ 50 ms at 1,000,000 leads).
--
-- …3200 gathered a name-sorted search's matches (`id`, `name`,
-- `created_at`) into a materialised CTE, then sorted the CTE: for "Priya"
-- (24,984 matches on 14,672 heap pages) every match was written to a
-- tuplestore and read back before the top-N sort saw it. This version
-- gathers the same three columns in a subquery fenced with `offset 0`,
-- which the planner plans on its own like the CTE (so it still cannot
-- pick the name index's walk, 4.6 s for "Priya") but whose rows go
-- straight into the sort. Nothing else changes: the same matches, order,
-- tie-breakers, cap and errors. Timings and what was tried (a parallel
-- bitmap heap scan, a narrower scan, the cost of the `ilike` recheck) in
-- docs/benchmarks.md.
--
-- `create or replace`: the same signature, so the grants of …2800 stay as
-- they are (execute for authenticated and service_role, not public or
-- anon).

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
    phone, a few matches to sort). Read-only, stable, no locks beyond a
    select's snapshot. */
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
  if sort = 'name' then
    -- Gathered first, then sorted: the cost follows the number of matches.
    -- Sorted by name, the matches of a name search sit together in the
    -- name index (every "Priya …" under P) while the planner assumes them
    -- spread evenly: walking leads_name_created_at_idx for the first 26
    -- "Priya" read 550,000 leads (4.6 s). Only the sort keys and `id` are
    -- gathered, in a subquery that `offset 0` keeps whole (so the planner
    -- cannot walk the name index for it) and that streams into the sort's
    -- top-N heap, where …3200's materialised CTE first copied every match
    -- into a tuplestore; the page's rows are then read by primary key.
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
