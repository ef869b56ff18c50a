-- A lead is `unassigned` exactly when it has no caller.
--
-- Before this migration an admin could set `status = 'new'` on an
-- unassigned lead, leaving a lead with no caller that neither the backlog
-- drain (it looks for `unassigned`) nor the SLA sweep (it looks for leads
-- with a caller) would ever see again. Every engine path already keeps the
-- two in step: a lead is inserted `unassigned` with no caller or `new` with
-- one, the drain and `reassign_lead` set the caller and `new` together, and
-- nothing clears a caller (`leads.caller_id` is `on delete restrict`).
--
-- Existing rows: the update guard let an admin move an unassigned lead to
-- another status (never the reverse), so such rows are put back to
-- `unassigned`, where the next drain picks them up. No row can have a caller
-- and `unassigned`: only the engine writes `unassigned`, without a caller.
-- The update takes row locks only; the ALTER's ACCESS EXCLUSIVE lock on
-- `leads` is held for the validation scan, once, at deploy time.

update public.leads
   set status = 'unassigned'
 where caller_id is null
   and status <> 'unassigned';

/** The routing invariant: the backlog is exactly the leads without a caller.
    An edit that would break it fails with 23514 naming this constraint;
    give an unassigned lead a caller with `reassign_lead`. */
alter table public.leads
  add constraint leads_unassigned_exactly_without_caller
  check ((status = 'unassigned') = (caller_id is null));
