// End-to-end: the caller queue ("My leads") in headless Chromium against
// localbase (real PostgreSQL) and the ingest service — pages in SLA order,
// the keyboard flow, a desktop notification for a newly assigned lead, and
// each caller's conversion today on the admin's dashboard. The scenarios
// share one stack and run in order.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { eventually, randomPhone, screenshotsDir, signIn, sleep, startTeam } from './harness.mjs';

const ADMIN = { email: 'admin@queue.test', password: 'admin-password-1' };
// The only caller, so every lead goes to her.
const ASHA = { email: 'asha@queue.test', password: 'asha-password-1', name: 'Asha Queue', states: [], languages: [], limit: 500 };
const LEADS = 23;

/** Records every `new Notification(title, options)` in window.__notifications, then shows it. */
const WRAP_NOTIFICATION = () => {
  const Real = window.Notification;
  window.__notifications = [];
  if (!Real) return;
  function Recorded(title, options) {
    window.__notifications.push({ title, body: options && options.body });
    try {
      return new Real(title, options);
    } catch {
      return {};
    }
  }
  Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
};

/** Signs in at 1366 px with every notification recorded; `contextOptions` on top (permissions). */
const signInRecording = (stack, { email, password }, contextOptions = {}) =>
  signIn(stack, email, password, { contextOptions: { viewport: { width: 1366, height: 900 }, ...contextOptions }, initScript: WRAP_NOTIFICATION });

async function shownIds(page) {
  return page.getByTestId('my-lead').evaluateAll((cards) => cards.map((c) => Number(c.dataset.leadId)));
}

async function selectedId(page) {
  const selected = page.locator('[data-testid=my-lead][aria-current=true]');
  return (await selected.count()) === 1 ? Number(await selected.getAttribute('data-lead-id')) : null;
}

/** The caller's open leads in the order the queue promises: awaiting contact by SLA due time (assigned_at), then follow-ups. */
async function expectedQueue(stack, callerId) {
  const rows = await stack.localbase.rest('GET', `leads?select=id,status,assigned_at&caller_id=eq.${callerId}&status=in.(new,contacted,qualified)`);
  const rank = (r) => (r.status === 'new' ? 0 : 1);
  rows.sort((a, b) => rank(a) - rank(b) || Date.parse(a.assigned_at) - Date.parse(b.assigned_at) || a.id - b.id);
  return rows.map((r) => r.id);
}

async function leadStatus(stack, id) {
  const [row] = await stack.localbase.rest('GET', `leads?select=status&id=eq.${id}`);
  return row.status;
}

describe('the caller queue in a real browser', { concurrency: false }, () => {
  let stack;
  let asha;
  let caller; // { context, page }

  before(async () => {
    ({ stack, callers: [asha] } = await startTeam({ admin: ADMIN, callers: [ASHA] }));
    const ids = [];
    for (let i = 0; i < LEADS; i += 1) {
      const answer = await stack.ingest.post({ name: `Queue Lead ${String(i).padStart(2, '0')}`, phone: randomPhone(), state: 'Gujarat' });
      ids.push(answer.lead_id);
    }
    // Two of the earliest are already being followed up: they go to the end.
    for (const id of ids.slice(1, 3)) {
      await stack.localbase.rest('PATCH', `leads?id=eq.${id}`, { status: 'contacted' });
    }
  }, { timeout: 300000 });

  after(async () => {
    await stack?.stop();
  }, { timeout: 60000 });

  test('the queue shows 20 leads a page, awaiting contact first by SLA due time, then follow-ups', { timeout: 90000 }, async () => {
    caller = await signInRecording(stack, ASHA, { permissions: ['notifications'] });
    const { page } = caller;
    await page.getByRole('heading', { name: 'My leads' }).waitFor();
    await page.getByTestId('caller-queue').waitFor({ timeout: 10000 });
    const expected = await expectedQueue(stack, asha.id);
    assert.equal(expected.length, LEADS);

    await eventually('the first page lists the first 20 in SLA order', async () => JSON.stringify(await shownIds(page)) === JSON.stringify(expected.slice(0, 20)), 5000);
    assert.equal((await page.getByTestId('queue-range').textContent()).trim(), `1–20 of ${LEADS}`);
    const legend = await page.getByTestId('shortcut-legend').textContent();
    for (const words of ['next lead', 'previous lead', 'call', 'contacted', 'converted', 'lost']) assert.match(legend, new RegExp(words));
    await page.screenshot({ path: join(screenshotsDir, 'caller-queue-1366.png'), fullPage: true });

    await page.getByRole('button', { name: 'Next ›' }).click();
    await eventually('the second page lists the rest, follow-ups last', async () => JSON.stringify(await shownIds(page)) === JSON.stringify(expected.slice(20)), 5000);
    assert.equal((await page.getByTestId('queue-range').textContent()).trim(), `21–${LEADS} of ${LEADS}`);
    await page.getByRole('button', { name: '‹ Previous' }).click();
    await eventually('back on the first page', async () => (await shownIds(page))[0] === expected[0], 5000);

    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the queue fits 375 px (it overflows by ${overflow} px)`);
    await page.screenshot({ path: join(screenshotsDir, 'caller-queue-375.png'), fullPage: true });
    await page.setViewportSize({ width: 1366, height: 900 });
  });

  test('j/k and n/p move through the queue across pages, a number key sets the status, and keys typed in a note do nothing', { timeout: 90000 }, async () => {
    const { page } = caller;
    const expected = await expectedQueue(stack, asha.id);
    await page.evaluate(() => document.activeElement?.blur());

    await page.keyboard.press('j');
    await eventually('j selects the first lead', async () => (await selectedId(page)) === expected[0], 2000);
    await page.keyboard.press('n');
    await eventually('n selects the second', async () => (await selectedId(page)) === expected[1], 2000);
    await page.keyboard.press('k');
    await eventually('k goes back to the first', async () => (await selectedId(page)) === expected[0], 2000);
    const card = page.locator(`[data-testid=my-lead][data-lead-id="${expected[0]}"]`);
    assert.match(await card.getByRole('link', { name: /^Call / }).getAttribute('href'), /^tel:\+91\d{10}$/, 'c would open this tel: link');

    // Typing in the note field is typing, not a shortcut.
    await card.getByLabel('Note (optional)').fill('');
    await card.getByLabel('Note (optional)').pressSequentially('1 call back');
    await sleep(300);
    assert.equal(await leadStatus(stack, expected[0]), 'new', 'a 1 typed in the note sets no status');
    await page.evaluate(() => document.activeElement?.blur());

    await page.keyboard.press('1');
    await eventually('1 marks the selected lead contacted', async () => (await leadStatus(stack, expected[0])) === 'contacted', 5000);
    const row = (await stack.localbase.rest('GET', `leads?select=notes&id=eq.${expected[0]}`))[0];
    assert.match(row.notes ?? '', /call back/, 'the note typed on the card went with the status');
    // The contacted lead moves to the follow-ups; the selection stays on the first row, now the next lead awaiting contact.
    await eventually('the queue re-orders', async () => (await shownIds(page))[0] === expected[1], 5000);
    assert.equal(await selectedId(page), expected[1]);

    for (let i = 0; i < 20; i += 1) await page.keyboard.press('j');
    await eventually('past the last row, j opens the next page on its first lead', async () => (await page.getByTestId('queue-range').textContent()).trim().startsWith('21–'), 5000);
    const secondPage = await shownIds(page);
    let lastSelected;
    await eventually('the first lead of page 2 is selected', async () => {
      lastSelected = await selectedId(page);
      return lastSelected === secondPage[0];
    }, 2000).catch((e) => { throw new Error(`${e.message}; selected ${lastSelected}, page 2 is ${JSON.stringify(secondPage)}`); });
    await page.keyboard.press('p');
    await eventually('p from the top of page 2 selects the last lead of page 1', async () => {
      const ids = await shownIds(page);
      return (await page.getByTestId('queue-range').textContent()).trim().startsWith('1–') && (await selectedId(page)) === ids[ids.length - 1];
    }, 5000);

    const converted = await selectedId(page);
    await page.keyboard.press('3');
    await eventually('3 converts the selected lead', async () => (await leadStatus(stack, converted)) === 'converted', 5000);
    await eventually('the converted lead leaves the queue', async () => !(await shownIds(page)).includes(converted), 5000);
  });

  test('with notifications turned on, a lead newly assigned to the caller shows a desktop notification; her own status changes do not', { timeout: 90000 }, async () => {
    const { page } = caller;
    await page.getByTestId('notify-toggle').click();
    await eventually('the toggle says on', async () => (await page.getByTestId('notify-toggle').textContent()).includes('Notifications on'), 5000);
    assert.equal(await page.evaluate(() => localStorage.getItem('bloc.queue.notify')), 'on', 'the choice is remembered');
    await page.evaluate(() => { window.__notifications.length = 0; });

    await page.keyboard.press('2');
    await sleep(1500);
    assert.deepEqual(await page.evaluate(() => window.__notifications), [], 'setting a status of her own lead announces nothing');

    const name = `Fresh Lead ${Date.now() % 100000}`;
    const posted = await stack.ingest.post({ name, phone: randomPhone(), state: 'Gujarat' });
    assert.equal((await stack.localbase.rest('GET', `leads?select=caller_id&id=eq.${posted.lead_id}`))[0].caller_id, asha.id);
    const notes = await eventually('a notification names the new lead', async () => {
      const seen = await page.evaluate(() => window.__notifications);
      return seen.length > 0 && seen;
    }, 5000);
    assert.equal(notes.length, 1, `one notification: ${JSON.stringify(notes)}`);
    assert.equal(notes[0].title, 'New lead');
    assert.match(notes[0].body, new RegExp(name));

    // After a reload the choice holds without asking again.
    await page.reload();
    await page.getByTestId('caller-queue').waitFor({ timeout: 10000 });
    assert.match(await page.getByTestId('notify-toggle').textContent(), /Notifications on/);
  });

  test('the admin dashboard shows each caller\'s conversion today beside the load bar', { timeout: 90000 }, async () => {
    const held = await stack.localbase.rest('GET', `leads?select=id,status&caller_id=eq.${asha.id}`);
    const converted = held.filter((l) => l.status === 'converted').length;
    assert.ok(converted >= 1, 'the keyboard flow converted a lead');
    const admin = await signInRecording(stack, ADMIN);
    const bar = admin.page.locator(`[data-testid=load-bar][data-caller="${asha.id}"]`);
    await bar.waitFor({ timeout: 10000 });
    const percent = Math.round((converted * 1000) / held.length) / 10;
    const figure = `${percent}% converted (${converted} of ${held.length})`;
    await eventually(`the conversion figure reads "${figure}"`, async () => (await bar.getByTestId('load-conversion').textContent()).trim() === figure, 5000);

    // Converting one more moves the figure live.
    const open = held.find((l) => l.status === 'new');
    await stack.localbase.rest('PATCH', `leads?id=eq.${open.id}`, { status: 'converted' });
    await eventually('the figure follows the change', async () => (await bar.getByTestId('load-conversion').textContent()).includes(`(${converted + 1} of ${held.length})`), 5000);
    await admin.context.close();
  });
});
