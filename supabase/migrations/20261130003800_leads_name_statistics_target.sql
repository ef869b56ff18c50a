-- A rare full name's search keeps its plan whatever ANALYZE's sample holds
-- (issue 12 §5: "leads: search Priya Naidu page 20", p95 ≤ 50 ms at
-- 1,000,000 leads).
--
-- lead_search plans each call for its term (…3200/…3600): it walks the
-- order's index with the search as a filter when the planner expects many
-- matches (a common name fills a page after a few hundred rows), and reads
-- the trigram index when it expects few. For `name ilike '%…%'` PostgreSQL
-- estimates the matches from the column's histogram: the fraction of its
-- bounds that match the pattern. With the default statistics target (100)
-- there are ~100 bounds, so a name held by 0.09 % of leads ("Priya Naidu",
-- 872 of 1,000,000) is estimated at ~100 rows when no bound matches and at
-- ~10,100 (1 %) when one does. Measured on the seed of 1,000,000 leads
-- (docs/benchmarks.md): 6 of 40 ANALYZEs estimated 10,033–10,125 rows, and
-- with that estimate page 20 walked leads_created_at_id_idx backwards past
-- 578,000 leads: 264–718 ms instead of 9 ms. Autovacuum re-samples a live
-- team's leads every ~100,000 changes, so about one sample in seven would
-- leave such searches that slow until the next.
--
-- With 1,000 bounds one matching bound means 0.1 %, so the estimate stays
-- within about twice the truth (12 ANALYZEs: 95–1,060 rows for 872), and
-- the trigram plan is chosen every time. The cost: ANALYZE of leads reads a
-- sample of 300,000 rows instead of 30,000 (3.4 s instead of 0.4 s at
-- 1,000,000 leads, in autovacuum's background worker), and planning a name
-- search tests the pattern against 1,000 bounds instead of 100 (+0.3–0.5 ms
-- a search). Ingest does not plan a name pattern and pays nothing.
--
-- Locks: ALTER TABLE … SET STATISTICS takes SHARE UPDATE EXCLUSIVE on
-- leads (ingest and the web app's reads and writes go on; another ALTER or
-- a VACUUM waits), and ANALYZE takes the same lock while it samples.

alter table public.leads alter column name set statistics 1000;

-- Sampled now, so the new histogram is used from this deployment on rather
-- than from autovacuum's next analyze.
analyze public.leads (name);
