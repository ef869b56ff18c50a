-- Callers read their assignment history without their colleagues' figures.
--
-- assignment_logs.candidates holds every eligible caller's name, load, limit
-- and weight as the engine saw them at each decision. Admins need it to
-- re-check decisions; through its own log rows a caller also read its
-- colleagues' workload, over REST and Realtime. Admins and callers are both
-- the `authenticated` role, so column privileges cannot tell them apart
-- (and revoking the column would break an admin's `select=*`). So:
--   * the table is readable by admins (and service_role) only;
--   * the view assignment_timeline gives each team member the log rows it
--     may read, with `candidates` for admins and null for everyone else.
-- Realtime streams the table, never the view. Both Supabase's Realtime and
-- localbase's run the subscriber's own select for each change, so a caller
-- subscribed to assignment_logs now receives no change at all: Realtime never
-- delivers a column the caller cannot select.

drop policy "Callers can read their own assignment logs" on public.assignment_logs;

/** A team member's assignment timeline: one row per assignment_logs row it
    may read (all of them for an admin, those naming its caller for a
    caller, none otherwise) with the same columns, `candidates` being null
    except for admins. Roles other than anon and authenticated (service_role,
    the owner) read every row with its candidates.

    The view runs with its owner's rights, so the table's RLS does not apply
    and the view applies the same rule itself; `security_barrier` keeps a
    reader's own conditions from seeing rows before that rule has filtered
    them (an equality on `lead_id` is leakproof, so it still uses the index).
    `current_user` in a view is the reader, not the owner. Read-only: only
    select is granted. */
create view public.assignment_timeline with (security_barrier) as
select l.id,
       l.lead_id,
       l.caller_id,
       l.previous_caller_id,
       l.reason,
       l.tier,
       case when current_user not in ('anon', 'authenticated') or (select public.my_role()) = 'admin'
            then l.candidates end as candidates,
       l.note,
       l.created_at
  from public.assignment_logs l
 where current_user not in ('anon', 'authenticated')
    or (select public.my_role()) = 'admin'
    or l.caller_id = (select public.my_caller_id());

revoke all on public.assignment_timeline from public, anon, authenticated, service_role;
grant select on public.assignment_timeline to authenticated, service_role;
