-- The assignment log: one row per assignment, of any reason.

/** Audit trail of every assignment decision. `candidates` is the list of
    eligible callers with their loads as the engine saw them when it chose
    (`[{caller_id, name, assigned_today, daily_lead_limit, weight}]`), so any
    decision can be re-checked by hand. `tier` is 1 (state match), 2 (global)
    or 4 (overflow), also for backlog and SLA moves; null for manual ones. */
create table if not exists public.assignment_logs (
  id bigint generated always as identity primary key,
  lead_id bigint not null references public.leads (id) on delete cascade,
  caller_id bigint null references public.callers (id) on delete set null,
  previous_caller_id bigint null references public.callers (id) on delete set null,
  reason text not null
    check (reason in ('state_match', 'global', 'overflow', 'backlog', 'manual', 'sla_reassign')),
  tier int null check (tier in (1, 2, 4)),
  -- json, not jsonb: written once per decision and only ever read whole, and
  -- building json is about 3x cheaper than jsonb inside the assignment lock.
  candidates json not null default '[]',
  note text null,
  created_at timestamptz not null default now()
);

create index if not exists assignment_logs_lead_id_idx on public.assignment_logs (lead_id);
create index if not exists assignment_logs_caller_id_created_at_idx on public.assignment_logs (caller_id, created_at);
create index if not exists assignment_logs_created_at_idx on public.assignment_logs (created_at);
