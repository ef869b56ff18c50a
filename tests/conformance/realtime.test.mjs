// supabase-js Realtime against localbase: postgres_changes under both
// serializers, Supabase's payload shapes, and RLS between two callers.
//
// Needs the built binary (`cargo build -p localbase`); see helpers.mjs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { startLocalbase } from './helpers.mjs';

const PASSWORD = 'correct horse battery staple';
// Node 20 has no global WebSocket.
const realtimeBase = { transport: WebSocket };

let lb;
let admin;
const callers = {};

function client(key, realtime = {}) {
  return createClient(lb.apiUrl, key, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { ...realtimeBase, ...realtime },
  });
}

/** Joins a channel for `leads` changes; resolves once SUBSCRIBED, with the events collected so far. */
function subscribe(supabase, name, binding = {}) {
  const events = [];
  const waiters = [];
  const channel = supabase.channel(name).on(
    'postgres_changes',
    { event: '*', schema: 'public', table: 'leads', ...binding },
    (payload) => {
      events.push(payload);
      for (const w of waiters.splice(0)) w();
    },
  );
  const subscribed = new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve();
      else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') reject(new Error(`${status}: ${err?.message}`));
    });
  });
  /** Waits until `n` events have arrived (or fails after `ms`). */
  const waitFor = async (n, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (events.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} events on ${name}, got ${events.length}: ${JSON.stringify(events)}`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
    return events;
  };
  return subscribed.then(() => ({ channel, events, waitFor }));
}

async function addCaller(name) {
  const email = `${name.toLowerCase()}@example.com`;
  const { data: created, error } = await admin.auth.admin.createUser({ email, password: PASSWORD, email_confirm: true });
  assert.ifError(error);
  const userId = created.user.id;
  const { data: caller, error: callerError } = await admin.from('callers').insert({ name, user_id: userId }).select().single();
  assert.ifError(callerError);
  const { error: memberError } = await admin.from('team_members').insert({ user_id: userId, role: 'caller', caller_id: caller.id });
  assert.ifError(memberError);
  return { id: caller.id, userId, email };
}

let phoneSeq = 0;
async function addLead(callerId) {
  phoneSeq += 1;
  const phone = `+9198765${String(phoneSeq).padStart(5, '0')}`;
  const { data, error } = await admin
    .from('leads')
    .insert({ phone, name: 'Asha', state: 'MH', caller_id: callerId, metadata: { row: phoneSeq } })
    .select()
    .single();
  assert.ifError(error);
  return data;
}

async function insertUpdateDelete(callerId) {
  const lead = await addLead(callerId);
  const { error: updateError } = await admin.from('leads').update({ status: 'contacted' }).eq('id', lead.id);
  assert.ifError(updateError);
  await admin.from('assignment_logs').delete().eq('lead_id', lead.id);
  const { error: deleteError } = await admin.from('leads').delete().eq('id', lead.id);
  assert.ifError(deleteError);
  return lead;
}

function assertShapes(events, lead) {
  const [insert, update, del] = events;
  for (const e of events) {
    assert.equal(e.schema, 'public');
    assert.equal(e.table, 'leads');
    assert.equal(e.errors, null);
    assert.ok(!Number.isNaN(Date.parse(e.commit_timestamp)), `commit_timestamp ${e.commit_timestamp}`);
  }
  assert.equal(insert.eventType, 'INSERT');
  assert.equal(insert.new.id, lead.id);
  assert.equal(insert.new.phone, lead.phone);
  assert.equal(insert.new.caller_id, lead.caller_id);
  assert.deepEqual(insert.new.metadata, lead.metadata);
  assert.deepEqual(insert.old, {});
  assert.equal(update.eventType, 'UPDATE');
  assert.equal(update.new.id, lead.id);
  assert.equal(update.new.status, 'contacted');
  assert.deepEqual(update.old, { id: lead.id });
  assert.equal(del.eventType, 'DELETE');
  assert.deepEqual(del.old, { id: lead.id }, 'a DELETE on an RLS table carries only the primary key');
  assert.deepEqual(del.new, {});
}

describe('Realtime postgres_changes through supabase-js', () => {
  before(async () => {
    lb = await startLocalbase();
    admin = client(lb.serviceRoleKey);
    callers.ravi = await addCaller('Ravi');
    callers.meera = await addCaller('Meera');
  });

  after(async () => {
    await admin?.removeAllChannels();
    await lb?.stop();
  });

  test('the default serializer (2.0.0) receives INSERT, UPDATE and DELETE with Supabase shapes', async () => {
    const supabase = client(lb.serviceRoleKey);
    assert.equal(supabase.realtime.vsn, '2.0.0');
    assert.match(supabase.realtime.endpointURL(), /vsn=2\.0\.0/);
    const sub = await subscribe(supabase, 'leads-v2');

    const lead = await insertUpdateDelete(callers.ravi.id);

    assertShapes(await sub.waitFor(3), lead);
    await supabase.removeAllChannels();
  });

  test('vsn 1.0.0 receives the same changes', async () => {
    const supabase = client(lb.serviceRoleKey, { vsn: '1.0.0' });
    assert.match(supabase.realtime.endpointURL(), /vsn=1\.0\.0/);
    const sub = await subscribe(supabase, 'leads-v1');

    const lead = await insertUpdateDelete(callers.meera.id);

    assertShapes(await sub.waitFor(3), lead);
    await supabase.removeAllChannels();
  });

  test('a filter on caller_id selects that caller\'s leads', async () => {
    const supabase = client(lb.serviceRoleKey);
    const sub = await subscribe(supabase, 'filtered', { event: 'INSERT', filter: `caller_id=eq.${callers.meera.id}` });

    await addLead(callers.ravi.id);
    const meeras = await addLead(callers.meera.id);

    const events = await sub.waitFor(1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(events.length, 1);
    assert.equal(events[0].new.id, meeras.id);
    await supabase.removeAllChannels();
  });

  test('a signed-in caller receives its own leads and never another caller\'s', async () => {
    const ravi = client(lb.anonKey);
    const { error } = await ravi.auth.signInWithPassword({ email: callers.ravi.email, password: PASSWORD });
    assert.ifError(error);
    const sub = await subscribe(ravi, 'my-leads');

    const meeras = await addLead(callers.meera.id);
    const ravis = await addLead(callers.ravi.id);

    const events = await sub.waitFor(1);
    await new Promise((r) => setTimeout(r, 700));
    assert.deepEqual(events.map((e) => e.new.id), [ravis.id], `not Meera's lead ${meeras.id}`);
    assert.equal(events[0].new.caller_id, callers.ravi.id);
    await ravi.removeAllChannels();
  });

  test('the anon key alone receives no leads', async () => {
    const anon = client(lb.anonKey);
    const sub = await subscribe(anon, 'anon-leads');

    await addLead(callers.ravi.id);

    await new Promise((r) => setTimeout(r, 700));
    assert.equal(sub.events.length, 0);
    await anon.removeAllChannels();
  });

  test('a forged access token makes the join fail', async () => {
    const forged = client(lb.anonKey, { accessToken: undefined });
    forged.realtime.setAuth(
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4Iiwicm9sZSI6InNlcnZpY2Vfcm9sZSIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJlLWZvcmdlZA',
    );
    await assert.rejects(subscribe(forged, 'forged'), /CHANNEL_ERROR/);
    await forged.removeAllChannels();
  });
});
