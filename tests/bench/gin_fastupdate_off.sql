-- engine-bench only (never a migration): HEAD with the two trigram GIN
-- indexes on public.leads (…002300) built without a pending list
-- (fastupdate = off), so each insert updates the index entries at once
-- instead of appending to the pending list and, when the list passes
-- gin_pending_list_limit (4 MB by default), merging it inside one unlucky
-- insert. Copied into a HEAD folder under a name that sorts last
-- (docs/benchmarks.md, "Assignment engine", has the commands).
alter index public.leads_name_trgm_idx set (fastupdate = off);
alter index public.leads_phone_trgm_idx set (fastupdate = off);
