-- The name dictionary's trigram index joins the every-minute merge of GIN
-- pending lists (…3700's engine.merge_search_pending_lists()).
--
-- engine.lead_names_trgm_idx (…3900) is a GIN index like the two on
-- public.leads: a new name's trigrams go to its pending list, which every
-- dictionary search (an admin's name-sorted search) reads whole, and which
-- otherwise is merged only by autovacuum or, at 4 MB, inside the insert
-- that passes the limit: an ingest batch, under the assignment lock. On a
-- team whose lead names are mostly new, that is most of its names. The
-- locking argument is …3700's: a merge takes RowExclusiveLock on the index,
-- merges serialize on the metapage lock, which an insert only tries, and an
-- insert waits at most for the unlinking of merged pages.
--
-- Privilege, as in …3700: the function runs as its owner, `postgres`, who
-- owns engine.lead_names (created by the migrations) as it owns
-- public.leads. Same signature, `create or replace`: the revoke from public
-- stays, and the job (…3700's schedule) calls the new body.

/** Merges the pending lists of the three trigram GIN indexes the searches
    read (public.leads_name_trgm_idx, public.leads_phone_trgm_idx and the
    name dictionary's engine.lead_names_trgm_idx) into their trees, and
    returns how many pending pages it merged in all. Locks, privilege and
    why a job: see 20261130003700_search_pending_lists_merged_every_minute.sql. */
create or replace function engine.merge_search_pending_lists() returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  return pg_catalog.gin_clean_pending_list('public.leads_name_trgm_idx'::pg_catalog.regclass)
       + pg_catalog.gin_clean_pending_list('public.leads_phone_trgm_idx'::pg_catalog.regclass)
       + pg_catalog.gin_clean_pending_list('engine.lead_names_trgm_idx'::pg_catalog.regclass);
end
$$;
