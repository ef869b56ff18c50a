-- The foreign keys on the ingest path become per-statement checks, and their
-- delete actions triggers on the parent (issue 14 §1).
--
-- A foreign key checks every inserted row on its own: one query per row,
-- `select 1 from callers where id = $1 for key share`, each through the
-- executor from scratch. A batch of 100 leads fired about 300 of them
-- (leads.caller_id per assigned lead; assignment_logs.lead_id and .caller_id
-- per log row; caller_daily_loads.caller_id per new caller-day row), a
-- tenth to a fifth of the batch's time. Here each of those inserts checks its
-- references once per statement, over the statement's transition table: the
-- distinct parents named (about 20 callers, and the batch's new leads) are
-- locked FOR KEY SHARE in one statement, as the foreign key locked them one
-- by one, and a missing one raises what the foreign key raised (23503, the
-- constraint's name, the key). Updates of a reference column are checked per
-- row, only when the value changes (as a foreign key does).
--
-- Dropped, with why the check that stays costs the engine no row-level query:
--
--   leads.caller_id → callers (on delete restrict)
--   assignment_logs.caller_id → callers (on delete set null)
--   assignment_logs.previous_caller_id → callers (on delete set null)
--   caller_daily_loads.caller_id → callers (on delete cascade)
--     The engine writes a caller id only after reading that caller in the
--     same transaction after taking the assignment lock
--     (engine.lock_assignments). Every delete of a caller takes the
--     assignment lock first (the statement trigger callers_01_lock, before
--     any row lock, …0600_callers_writers), so no caller the engine read can
--     be deleted before the engine's transaction ends: for the engine's
--     writes the check cannot fail. It is kept, per statement, because the
--     engine is not the only possible writer: service_role holds INSERT and
--     UPDATE on these tables (…1000_row_level_security) and runs the ingest
--     RPCs as itself (security invoker, …1500), so nothing in the grants
--     keeps a direct service_role insert (the service key over REST, a
--     script) to the engine's functions. A child-side check on UPDATE alone
--     would let such an insert name a caller that does not exist. Every
--     INSERT into these three tables in supabase/migrations is the engine's
--     (ingest_lead, ingest_leads, the backlog drain, the SLA sweep,
--     reassign_lead), all under the assignment lock; authenticated has no
--     INSERT on any of them.
--
--   assignment_logs.lead_id → leads (on delete cascade)
--     Every log row the engine writes names a lead that this transaction
--     inserted (ingest) or holds FOR UPDATE (the drain, the sweep,
--     reassign_lead): a lead nobody else can see yet, or one whose delete
--     must wait for this transaction. The check stays per statement for the
--     same reason as above.
--
-- The delete actions, now triggers on the parents (deletes are rare: an
-- admin removing a caller or a lead), with what they did before:
--   callers, after delete, per row: refuse when a lead names the caller
--     (restrict, 23503 with the old constraint's name); set
--     assignment_logs.caller_id and .previous_caller_id to null; delete its
--     caller_daily_loads rows. team_members.caller_id keeps its foreign key
--     (not on the ingest path).
--   leads, after delete, per row: delete its assignment_logs rows.
-- A change of a parent's id (`set id = default` is the only one an identity
-- column allows) is refused while rows name it, as before (NO ACTION on
-- update).
--
-- Not covered any more: TRUNCATE. A foreign key refused `truncate callers`
-- (or `leads`) without its referencing tables; triggers cannot. No API role
-- can send TRUNCATE (PostgREST has no such request, and no RPC runs one); only
-- the owner and a direct service_role SQL session could.
--
-- LOCKING: the checks take the locks the foreign keys took (FOR KEY SHARE on
-- each referenced row, after the row is written), only once per statement
-- per parent instead of once per child row, so the lock order of
-- docs/engine.md is unchanged. The parent triggers run after the parent row
-- is deleted (that row's lock held): a writer that locked the parent first
-- has committed by then and its child row is seen by the trigger's query
-- (read committed: a new snapshot per statement); one that comes after
-- waits for the delete and then finds no parent. The restrict query locks
-- the referencing leads FOR KEY SHARE, as the foreign key's did.
--
-- Every function below is security definer (owned by the migrations' role):
-- the checks must see and lock rows that RLS would hide from the writer, as
-- a foreign key's queries do. None takes an argument from the caller; none
-- is executable by an API role (schema engine's default privileges).

alter table public.leads drop constraint leads_caller_id_fkey;
alter table public.assignment_logs drop constraint assignment_logs_lead_id_fkey;
alter table public.assignment_logs drop constraint assignment_logs_caller_id_fkey;
alter table public.assignment_logs drop constraint assignment_logs_previous_caller_id_fkey;
alter table public.caller_daily_loads drop constraint caller_daily_loads_caller_id_fkey;

/** Locks the rows `ids` (distinct, not null) of `parent` ('callers' or
    'leads') FOR KEY SHARE, as a foreign key's check does, in one
    statement, and raises foreign_key_violation, worded as PostgreSQL words
    it for the dropped constraint `constraint_name` on `child`.`child_column`,
    when fewer rows were locked than asked for (a parent deleted before the
    lock, even concurrently, is not locked: the lock waits for the deleter
    and then skips the row). Only then does it look for the missing id, for
    the message. The lock statement is written out per parent, not built
    with EXECUTE, so the ingest path runs a plan plpgsql keeps. */
create function engine.check_references_exist(parent text, ids bigint[], child text, child_column text, constraint_name text)
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
      from (select l.id from public.leads l where l.id = any (ids) for key share of l) x;
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

/** After an insert into `leads`, once per statement: the callers its rows
    name exist (what leads_caller_id_fkey checked per row). */
create function engine.check_inserted_leads() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform engine.check_references_exist('callers',
    array(select distinct n.caller_id from inserted n where n.caller_id is not null),
    'leads', 'caller_id', 'leads_caller_id_fkey');
  return null;
end
$$;

create trigger leads_50_check_references after insert on public.leads
  referencing new table as inserted
  for each statement execute function engine.check_inserted_leads();

/** After an update that changes `leads.caller_id` to a caller: that caller
    exists (the engine's moves, or a service_role PATCH; authenticated may not
    write the column at all). */
create function engine.check_changed_lead_caller() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform engine.check_references_exist('callers', array[new.caller_id], 'leads', 'caller_id', 'leads_caller_id_fkey');
  return null;
end
$$;

create trigger leads_50_check_caller after update of caller_id on public.leads
  for each row
  when (new.caller_id is not null and new.caller_id is distinct from old.caller_id)
  execute function engine.check_changed_lead_caller();

/** After an insert into `assignment_logs`, once per statement: the leads
    and callers its rows name exist. */
create function engine.check_inserted_logs() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform engine.check_references_exist('leads', array(select distinct n.lead_id from inserted n),
    'assignment_logs', 'lead_id', 'assignment_logs_lead_id_fkey');
  perform engine.check_references_exist('callers',
    array(select distinct n.caller_id from inserted n where n.caller_id is not null),
    'assignment_logs', 'caller_id', 'assignment_logs_caller_id_fkey');
  perform engine.check_references_exist('callers',
    array(select distinct n.previous_caller_id from inserted n where n.previous_caller_id is not null),
    'assignment_logs', 'previous_caller_id', 'assignment_logs_previous_caller_id_fkey');
  return null;
end
$$;

create trigger assignment_logs_50_check_references after insert on public.assignment_logs
  referencing new table as inserted
  for each statement execute function engine.check_inserted_logs();

/** After an update of a log row's references: each changed one exists. */
create function engine.check_changed_log() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  if new.lead_id is distinct from old.lead_id then
    perform engine.check_references_exist('leads', array[new.lead_id], 'assignment_logs', 'lead_id',
      'assignment_logs_lead_id_fkey');
  end if;
  if new.caller_id is not null and new.caller_id is distinct from old.caller_id then
    perform engine.check_references_exist('callers', array[new.caller_id], 'assignment_logs', 'caller_id',
      'assignment_logs_caller_id_fkey');
  end if;
  if new.previous_caller_id is not null and new.previous_caller_id is distinct from old.previous_caller_id then
    perform engine.check_references_exist('callers', array[new.previous_caller_id], 'assignment_logs', 'previous_caller_id',
      'assignment_logs_previous_caller_id_fkey');
  end if;
  return null;
end
$$;

create trigger assignment_logs_50_check_changed_references
  after update of lead_id, caller_id, previous_caller_id on public.assignment_logs
  for each row execute function engine.check_changed_log();

/** After an insert into `caller_daily_loads` (an upsert's new rows only),
    once per statement: the callers exist. */
create function engine.check_inserted_loads() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform engine.check_references_exist('callers',
    array(select distinct n.caller_id from inserted n),
    'caller_daily_loads', 'caller_id', 'caller_daily_loads_caller_id_fkey');
  return null;
end
$$;

create trigger caller_daily_loads_50_check_references after insert on public.caller_daily_loads
  referencing new table as inserted
  for each statement execute function engine.check_inserted_loads();

/** After an update that changes `caller_daily_loads.caller_id` (the engine
    never does): the caller exists. */
create function engine.check_changed_load_caller() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform engine.check_references_exist('callers', array[new.caller_id], 'caller_daily_loads', 'caller_id',
      'caller_daily_loads_caller_id_fkey');
  return null;
end
$$;

create trigger caller_daily_loads_50_check_caller after update of caller_id on public.caller_daily_loads
  for each row
  when (new.caller_id is distinct from old.caller_id)
  execute function engine.check_changed_load_caller();

/** Raises what a foreign key raised when a parent row still referenced from
    `child` is deleted or renumbered. */
create function engine.refuse_referenced(parent text, child text, constraint_name text, id bigint)
returns void
language plpgsql volatile
set search_path = ''
as $$
begin
  raise exception using
    errcode = 'foreign_key_violation',
    message = pg_catalog.format('update or delete on table "%s" violates foreign key constraint "%s" on table "%s"',
                                parent, constraint_name, child),
    detail = pg_catalog.format('Key (id)=(%s) is still referenced from table "%s".', id, child),
    table = child,
    constraint = constraint_name;
end
$$;

/** After a caller is deleted, per row: the delete actions of the dropped
    foreign keys, as they were. A lead naming the caller refuses the delete
    (restrict; the lead's row is locked FOR KEY SHARE, as the foreign key's
    query locked it); its log rows keep their history without it (set
    null); its loads go (cascade). */
create function engine.callers_deleted() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform 1 from public.leads l where l.caller_id = old.id limit 1 for key share of l;
  if found then
    perform engine.refuse_referenced('callers', 'leads', 'leads_caller_id_fkey', old.id);
  end if;
  update public.assignment_logs set caller_id = null where caller_id = old.id;
  update public.assignment_logs set previous_caller_id = null where previous_caller_id = old.id;
  delete from public.caller_daily_loads where caller_id = old.id;
  return null;
end
$$;

create trigger callers_50_delete_references after delete on public.callers
  for each row execute function engine.callers_deleted();

/** After a caller's id changes (only `set id = default` can): refused while
    a lead, a log row or a load names the old id (NO ACTION, as before). */
create function engine.callers_renumbered() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.leads l where l.caller_id = old.id) then
    perform engine.refuse_referenced('callers', 'leads', 'leads_caller_id_fkey', old.id);
  end if;
  if exists (select 1 from public.assignment_logs g where g.caller_id = old.id) then
    perform engine.refuse_referenced('callers', 'assignment_logs', 'assignment_logs_caller_id_fkey', old.id);
  end if;
  if exists (select 1 from public.assignment_logs g where g.previous_caller_id = old.id) then
    perform engine.refuse_referenced('callers', 'assignment_logs', 'assignment_logs_previous_caller_id_fkey', old.id);
  end if;
  if exists (select 1 from public.caller_daily_loads d where d.caller_id = old.id) then
    perform engine.refuse_referenced('callers', 'caller_daily_loads', 'caller_daily_loads_caller_id_fkey', old.id);
  end if;
  return null;
end
$$;

create trigger callers_50_renumber_references after update of id on public.callers
  for each row when (new.id is distinct from old.id)
  execute function engine.callers_renumbered();

/** After a lead is deleted, per row: its log rows go with it (cascade, as
    before). Security definer: no API role may delete log rows itself. */
create function engine.leads_deleted() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  delete from public.assignment_logs where lead_id = old.id;
  return null;
end
$$;

create trigger leads_50_delete_references after delete on public.leads
  for each row execute function engine.leads_deleted();

/** After a lead's id changes (only `set id = default` can): refused while a
    log row names the old id. */
create function engine.leads_renumbered() returns trigger
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  if exists (select 1 from public.assignment_logs g where g.lead_id = old.id) then
    perform engine.refuse_referenced('leads', 'assignment_logs', 'assignment_logs_lead_id_fkey', old.id);
  end if;
  return null;
end
$$;

create trigger leads_50_renumber_references after update of id on public.leads
  for each row when (new.id is distinct from old.id)
  execute function engine.leads_renumbered();
