-- Supabase's standard roles, schemas and publication (filled in by the assignment-engine work).
select 1;
