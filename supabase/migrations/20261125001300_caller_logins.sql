-- A caller created with a login email gets that login: the caller row is
-- linked to the auth user with the same email, and the user becomes a team
-- member with role `caller`. Works in both orders: the login may exist before
-- the caller is created (or its email is edited), or be created afterwards.
-- Rows that already name a `user_id` are left exactly as written.

/** Links caller `p_caller_id` to `p_user_id` and makes the user a caller team
    member, unless the user is already linked to another caller or already a
    team member (an admin stays an admin). Security definer: the admin whose
    edit fired it may not read `auth.users`; search_path is fixed. */
create or replace function engine.link_caller_login(p_caller_id bigint, p_user_id uuid) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_caller_id is null or p_user_id is null
     or exists (select 1 from public.callers c where c.user_id = p_user_id) then
    return;
  end if;
  update public.callers set user_id = p_user_id where id = p_caller_id and user_id is null;
  if not found then
    return;
  end if;
  insert into public.team_members (user_id, role, caller_id)
  values (p_user_id, 'caller', p_caller_id)
  on conflict (user_id) do nothing;
end
$$;

/** After a caller is created or its email changes without a `user_id`:
    link the login with that email, if there is one. */
create or replace function engine.link_login_on_caller_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform engine.link_caller_login(
    new.id,
    (select u.id from auth.users u
      where pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(new.email))
      order by u.created_at limit 1));
  return null;
end
$$;

/** After a login is created: link the oldest unlinked caller with its email. */
create or replace function engine.link_caller_on_login_created() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.email is not null then
    perform engine.link_caller_login(
      (select c.id from public.callers c
        where c.user_id is null
          and pg_catalog.lower(pg_catalog.btrim(c.email)) = pg_catalog.lower(new.email)
        order by c.id limit 1),
      new.id);
  end if;
  return null;
end
$$;

revoke all on function engine.link_caller_login(bigint, uuid) from public;
grant execute on function engine.link_login_on_caller_change(), engine.link_caller_on_login_created()
  to authenticated, service_role;

drop trigger if exists callers_40_link_login on public.callers;
create trigger callers_40_link_login after insert or update of email on public.callers
  for each row
  when (new.user_id is null and new.email is not null)
  execute function engine.link_login_on_caller_change();

drop trigger if exists users_link_caller on auth.users;
create trigger users_link_caller after insert on auth.users
  for each row execute function engine.link_caller_on_login_created();
