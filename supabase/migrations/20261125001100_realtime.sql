-- Stream leads, callers and assignment logs to Realtime subscribers.

do $$
declare
  t text;
begin
  foreach t in array array['leads', 'callers', 'assignment_logs'] loop
    if not exists (
      select 1 from pg_catalog.pg_publication_tables
      where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = t
    ) then
      execute pg_catalog.format('alter publication supabase_realtime add table public.%I', t);
    end if;
  end loop;
end
$$;
