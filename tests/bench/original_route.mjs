// The original ingest design, rebuilt for `loadgen --modes e` (issue 14).
//
// A stateless Node HTTP route in front of the same localbase, written the way
// the seed's Next.js route handler was: check the shared secret, map the
// posted row to a lead, look the phone up over REST (supabase-js) for a lead
// in the last 24 hours, and, when there is none, call `ingest_lead` once for
// this one lead. No batching, no state between requests. Node's HTTP server
// keeps client connections alive, and supabase-js's fetch (undici) keeps its
// connections to PostgREST alive and unbounded per origin, as in production.
//
// Started by crates/api/examples/loadgen.rs; not a test and not run by
// `cargo xtask test`. Environment: SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY,
// WEBHOOK_SECRET, PORT (0 = any). Prints `listening <port>` when ready.

import http from 'node:http';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';

const url = process.env.SUPABASE_URL;
const key = process.env.SUPABASE_SERVICE_ROLE_KEY;
const secret = process.env.WEBHOOK_SECRET;
if (!url || !key || !secret) {
  console.error('SUPABASE_URL, SUPABASE_SERVICE_ROLE_KEY and WEBHOOK_SECRET are required');
  process.exit(2);
}

const supabase = createClient(url, key, {
  auth: { persistSession: false, autoRefreshToken: false },
  realtime: { transport: WebSocket },
});

const DAY_MS = 24 * 60 * 60 * 1000;
const LANGUAGES = { hindi: 'hi', english: 'en', marathi: 'mr', tamil: 'ta', telugu: 'te', kannada: 'kn', bengali: 'bn', gujarati: 'gu' };

/** The seed's field mapping: a few known keys, everything else into metadata. */
function toLead(row) {
  const lead = { metadata: {} };
  for (const [k, v] of Object.entries(row)) {
    const key = k.toLowerCase().replace(/[\s_.-]/g, '');
    if (v === null || v === '') continue;
    if (key === 'name' || key === 'fullname') lead.name = String(v);
    else if (['phone', 'phonenumber', 'mobile', 'mobilenumber'].includes(key)) lead.phone = String(v);
    else if (key === 'state') lead.state = String(v);
    else if (key === 'city') lead.city = String(v);
    else if (key === 'email') lead.email = String(v).toLowerCase();
    else if (key === 'language') lead.language = LANGUAGES[String(v).toLowerCase()] ?? String(v);
    else if (key === 'source' || key === 'utmsource') lead.source = String(v);
    else lead.metadata[k] = v;
  }
  if (lead.phone) {
    const digits = lead.phone.replace(/\D/g, '');
    lead.phone = digits.length === 10 ? `+91${digits}` : `+${digits}`;
  }
  return lead;
}

function answer(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function ingest(req, res) {
  if (req.method !== 'POST' || req.url !== '/api/ingest') return answer(res, 404, { error: 'not_found' });
  if (req.headers['x-webhook-secret'] !== secret) return answer(res, 401, { error: 'unauthorized' });
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  let row;
  try {
    row = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return answer(res, 400, { error: 'invalid_json' });
  }
  const lead = toLead(row);
  if (!lead.phone || lead.phone.length < 8) return answer(res, 422, { error: 'missing_phone' });

  // 24 h duplicate check over REST.
  const since = new Date(Date.now() - DAY_MS).toISOString();
  const { data: existing, error: lookupError } = await supabase
    .from('leads')
    .select('id, caller_id')
    .eq('phone', lead.phone)
    .gte('created_at', since)
    .order('created_at', { ascending: false })
    .limit(1);
  if (lookupError) return answer(res, 503, { error: 'lookup_failed', message: lookupError.message });
  if (existing.length > 0) return answer(res, 200, { status: 'duplicate', lead_id: existing[0].id });

  // One RPC per lead.
  const { data, error } = await supabase.rpc('ingest_lead', { payload: lead });
  if (error) return answer(res, 503, { error: 'ingest_failed', message: error.message });
  return answer(res, data?.status === 'duplicate' ? 200 : 201, data);
}

const server = http.createServer((req, res) => {
  ingest(req, res).catch((e) => answer(res, 500, { error: 'internal', message: String(e) }));
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
