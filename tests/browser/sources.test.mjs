// End-to-end: a lead sent by the WhatsApp Cloud API (a signed webhook, as
// Meta sends it) appears live on the dashboard with its source, and the
// leads table filters by source. The release web build in headless
// Chromium, against localbase and the ingest service (docs/sources.md).

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { signIn, startTeam } from './harness.mjs';

const ADMIN = { email: 'admin@sources.test', password: 'admin-password-1' };
const WHATSAPP_SECRET = 'browser-whatsapp-app-secret';

// This file runs in its own process (node --test), so only its ingest
// service gets the WhatsApp source configured.
process.env.WHATSAPP_APP_SECRET = WHATSAPP_SECRET;
process.env.WHATSAPP_VERIFY_TOKEN = 'browser-whatsapp-verify-token';

/** Posts a WhatsApp Cloud API delivery with one text message, signed with the app secret. */
async function postWhatsApp(stack, { waId, name, messageId, text }) {
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
      contacts: [{ profile: { name }, wa_id: waId }],
      messages: [{ from: waId, id: messageId, timestamp: String(Math.floor(Date.now() / 1000)), type: 'text', text: { body: text } }],
    } }] }],
  });
  const signature = `sha256=${createHmac('sha256', WHATSAPP_SECRET).update(body).digest('hex')}`;
  const r = await fetch(`${stack.ingest.url}/api/sources/whatsapp`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Hub-Signature-256': signature },
    body,
  });
  const answer = await r.text();
  assert.equal(r.status, 200, `POST /api/sources/whatsapp: ${r.status} ${answer}`);
  return JSON.parse(answer);
}

describe('a WhatsApp lead in a real browser', { concurrency: false }, () => {
  let stack;

  before(async () => {
    ({ stack } = await startTeam({
      admin: ADMIN,
      callers: [{ email: 'meera@sources.test', password: 'meera-password-1', name: 'Meera Iyer', states: [], languages: ['en'], limit: 100 }],
    }));
  }, { timeout: 300000 });

  after(async () => {
    await stack?.stop();
  }, { timeout: 60000 });

  test('a message to the WhatsApp number appears live on the dashboard with its source, and the leads table filters by it', { timeout: 90000 }, async () => {
    const { page } = await signIn(stack, ADMIN.email, ADMIN.password);
    await page.getByTestId('connection').and(page.locator('[data-state=live]')).waitFor({ timeout: 15000 });
    await page.getByText('No leads yet').or(page.getByTestId('live-feed')).waitFor({ timeout: 10000 });

    const name = `Fatima Khan ${Date.now() % 100000}`;
    const waId = `4479${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`;
    const answer = await postWhatsApp(stack, { waId, name, messageId: `wamid.${Date.now()}`, text: 'Is the course still open?' });
    assert.ok(answer.results[0].lead_id, `the service stored the lead: ${JSON.stringify(answer)}`);

    const item = page.locator('[data-testid=live-feed] .feed-item', { hasText: name });
    await item.waitFor({ timeout: 5000 });
    assert.equal((await item.locator('.feed-source').textContent()).trim(), 'WhatsApp');

    await page.getByRole('link', { name: 'Leads' }).click();
    await page.getByLabel('Source').selectOption('WhatsApp');
    const row = page.locator('[data-testid=leads-table] tbody tr', { hasText: name });
    await row.waitFor({ timeout: 5000 });
    assert.equal((await row.locator('.lead-source').textContent()).trim(), 'WhatsApp');
    await page.getByLabel('Source').selectOption('Google Ads');
    await page.getByText('No leads match these filters.').waitFor({ timeout: 5000 });
  });
});
