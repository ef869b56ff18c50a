-- Team membership: which auth user is an admin or a caller.

/** Maps a signed-in user to a team role and, for callers, to its caller row. */
create table if not exists public.team_members (
  user_id uuid primary key references auth.users (id) on delete cascade,
  role text not null check (role in ('admin', 'caller')),
  caller_id bigint null references public.callers (id) on delete set null,
  created_at timestamptz not null default now()
);

create index if not exists team_members_caller_id_idx on public.team_members (caller_id);

/** The signed-in user's team role (`admin`, `caller`) or null.
    Security definer: RLS policies on team_members itself call this, and a
    policy that read team_members under RLS would recurse. It reads only the
    current user's own row, and its search_path is fixed. */
create or replace function public.my_role() returns text
language sql stable security definer
set search_path = ''
as $$
  select role from public.team_members where user_id = auth.uid()
$$;

/** The caller row of the signed-in user, or null. Security definer for the
    same reason as my_role(); reads only the current user's own row. */
create or replace function public.my_caller_id() returns bigint
language sql stable security definer
set search_path = ''
as $$
  select caller_id from public.team_members where user_id = auth.uid()
$$;

revoke execute on function public.my_role(), public.my_caller_id() from public, anon;
grant execute on function public.my_role(), public.my_caller_id() to authenticated, service_role;
