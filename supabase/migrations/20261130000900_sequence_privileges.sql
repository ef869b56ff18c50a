-- No API role may read, advance or reset the identity sequences.
--
-- Supabase's default privileges give anon and authenticated every privilege
-- on each new sequence in `public`, so both could `setval` the ids of
-- callers, leads and assignment_logs. Inserting into an identity column
-- needs no privilege on its sequence, so an admin still creates callers.
-- service_role, which may already write every table, keeps its privileges.

revoke all on all sequences in schema public from anon, authenticated;

-- And for sequences later migrations create in `public`.
alter default privileges in schema public revoke all on sequences from anon, authenticated;
