-- A login gets a caller's seat only once its email is confirmed.
--
-- Before: the trigger on auth.users linked a new login to the caller with
-- the same email at once. Sign-ups are open by default on Supabase, so
-- anyone with the public anon key could sign up as a caller's address before
-- the caller did and get the caller's role and leads.
--
-- The design (docs/security.md, "Caller logins"): a caller row with an
-- email, which only an admin can write, is the invitation. It is accepted
-- by the login that proves it owns the address, whichever comes first:
--   * a login created already confirmed (an admin creating it with
--     `email_confirm`, or sign-ups without email confirmation);
--   * a login whose email gets confirmed (`email_confirmed_at` set);
--   * a confirmed login whose email change is confirmed: Auth keeps the
--     pending address in `email_change` and moves it to `email` once the
--     change is confirmed (localbase's `POST /auth/v1/verify` does the
--     same). An `email` written any other way (an Auth admin editing it)
--     links nothing; an admin then saves the caller's email again to link
--     it;
--   * a caller created, or its email edited, when a confirmed login with
--     that email exists.
-- An unconfirmed login is never linked. Linking writes only
-- `callers.user_id` and `team_members`, so it takes no assignment lock
-- (…0600_callers_writers).

/** Links the oldest unlinked caller whose email is `p_email` to the
    confirmed login `p_user_id` (see engine.link_caller_login). Security
    definer: it runs from Auth's own transactions, whose role may not read
    `callers`; search_path is fixed. */
create function engine.link_caller_to_confirmed_login(p_user_id uuid, p_email text) returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  if p_email is null then
    return;
  end if;
  perform engine.link_caller_login(
    (select c.id from public.callers c
      where c.user_id is null
        and pg_catalog.lower(pg_catalog.btrim(c.email)) = pg_catalog.lower(p_email)
      order by c.id limit 1),
    p_user_id);
end
$$;

/** After a login is created: link it only if its email is already
    confirmed. Replaces the body of …1300_caller_logins. */
create or replace function engine.link_caller_on_login_created() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if new.email_confirmed_at is not null then
    perform engine.link_caller_to_confirmed_login(new.id, new.email);
  end if;
  return null;
end
$$;

/** After a login's email is confirmed, or a confirmed login's pending
    email change is confirmed: link it to the caller with that email. */
create function engine.link_caller_on_login_confirmed() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform engine.link_caller_to_confirmed_login(new.id, new.email);
  return null;
end
$$;

revoke execute on function engine.link_caller_to_confirmed_login(uuid, text),
  engine.link_caller_on_login_confirmed() from public;

create trigger users_link_caller_on_confirmation
  after update of email_confirmed_at, email on auth.users
  for each row
  when (new.email_confirmed_at is not null and new.email is not null
        and (old.email_confirmed_at is null
             or (new.email is distinct from old.email
                 and pg_catalog.lower(new.email) = pg_catalog.lower(old.email_change))))
  execute function engine.link_caller_on_login_confirmed();

/** After a caller is created or its email changes without a `user_id`:
    link the confirmed login with that email, if there is one. Replaces the
    body of …1300_caller_logins, which took any login. */
create or replace function engine.link_login_on_caller_change() returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  perform engine.link_caller_login(
    new.id,
    (select u.id from auth.users u
      where pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim(new.email))
        and u.email_confirmed_at is not null
      order by u.created_at limit 1));
  return null;
end
$$;
