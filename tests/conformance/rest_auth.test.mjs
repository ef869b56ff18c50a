// supabase-js against localbase: Auth (sign in, refresh, bad password) and
// REST (select with filters and count, insert, update, rpc, errors), so that
// what passes here works against real Supabase.
//
// Uses localbase's own fixture schema (crates/localbase/tests/fixtures), not
// the CRM's, applied by the Supabase CLI when installed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { repoRoot, startLocalbase } from './helpers.mjs';

const fixtures = join(repoRoot, 'crates', 'localbase', 'tests', 'fixtures', 'supabase', 'migrations');

let lb;
let admin;

/** A client with no session persistence, as a script or test uses. Node 20
    has no global WebSocket, which supabase-js's Realtime client wants. */
function client(key) {
  return createClient(lb.apiUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: WebSocket },
  });
}

async function createUser(email, password) {
  const { data, error } = await admin.auth.admin.createUser({ email, password, email_confirm: true });
  assert.equal(error, null);
  return data.user;
}

describe('supabase-js against localbase (REST and Auth)', () => {
  before(async () => {
    lb = await startLocalbase({ migrations: fixtures });
    admin = client(lb.serviceRoleKey);
  });

  after(async () => {
    await lb?.stop();
  });

  test('signing in with a password gives a session whose user matches', async () => {
    const user = await createUser('asha@example.com', 'password-1');
    const supabase = client(lb.anonKey);

    const { data, error } = await supabase.auth.signInWithPassword({ email: 'asha@example.com', password: 'password-1' });

    assert.equal(error, null);
    assert.equal(data.user.id, user.id);
    assert.equal(data.session.token_type, 'bearer');
    assert.ok(data.session.expires_at > Date.now() / 1000);
    const { data: me, error: meError } = await supabase.auth.getUser();
    assert.equal(meError, null);
    assert.equal(me.user.email, 'asha@example.com');
  });

  test('a wrong password is refused with invalid_credentials', async () => {
    await createUser('ravi@example.com', 'password-2');
    const supabase = client(lb.anonKey);

    const { data, error } = await supabase.auth.signInWithPassword({ email: 'ravi@example.com', password: 'nope-nope' });

    assert.equal(data.session, null);
    assert.equal(error.status, 400);
    assert.equal(error.code, 'invalid_credentials');
    assert.equal(error.message, 'Invalid login credentials');
  });

  test('refreshing a session rotates the refresh token and keeps the user', async () => {
    await createUser('meera@example.com', 'password-3');
    const supabase = client(lb.anonKey);
    const { data: signedIn } = await supabase.auth.signInWithPassword({ email: 'meera@example.com', password: 'password-3' });

    const { data, error } = await supabase.auth.refreshSession();

    assert.equal(error, null);
    assert.notEqual(data.session.refresh_token, signedIn.session.refresh_token);
    assert.equal(data.user.id, signedIn.user.id);
    const { data: rows, error: restError } = await supabase.rpc('whoami');
    assert.equal(restError, null);
    assert.equal(rows.uid, signedIn.user.id);
  });

  test('select with filters, order and an exact count', async () => {
    const supabase = client(lb.anonKey);

    const { data, count, error, status } = await supabase
      .from('planets')
      .select('name, moons', { count: 'exact' })
      .gt('moons', 1)
      .lte('moons', 95)
      .neq('name', 'Mars')
      .order('moons', { ascending: false });

    assert.equal(error, null);
    assert.equal(status, 200);
    assert.equal(count, 3);
    assert.deepEqual(data, [
      { name: 'Jupiter', moons: 95 },
      { name: 'Uranus', moons: 28 },
      { name: 'Neptune', moons: 16 },
    ]);
  });

  test('a head request with count gives the count and no rows', async () => {
    const supabase = client(lb.publishableKey);

    const { count, data, error } = await supabase.from('planets').select('*', { count: 'exact', head: true }).in('id', [1, 2, 3]);

    assert.equal(error, null);
    assert.equal(count, 3);
    assert.equal(data, null);
  });

  test('insert and update run as the signed-in user under RLS', async () => {
    await createUser('dev@example.com', 'password-4');
    await createUser('other@example.com', 'password-5');
    const dev = client(lb.anonKey);
    const other = client(lb.anonKey);
    const { data: signedIn } = await dev.auth.signInWithPassword({ email: 'dev@example.com', password: 'password-4' });
    await other.auth.signInWithPassword({ email: 'other@example.com', password: 'password-5' });

    const { data: inserted, error: insertError, status } = await dev.from('notes').insert({ title: 'first call' }).select().single();
    assert.equal(insertError, null);
    assert.equal(status, 201);
    assert.equal(inserted.owner, signedIn.user.id);

    const { data: updated, error: updateError } = await dev.from('notes').update({ score: 5 }).eq('id', inserted.id).select();
    assert.equal(updateError, null);
    assert.deepEqual(updated.map((r) => r.score), [5]);

    const { data: seenByOther } = await other.from('notes').select('*');
    assert.deepEqual(seenByOther, []);
    const { data: changedByOther } = await other.from('notes').update({ score: 0 }).eq('id', inserted.id).select();
    assert.deepEqual(changedByOther, []);

    const { error: anonError, status: anonStatus } = await client(lb.anonKey).from('notes').insert({ title: 'anon' });
    assert.equal(anonStatus, 401);
    assert.equal(anonError.code, '42501');
  });

  test('rpc returns scalars bare and setof as arrays', async () => {
    const supabase = client(lb.anonKey);

    const { data: sum, error } = await supabase.rpc('add', { a: 20, b: 22 });
    assert.equal(error, null);
    assert.equal(sum, 42);

    const { data: planets } = await supabase.rpc('planets_with_moons', { min_moons: 100 });
    assert.deepEqual(planets, [{ id: 6, name: 'Saturn', moons: 146 }]);
  });

  test('a raised exception comes back as a PostgREST error', async () => {
    const { data, error, status } = await client(lb.anonKey).rpc('refuse', { reason: 'not today' });

    assert.equal(data, null);
    assert.equal(status, 400);
    assert.equal(error.code, 'P0001');
    assert.equal(error.message, 'not today');
  });

  test('the secret key acts as service_role', async () => {
    const { data, error } = await client(lb.secretKey).rpc('service_only');

    assert.equal(error, null);
    assert.equal(data, 'ok');
    const { error: anonError } = await client(lb.publishableKey).rpc('service_only');
    assert.equal(anonError.code, '42501');
  });

  test('the admin API lists, updates and deletes users with the secret key', async () => {
    const secretAdmin = client(lb.secretKey);
    const { data: created, error } = await secretAdmin.auth.admin.createUser({
      email: 'temp@example.com', password: 'password-7', email_confirm: true, user_metadata: { name: 'Temp' },
    });
    assert.equal(error, null);

    const { data: listed, error: listError } = await secretAdmin.auth.admin.listUsers({ page: 1, perPage: 100 });
    assert.equal(listError, null);
    assert.ok(listed.users.some((u) => u.id === created.user.id));

    const { data: updated, error: updateError } = await secretAdmin.auth.admin.updateUserById(created.user.id, {
      user_metadata: { city: 'Pune' },
    });
    assert.equal(updateError, null);
    assert.deepEqual(updated.user.user_metadata, { name: 'Temp', city: 'Pune' });

    const { error: deleteError } = await secretAdmin.auth.admin.deleteUser(created.user.id);
    assert.equal(deleteError, null);
    const { error: goneError } = await secretAdmin.auth.admin.getUserById(created.user.id);
    assert.equal(goneError.status, 404);

    const { error: refused } = await client(lb.anonKey).auth.admin.listUsers();
    assert.equal(refused.status, 403);
  });

  test('signing out ends the session', async () => {
    await createUser('leela@example.com', 'password-6');
    const supabase = client(lb.anonKey);
    const { data: signedIn } = await supabase.auth.signInWithPassword({ email: 'leela@example.com', password: 'password-6' });

    const { error } = await supabase.auth.signOut();

    assert.equal(error, null);
    const { error: refreshError } = await client(lb.anonKey).auth.refreshSession({ refresh_token: signedIn.session.refresh_token });
    assert.equal(refreshError.status, 400);
  });
});
