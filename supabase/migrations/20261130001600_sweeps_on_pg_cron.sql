-- The sweeps run inside the database, on pg_cron (Supabase's scheduler,
-- "Supabase Cron"), so a stale lead is reassigned and the backlog drained
-- even while no ingest service is running.
--
--   job                    schedule      command
--   reassign_stale_leads   every minute  select public.reassign_stale_leads()
--   assign_backlog         every minute  select public.assign_backlog()
--   purge_deliveries       hourly        select engine.purge_deliveries()
--
-- Every minute matches the engine's granularity: the SLA is a whole number
-- of minutes (settings.sla_minutes), so a stale lead moves at most a minute
-- late, and a pause that ran out leaves leads waiting at most a minute when
-- no ingest comes in to drain them first. Deliveries are kept 24 hours, so
-- an hourly purge is plenty.

/** Where pg_cron can be created, create it and schedule the sweeps; anywhere
    else, schedule nothing and say so with a NOTICE.

    pg_cron can be created in one database per server only: its library must
    be loaded at server start (`shared_preload_libraries`), and its install
    script refuses any database but the one its scheduler reads its jobs
    from (`cron.database_name`). So:
    - On Supabase, pg_cron is preloaded and `cron.database_name` is
      `postgres`, the database migrations run in: the jobs are scheduled.
      (Supabase's `postgres` role is a member of pg_monitor, so it may read
      that setting.)
    - localbase's project cluster is the same: pgcluster preloads pg_cron
      with `cron.database_name = postgres`, and localbase migrates `postgres`.
    - A PostgreSQL without pg_cron loaded (the setting does not exist then),
      or any other database (every test database on a shared cluster), gets
      a NOTICE naming the reason, and no job. There the sweeps run only if
      the ingest service's loop is turned on (MAINTENANCE_INTERVAL_SECS), the
      fallback for a database without pg_cron.
    The check is a plain branch on those two facts, so this one file applies
    unchanged everywhere, with `supabase db push` as with pgcluster's runner.

    The extension goes into schema `pg_catalog`, as Supabase documents
    (`create extension pg_cron with schema pg_catalog`): pg_cron 1.6's control
    file pins `schema = pg_catalog`, so `with schema extensions` fails there.
    Its tables and functions live in schema `cron` whatever that schema is;
    nothing of it lands in `public`, and no API role gets any grant on `cron`
    (on Supabase only `postgres` does), so no JWT can schedule or change a job.
    A project whose owner already enabled pg_cron from Supabase's dashboard
    has the extension; it is then used as it is, since creating it twice
    fails.

    Who runs the jobs: pg_cron runs a job as the role that scheduled it
    (`cron.job.username`), the role applying this migration: `postgres`,
    owner of public.reassign_stale_leads(), public.assign_backlog(),
    engine.purge_deliveries() and of every engine function and table they
    touch. Since …0500 EXECUTE on these is granted to service_role only, but
    an owner keeps every privilege on its own objects, and RLS does not apply
    to a table's owner. On Supabase `postgres` is not a superuser; locally it
    is, which pg_cron allows by default (`cron.enable_superuser_jobs`).

    Locking: the jobs take the same assignment lock
    (engine.lock_assignments()) as the ingest RPCs and the service's loop, so
    a scheduled sweep, a loop sweep (if both are on) and an ingest decide one
    after another. pg_cron never runs two instances of one job at once: a
    run still going at the next tick delays that tick's run. */
do $$
declare
  scheduler_database text := pg_catalog.current_setting('cron.database_name', true);
begin
  if scheduler_database is null then
    raise notice 'pg_cron is not loaded on this server (shared_preload_libraries), so no sweep is scheduled in the database; '
                 'the ingest service''s maintenance loop (MAINTENANCE_INTERVAL_SECS) is the fallback';
    return;
  end if;
  if scheduler_database <> pg_catalog.current_database() then
    raise notice 'pg_cron schedules jobs only in database % (cron.database_name), not in %, so no sweep is scheduled here; '
                 'the ingest service''s maintenance loop (MAINTENANCE_INTERVAL_SECS) is the fallback',
                 scheduler_database, pg_catalog.current_database();
    return;
  end if;

  if not exists (select from pg_catalog.pg_extension where extname = 'pg_cron') then
    create extension pg_cron with schema pg_catalog;
  end if;

  perform cron.schedule('reassign_stale_leads', '* * * * *', 'select public.reassign_stale_leads()');
  perform cron.schedule('assign_backlog', '* * * * *', 'select public.assign_backlog()');
  perform cron.schedule('purge_deliveries', '0 * * * *', 'select engine.purge_deliveries()');
end
$$;
