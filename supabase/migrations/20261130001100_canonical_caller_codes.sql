-- Callers' state and language codes are canonical and never NULL.
--
-- Leads arrive with the codes the ingest service normalized (states
-- uppercase, languages lowercase; the engine lowercases `language` again),
-- but callers' arrays were stored as an admin typed them, so a caller with
-- `{HI}` never matched a lead in `hi`. And a NULL inside `languages` made
-- `language = any (languages)` NULL rather than false, which the routing
-- order (`… desc`, NULLs first) ranked above a real speaker.
--
-- Choice: codes are normalized on write (states trimmed and uppercased,
-- languages trimmed and lowercased) by a trigger, so an admin's casing is
-- never an error; a NULL element has no canonical form and is refused by a
-- CHECK (23514), so it cannot outrank a speaker. Existing rows lose their
-- NULL elements and are normalized once, here.

/** Normalizes `assigned_states` (uppercase) and `languages` (lowercase),
    trimming each code; NULL elements are kept so that the CHECKs below
    refuse them. Runs as whoever writes `callers`; it calls only pg_catalog. */
create function engine.canonical_caller_codes() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.assigned_states := array(
    select pg_catalog.upper(pg_catalog.btrim(s.code))
      from pg_catalog.unnest(new.assigned_states) with ordinality as s(code, n)
     order by s.n);
  new.languages := array(
    select pg_catalog.lower(pg_catalog.btrim(s.code))
      from pg_catalog.unnest(new.languages) with ordinality as s(code, n)
     order by s.n);
  return new;
end
$$;

create trigger callers_10_canonical_codes before insert or update of assigned_states, languages on public.callers
  for each row execute function engine.canonical_caller_codes();

-- Existing rows: drop NULL elements; the trigger normalizes the rest. Only
-- rows that change are touched (the statement takes the assignment lock
-- through callers_00_lock, like any caller edit).
update public.callers c
   set assigned_states = pg_catalog.array_remove(c.assigned_states, null),
       languages = pg_catalog.array_remove(c.languages, null)
 where pg_catalog.array_position(c.assigned_states, null) is not null
    or pg_catalog.array_position(c.languages, null) is not null
    or exists (select 1 from pg_catalog.unnest(c.assigned_states) s(code)
                where s.code <> pg_catalog.upper(pg_catalog.btrim(s.code)))
    or exists (select 1 from pg_catalog.unnest(c.languages) s(code)
                where s.code <> pg_catalog.lower(pg_catalog.btrim(s.code)));

/** No NULL state code: a NULL element matches no lead and hides mistakes. */
alter table public.callers
  add constraint callers_assigned_states_without_nulls
  check (pg_catalog.array_position(assigned_states, null) is null);

/** No NULL language code: it would rank above a real speaker in routing. */
alter table public.callers
  add constraint callers_languages_without_nulls
  check (pg_catalog.array_position(languages, null) is null);
