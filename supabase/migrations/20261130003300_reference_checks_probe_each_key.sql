-- The per-statement reference check of `leads` (…002700) probes each named
-- lead by its primary key, as the foreign key did, whatever plan the
-- session caches (issue 14: the engine's fixed cost per call).
--
-- `engine.check_references_exist` locked the named rows with one statement,
-- `… where l.id = any (ids) for key share of l`. plpgsql caches a generic
-- plan for it after five calls per session, planned with the table's
-- statistics of that moment. A session whose first calls came while
-- `leads` was small or never analyzed (a fresh database, the first minutes
-- after a truncate, every engine-bench cell) cached a sequential scan with
-- `id = any (ids)` as a filter, and kept it: every later batch then read the
-- whole table to lock its own new leads. The cost grew with the table, not
-- with the batch: on a scratch durable cluster (pg_stat_statements,
-- `track = all`) the lock of a batch of 100 new leads took 10.2 ms per call
-- at about 21,000 leads, a third of the whole call, against 0.4 ms for the
-- index scan the same statement gets with fresh statistics. The foreign key
-- it replaced never had this: its query (`select 1 from only leads x where
-- id = $1 for key share of x`) is an equality on the primary key, an index
-- probe under any statistics.
--
-- Now the lead ids are joined to `leads` one at a time (`unnest(ids)`,
-- sorted, and a LATERAL subquery with `l.id = i.id`): the planner's only
-- join is a nested loop with the id as a parameter of the inner scan, and
-- an equality on the primary key costs less than a scan of any table the
-- planner assumes (at least 10 pages for a table never vacuumed), so each
-- id gets the foreign key's probe: 0.4 ms for the same 100 leads at the
-- same size, and flat as the table grows. The `callers` statement stays as
-- it was: a team's callers are tens to hundreds of rows on a page or a
-- few, so even a cached sequential scan of them is bounded by the team, not
-- by the leads, and measured cheaper there than a probe per id (0.04
-- against 0.23 ms for 20 callers).
--
-- Only this function changes: its signature, its callers (the statement
-- triggers of …002700), the rows it locks, the lock strength, the errors and
-- what is stored are the same. No decision depends on it.
--
-- LOCKING: unchanged. Each named lead that exists is locked FOR KEY SHARE
-- by the LockRows node of its own probe, in ascending id (the ids are
-- sorted first, as the btree scan of `= any` sorted them), once per
-- statement, after the child rows are written: the same rows and the same
-- strength as the `= any` statement (and the foreign key's locks before
-- it), so the lock order of docs/engine.md is unchanged. The leads locked
-- here are the batch's own new ones (ingest) or leads the transaction
-- already holds FOR UPDATE (the drain, the sweep, reassign_lead), so the
-- order cannot meet another transaction's anyway. A lead deleted
-- concurrently is still waited for and then not locked (the probe re-checks
-- it after the deleter commits and returns nothing), so the count falls
-- short and the check raises, as before. `ids` is distinct (every caller
-- passes `select distinct`), so the count of locked rows is compared with
-- its length as before.

/** Locks the rows `ids` (distinct, not null) of `parent` ('callers' or
    'leads') FOR KEY SHARE, as a foreign key's check does, in one
    statement (for leads, one primary-key probe per id), and raises
    foreign_key_violation, worded as PostgreSQL words it for the dropped
    constraint `constraint_name` on `child`.`child_column`, when fewer rows
    were locked than asked for (a parent deleted before the lock, even concurrently, is
    not locked: the lock waits for the deleter and then skips the row).
    Only then does it look for the missing id, for the message. The lock
    statement is written out per parent, not built with EXECUTE, so the
    ingest path runs a plan plpgsql keeps; for leads, the probe per id keeps
    that plan an index probe whatever the table's statistics were when it
    was made. */
create or replace function engine.check_references_exist(parent text, ids bigint[], child text, child_column text, constraint_name text)
returns void
language plpgsql volatile
set search_path = ''
as $$
declare
  locked bigint;
  missing bigint;
begin
  if ids is null or pg_catalog.cardinality(ids) = 0 then
    return;
  end if;
  if parent = 'callers' then
    select pg_catalog.count(*) into locked
      from (select c.id from public.callers c where c.id = any (ids) for key share of c) x;
  elsif parent = 'leads' then
    select pg_catalog.count(*) into locked
      from (select u.id from pg_catalog.unnest(ids) as u(id) order by u.id) i,
           lateral (select l.id from public.leads l where l.id = i.id for key share of l) x;
  else
    raise exception 'engine.check_references_exist: no reference check for table "%"', parent;
  end if;
  if locked = pg_catalog.cardinality(ids) then
    return;
  end if;
  execute pg_catalog.format(
    'select pg_catalog.min(i.id) from pg_catalog.unnest($1) as i(id)
      where not exists (select 1 from public.%I p where p.id = i.id)', parent)
    into missing using ids;
  if missing is not null then
    raise exception using
      errcode = 'foreign_key_violation',
      message = pg_catalog.format('insert or update on table "%s" violates foreign key constraint "%s"',
                                  child, constraint_name),
      detail = pg_catalog.format('Key (%s)=(%s) is not present in table "%s".', child_column, missing, parent),
      table = child,
      constraint = constraint_name;
  end if;
end
$$;
