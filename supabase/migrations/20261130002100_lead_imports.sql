-- CSV imports: an admin brings in a sheet's history or another CRM's export.
--
-- The browser parses the file; the ingest service normalizes each row with
-- the same code as a webhook lead (phone to E.164, state to its code) and
-- calls these RPCs with the admin's own access token, so the database, not
-- the service, decides who may import: both RPCs refuse anyone but an
-- admin (42501).
--
-- An import is named by the SHA-256 of the file's bytes (`import_ref`) and
-- each row by its number in the file. The answer given to every imported
-- row is kept for good in `engine.lead_imports`, in the transaction that
-- stored its lead, so importing the same file again (a retry after a lost
-- answer, a second click, another admin) creates nothing twice: each row
-- already answered gets its first answer back, marked `replayed`. The
-- durable deliveries of the webhook (engine.deliveries) are not enough on
-- their own: they expire after 24 hours, and a file is re-imported days
-- later.
--
-- ASSIGNMENT: imported leads are assigned now, through `ingest_leads`, the
-- same engine path as a webhook batch: the same duplicate window, state
-- and language routing, daily limits, and overflow past them (spread by
-- the engine's tiers like any busy day's leads). Only a row no caller can
-- take (none active) waits unassigned, for `assign_backlog`. Why not
-- "unassigned until a chosen start": that needs a second state on a lead
-- (a start time) which every queue, count, SLA sweep and backlog query
-- must then respect, and two behaviours for one kind of lead. A sheet's
-- history or another CRM's export is brought in to be worked; a manager
-- who wants it worked later imports it on that day, or in slices.
--
-- LOCKING
--
-- Two imports of the same file at once must not both miss a row's record
-- and both store its lead. `import_leads` first takes an advisory
-- transaction lock per import, class 1112297286, key hashtext(import_ref)
-- (a hash collision only serializes two unrelated imports), then reads the
-- records in a new statement, whose snapshot under READ COMMITTED includes
-- whatever the previous holder committed. Only then does `ingest_leads`
-- take its phone locks and the assignment lock. The import lock is the
-- first lock of its transaction (one PostgREST request is one call), and no
-- other path takes it, so nobody holding a phone or assignment lock ever
-- waits for an import lock: the order import -> phones -> assignment has no
-- cycle.

/** Every row of every import, with the answer `ingest_leads` gave it, kept
    for good (an import is re-run days later; the 24-hour delivery records
    do not cover that). Written only by `import_leads`, in the transaction
    that stored the row's lead (or found it a duplicate or invalid). No API
    role reads it directly. */
create table engine.lead_imports (
  import_ref text not null check (import_ref ~ '^[0-9a-f]{64}$'),
  row_number integer not null check (row_number >= 1),
  result jsonb not null,
  imported_at timestamptz not null,
  imported_by uuid,
  primary key (import_ref, row_number)
);

alter table engine.lead_imports enable row level security;
revoke all on table engine.lead_imports from public, anon, authenticated, service_role;

/** Refuses (22023, PostgREST 400) a malformed import request: `import_ref`
    must be 64 lowercase hex digits, `rows` an array of 1 to 1000 objects,
    each with a whole `row` number from 1 and an object under `field`, and
    no row number twice. The service checks the same before calling; this
    is the database's own guard. */
create function engine.check_import_rows(import_ref text, rows jsonb, field text) returns void
language plpgsql immutable
set search_path = ''
as $$
begin
  if import_ref is null or import_ref !~ '^[0-9a-f]{64}$' then
    raise exception using errcode = '22023', message = 'import_ref must be the SHA-256 of the file in lowercase hex';
  end if;
  if pg_catalog.jsonb_typeof(rows) is distinct from 'array'
     or pg_catalog.jsonb_array_length(rows) not between 1 and 1000 then
    raise exception using errcode = '22023', message = 'rows must be an array of 1 to 1000 rows';
  end if;
  if exists (
    select 1 from pg_catalog.jsonb_array_elements(rows) r(item)
     where pg_catalog.jsonb_typeof(r.item) is distinct from 'object'
        or pg_catalog.jsonb_typeof(r.item -> 'row') is distinct from 'number'
        or (r.item ->> 'row') !~ '^[1-9][0-9]{0,8}$'
        or pg_catalog.jsonb_typeof(r.item -> field) is distinct from (case field when 'lead' then 'object' else 'string' end)
  ) then
    raise exception using errcode = '22023',
      message = pg_catalog.format('each row must be {"row": a whole number from 1, "%s": …}', field);
  end if;
  if (select pg_catalog.count(distinct r.item -> 'row') <> pg_catalog.count(*)
        from pg_catalog.jsonb_array_elements(rows) r(item)) then
    raise exception using errcode = '22023', message = 'a row number appears twice';
  end if;
end
$$;

revoke execute on function engine.check_import_rows(text, jsonb, text) from public;

/** Imports normalized leads: `p_rows` is `[{"row": n, "lead": payload}]`,
    each payload as the ingest service sends to `ingest_leads`. Returns one
    object per row, in order: `{"row": n, "replayed": bool}` merged with the
    row's `ingest_leads` answer (`status` assigned, duplicate, unassigned or
    invalid, `lead_id`, `caller_id`, …). A row this import already answered
    gets that answer again with `"replayed": true`, and nothing happens for
    it. Admins only (42501 otherwise). Security definer: the leads, logs and
    loads are written through `ingest_leads`, which only the service role
    may call, after the admin check here; search_path is fixed. Locking: see
    the header (import lock, then ingest_leads' phone and assignment locks). */
create function public.import_leads(p_import_ref text, p_rows jsonb) returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  new_rows int[];
  fresh jsonb;
  results jsonb;
  answers jsonb;
begin
  if public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can import leads';
  end if;
  perform engine.check_import_rows(p_import_ref, p_rows, 'lead');
  perform pg_catalog.pg_advisory_xact_lock(1112297286, pg_catalog.hashtext(p_import_ref));

  -- A new statement: it sees every record committed before our lock.
  select coalesce(pg_catalog.array_agg((r.item ->> 'row')::int order by r.ord), '{}'),
         coalesce(pg_catalog.jsonb_agg((r.item -> 'lead') - 'delivery' order by r.ord), '[]'::jsonb)
    into new_rows, fresh
    from pg_catalog.jsonb_array_elements(p_rows) with ordinality as r(item, ord)
   where not exists (select 1 from engine.lead_imports li
                      where li.import_ref = p_import_ref and li.row_number = (r.item ->> 'row')::int);

  if pg_catalog.cardinality(new_rows) > 0 then
    results := public.ingest_leads(fresh);
    insert into engine.lead_imports (import_ref, row_number, result, imported_at, imported_by)
    select p_import_ref, n.row_number, a.result, engine.now(), auth.uid()
      from pg_catalog.unnest(new_rows) with ordinality as n(row_number, ord)
      join pg_catalog.jsonb_array_elements(results) with ordinality as a(result, ord) on a.ord = n.ord;
  end if;

  select pg_catalog.jsonb_agg(
           pg_catalog.jsonb_build_object('row', li.row_number) || li.result
             || pg_catalog.jsonb_build_object('replayed', not (li.row_number = any (new_rows)))
           order by r.ord)
    into answers
    from pg_catalog.jsonb_array_elements(p_rows) with ordinality as r(item, ord)
    join engine.lead_imports li on li.import_ref = p_import_ref and li.row_number = (r.item ->> 'row')::int;
  return answers;
end
$$;

revoke execute on function public.import_leads(text, jsonb) from public, anon, service_role;
grant execute on function public.import_leads(text, jsonb) to authenticated;

/** What importing these rows would do, without writing anything:
    `p_rows` is `[{"row": n, "phone": "+91…"}]` (phones already E.164).
    Returns one object per row, in order: `duplicate_of`, the lead this row
    would be a duplicate of (the newest lead with the phone, if created
    within the team's duplicate window: the same test as ingest), or null;
    `repeats_row`, an earlier row of this request with the same phone, or
    null; `imported`, this import's stored answer for the row if it was
    imported already, or null. Admins only (42501 otherwise). Security
    definer so it can read the import records, which no API role reads; it
    reads only rows of the given import. Takes no lock: a preview is a
    forecast, and a webhook lead may still arrive before the import. */
create function public.import_preview(p_import_ref text, p_rows jsonb) returns jsonb
language plpgsql stable security definer
set search_path = ''
as $$
declare
  moment timestamptz := engine.now();
  answers jsonb;
begin
  if public.my_role() is distinct from 'admin' then
    raise exception using errcode = '42501', message = 'only admins can preview imports';
  end if;
  perform engine.check_import_rows(p_import_ref, p_rows, 'phone');
  with items as (
    select (r.item ->> 'row')::int as row_number, r.item ->> 'phone' as phone, r.ord,
           pg_catalog.first_value((r.item ->> 'row')::int) over (partition by r.item ->> 'phone' order by r.ord) as first_row
      from pg_catalog.jsonb_array_elements(p_rows) with ordinality as r(item, ord)
  )
  select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'row', i.row_number,
           'duplicate_of', (select l.id from public.leads l
                             where l.phone = i.phone
                               and l.created_at > moment - (select s.duplicate_window from public.settings s)
                             order by l.created_at desc, l.id desc limit 1),
           'repeats_row', nullif(i.first_row, i.row_number),
           'imported', (select li.result from engine.lead_imports li
                         where li.import_ref = p_import_ref and li.row_number = i.row_number))
         order by i.ord)
    into answers
    from items i;
  return answers;
end
$$;

revoke execute on function public.import_preview(text, jsonb) from public, anon, service_role;
grant execute on function public.import_preview(text, jsonb) to authenticated;
