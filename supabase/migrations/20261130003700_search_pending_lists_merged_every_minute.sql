-- The trigram indexes' GIN pending lists merged every minute, so a search on
-- a team that ingests all day reads at most a minute of new leads unsorted.
--
-- leads_name_trgm_idx and leads_phone_trgm_idx (…2300) are GIN indexes with
-- `fastupdate` on (PostgreSQL's default): an insert appends the new lead's
-- trigrams to the index's pending list, and every trigram search reads that
-- whole list besides the index proper. The list is merged only when it
-- passes `gin_pending_list_limit` (4 MB, ~17,000 leads here), or by a vacuum
-- or autovacuum's analyze (at 1,000,000 leads, after ~100,000 changed rows),
-- so on a live team it sits between empty and 4 MB. Measured at 1,000,000
-- leads with 12,000 pending (docs/benchmarks.md, "A live team's searches also
-- scan the trigram indexes' pending lists"), p50 ms, pending / merged:
-- "Priya, sort name asc" 52.7 / 45.8, "Priya Naidu" 17.9 / 12.6, a phone
-- search "98765" 6.0 / 1.2.

/** Merges the pending lists of the two trigram indexes on public.leads into
    the indexes (pg_catalog.gin_clean_pending_list, a core PostgreSQL
    function, present on Supabase as everywhere); returns the pending-list
    pages merged and freed, both indexes together (0 when nothing was
    pending).

    Why a job and not `fastupdate = off` or a lower `gin_pending_list_limit`
    on the indexes: both move the merge into ingest. With fastupdate off each
    insert updates the GIN trees itself (a search for each of the lead's
    trigrams); with a lower limit, the insert that passes the limit merges
    the whole list in its own backend (ginHeapTupleFastInsert calls
    ginInsertCleanup when the list exceeds the limit). Ingest inserts leads
    while holding the assignment lock, so either would lengthen every
    decision of the team. Here the merge runs in pg_cron's own backend.

    Locking (PostgreSQL's ginfast.c, gin_clean_pending_list and
    ginInsertCleanup):
    - the index is opened with RowExclusiveLock, the lock every INSERT
      takes on it; it conflicts with nothing an insert, update or search
      takes (only with REINDEX, DROP INDEX and ALTER INDEX, which take
      stronger locks on the index);
    - concurrent merges of one index are serialized by a heavyweight
      ExclusiveLock on the index's metapage (LockPage on block 0), which
      only mergers take: a second forced merge (vacuum, analyze, this
      function) waits for the first, and an insert that passes the limit
      meanwhile does not wait at all (it tries the lock conditionally and
      leaves the merge to the holder);
    - inserts append to the pending list under short buffer locks on the
      metapage and the list's tail page; the merger moves entries into the
      tree without holding the list locked and takes the metapage's buffer
      lock exclusively only to unlink the pages it merged (and to merge the
      few entries added to its current page meanwhile), so an insert waits
      at most for that unlinking step, never for the merge itself;
    - a search reads the list under share buffer locks, page by page.
    This function asks for a full clean: it goes on until the list is empty,
    so leads added while it runs are merged too, by this run or the next.

    Privilege: gin_clean_pending_list requires the caller to own the index
    (as VACUUM does), not an EXECUTE grant. The index belongs to the owner
    of public.leads, `postgres` (the role that applies the migrations, on
    Supabase as in localbase), and this function runs as its owner
    (security definer), so it works for pg_cron's job, which runs as
    `postgres`, on Supabase (where postgres is not a superuser but owns the
    table) and locally (where it is a superuser). No API role may execute
    it (below). */
create function engine.merge_search_pending_lists() returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  return pg_catalog.gin_clean_pending_list('public.leads_name_trgm_idx'::pg_catalog.regclass)
       + pg_catalog.gin_clean_pending_list('public.leads_phone_trgm_idx'::pg_catalog.regclass);
end
$$;

revoke execute on function engine.merge_search_pending_lists() from public;

/** The job: every minute, like the sweeps (see
    20261130001600_sweeps_on_pg_cron.sql for where pg_cron exists and who
    runs its jobs: `postgres`, the owner of this function and of the
    indexes); no job where pg_cron is not installed in this database, and no
    second NOTICE there: …1600's already says that no job runs in this
    database. Without the job the lists are merged as before (at 4 MB, or by
    autovacuum), and searches stay exact, only slower. A run reads at most a
    minute of ingest's pending entries; pg_cron never runs two at once. */
do $$
begin
  if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    return;
  end if;
  perform cron.schedule('merge_search_pending_lists', '* * * * *', 'select engine.merge_search_pending_lists()');
end
$$;
