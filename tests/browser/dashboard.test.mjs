// End-to-end: the release web build in headless Chromium, against localbase
// (real PostgreSQL) and the ingest service. The scenarios share one stack and
// run in order; each uses its own leads and callers so their assertions do
// not depend on each other's counts.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { distDir, eventually, randomPhone, screenshotsDir, serveWeb, signIn, startTeam } from './harness.mjs';

const ADMIN = { email: 'admin@browser.test', password: 'admin-password-1' };
const PRIYA = { email: 'priya@browser.test', password: 'priya-password-1', name: 'Priya Sharma', states: ['MH'], languages: ['hi', 'mr'], limit: 100 };
const RAVI = { email: 'ravi@browser.test', password: 'ravi-password-1', name: 'Ravi Kumar', states: ['KA'], languages: ['kn'], limit: 5 };
const GLOBAL = { email: 'gita@browser.test', password: 'gita-password-1', name: 'Gita Rao', states: [], languages: ['en'], limit: 100 };


async function figure(page, name) {
  const text = (await page.getByTestId(`figure-${name}`).textContent()).trim();
  return Number(text);
}

async function connectionState(page) {
  return page.getByTestId('connection').getAttribute('data-state');
}

async function leadRow(stack, id) {
  const [row] = await stack.localbase.rest('GET', `leads?select=*&id=eq.${id}`);
  return row;
}

describe('the dashboard in a real browser', { concurrency: false }, () => {
  let stack;
  let priya;
  let ravi;
  let admin; // { context, page }, kept open across scenarios

  before(async () => {
    ({ stack, callers: [priya, ravi] } = await startTeam({ admin: ADMIN, callers: [PRIYA, RAVI, GLOBAL] }));
    // The first request through a fresh ingest service and PostgREST is slow
    // (connections, schema cache); warm them up before timing anything.
    await stack.ingest.post({ name: 'Warm Up', phone: randomPhone(), state: 'Delhi', language: 'English' });
  }, { timeout: 300000 });

  after(async () => {
    await stack?.stop();
  }, { timeout: 60000 });

  test('an admin signs in and a lead posted to the ingest service appears on the dashboard and in the feed within 2 s', { timeout: 90000 }, async () => {
    admin = await signIn(stack, ADMIN.email, ADMIN.password);
    const { page } = admin;
    // The callers list is held back until the lead is shown, as on a busy
    // machine where it lands after the lead: the feed must then still name
    // the caller (it once showed "Caller 1" for good).
    let releaseCallers;
    const callersHeld = new Promise((resolve) => { releaseCallers = resolve; });
    await page.route(/\/rest\/v1\/callers\?/, async (route) => {
      await callersHeld;
      await route.continue();
    });
    // The session survives a reload (it is kept in localStorage).
    await page.reload();
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: 10000 });
    await eventually('the connection indicator turns live', async () => (await connectionState(page)) === 'live', 15000);
    await eventually('the figures load', async () => Number.isFinite(await figure(page, 'received')), 10000);
    await page.getByText('No leads yet').or(page.getByTestId('live-feed')).waitFor({ timeout: 10000 });
    const receivedBefore = await figure(page, 'received');

    const name = `Asha Patil ${Date.now() % 100000}`;
    const postedAt = Date.now();
    const answer = await stack.ingest.post({ name, phone: randomPhone(), state: 'Maharashtra', language: 'Hindi' });
    assert.ok(answer.lead_id, `the ingest service stored the lead: ${JSON.stringify(answer)}`);

    const deadline = postedAt + 2000;
    await page.locator('[data-testid=live-feed] .feed-item', { hasText: name }).waitFor({ timeout: Math.max(deadline - Date.now(), 1) });
    await eventually('the received figure counts the new lead', async () => (await figure(page, 'received')) === receivedBefore + 1, Math.max(deadline - Date.now(), 1));
    const seenAfter = Date.now() - postedAt;
    assert.ok(seenAfter <= 2000, `shown ${seenAfter} ms after posting`);
    const item = page.locator('[data-testid=live-feed] .feed-item', { hasText: name });
    assert.match(await item.getAttribute('class'), /arrived/, 'the new lead is highlighted');
    assert.match(await item.textContent(), /→ Caller \d+/, 'while the callers list is held, the feed shows the caller by number');
    releaseCallers();
    await eventually('the feed names the caller it went to', async () => /Priya Sharma/.test(await item.textContent()), 5000);
    await page.unroute(/\/rest\/v1\/callers\?/);
    await page.screenshot({ path: join(screenshotsDir, 'dashboard.png'), fullPage: true });
  });

  test('the admin edits a caller\'s daily limit and the next leads respect it', { timeout: 90000 }, async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Callers' }).click();

    // Creating a caller: an empty form is refused field by field, a filled one is saved.
    await page.getByRole('button', { name: 'Add caller' }).click();
    const form = page.getByTestId('caller-form');
    await form.getByLabel('Daily lead limit').fill('');
    await form.getByRole('button', { name: 'Save caller' }).click();
    await form.getByText("Enter the caller's name.").waitFor({ timeout: 2000 });
    await form.getByText('Enter the daily lead limit.').waitFor({ timeout: 2000 });
    await form.getByLabel('Name', { exact: true }).fill('Nisha Naik');
    await form.getByLabel('Login email').fill('nisha@browser.test');
    await form.getByLabel('Daily lead limit').fill('10');
    await form.getByLabel('Goa', { exact: true }).check();
    await form.getByLabel('English', { exact: true }).check();
    await form.getByRole('button', { name: 'Save caller' }).click();
    await page.locator('[data-testid=callers-table] tr', { hasText: 'Nisha Naik' }).waitFor({ timeout: 5000 });
    const [nisha] = await stack.localbase.rest('GET', 'callers?select=*&email=eq.nisha@browser.test');
    assert.deepEqual([nisha.assigned_states, nisha.languages, nisha.daily_lead_limit], [['GA'], ['en'], 10]);
    await page.getByRole('button', { name: 'Deactivate Nisha Naik' }).click();
    await page.getByRole('button', { name: 'Activate Nisha Naik' }).waitFor({ timeout: 2000 });
    await eventually('the caller is inactive on the server', async () => (await stack.localbase.rest('GET', `callers?select=active&id=eq.${nisha.id}`))[0].active === false, 5000);

    const row = page.locator(`tr[data-caller-id="${ravi.id}"]`);
    await row.waitFor({ timeout: 10000 });
    assert.equal((await row.getByTestId('caller-limit').textContent()).trim(), '5');

    await page.getByRole('button', { name: `Edit ${RAVI.name}` }).click();
    const limit = page.getByLabel('Daily lead limit');
    await limit.fill('-3');
    await page.getByRole('button', { name: 'Save caller' }).click();
    await page.getByText('The daily lead limit must be between 0 and 10000.').waitFor({ timeout: 2000 });
    assert.equal((await stack.localbase.rest('GET', `callers?select=daily_lead_limit&id=eq.${ravi.id}`))[0].daily_lead_limit, 5, 'an invalid form saves nothing');

    await limit.fill('1');
    await page.getByRole('button', { name: 'Save caller' }).click();
    // The edit shows at once, then the saved row replaces it.
    await eventually('the table shows the new limit', async () => (await row.getByTestId('caller-limit').textContent()).trim() === '1', 1000);
    await eventually('the server has the new limit', async () => (await stack.localbase.rest('GET', `callers?select=daily_lead_limit&id=eq.${ravi.id}`))[0].daily_lead_limit === 1, 5000);
    await eventually('the saving marker clears', async () => (await row.locator('.saving').count()) === 0, 5000);
    await page.screenshot({ path: join(screenshotsDir, 'callers.png'), fullPage: true });

    const first = await stack.ingest.post({ name: 'Kiran One', phone: randomPhone(), state: 'Karnataka', language: 'Kannada' });
    const second = await stack.ingest.post({ name: 'Kiran Two', phone: randomPhone(), state: 'Karnataka', language: 'Kannada' });
    assert.equal((await leadRow(stack, first.lead_id)).caller_id, ravi.id, 'the first Karnataka lead goes to Ravi');
    const secondCaller = (await leadRow(stack, second.lead_id)).caller_id;
    assert.ok(secondCaller !== null && secondCaller !== ravi.id, `the second goes elsewhere: Ravi is at his limit of 1 (got caller ${secondCaller})`);

    await page.getByRole('link', { name: 'Dashboard' }).click();
    const bar = page.locator(`[data-testid=load-bar][data-caller="${ravi.id}"]`);
    await eventually('Ravi\'s load bar shows 1 / 1', async () => (await bar.textContent()).includes('1 / 1'), 5000);
  });

  test('a caller signs in, sees only their own leads, marks one contacted, and the admin\'s open dashboard reflects it live', { timeout: 90000 }, async () => {
    const name = `Sneha Joshi ${Date.now() % 100000}`;
    const posted = await stack.ingest.post({ name, phone: randomPhone(), state: 'MH', language: 'Marathi' });
    assert.equal((await leadRow(stack, posted.lead_id)).caller_id, priya.id);
    const adminItem = admin.page.locator('[data-testid=live-feed] .feed-item', { hasText: name });
    await adminItem.waitFor({ timeout: 5000 });
    assert.match(await adminItem.textContent(), /New/);

    const caller = await signIn(stack, PRIYA.email, PRIYA.password);
    const { page } = caller;
    await page.getByRole('heading', { name: 'My leads' }).waitFor();
    const card = page.locator(`[data-testid=my-lead][data-lead-id="${posted.lead_id}"]`);
    await card.waitFor({ timeout: 10000 });

    const shownIds = (await page.getByTestId('my-lead').evaluateAll((cards) => cards.map((c) => Number(c.dataset.leadId)))).sort((a, b) => a - b);
    const own = (await stack.localbase.rest('GET', `leads?select=id&caller_id=eq.${priya.id}&status=in.(new,contacted,qualified)`)).map((r) => r.id).sort((a, b) => a - b);
    const others = await stack.localbase.rest('GET', `leads?select=id&caller_id=neq.${priya.id}`);
    assert.ok(others.length >= 2, 'other callers have leads too');
    assert.deepEqual(shownIds, own, 'the workspace lists exactly the caller\'s open leads');
    for (const other of others) assert.ok(!shownIds.includes(other.id), `lead ${other.id} of another caller is hidden`);
    assert.match(await card.getByTestId('countdown').textContent(), /left|overdue/, 'an SLA countdown is shown');
    assert.match(await card.getByRole('link', { name: `Call ${name}` }).getAttribute('href'), /^tel:\+91\d{10}$/);
    await page.screenshot({ path: join(screenshotsDir, 'caller-workspace.png'), fullPage: true });
    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the workspace fits 375 px (it overflows by ${overflow} px)`);
    await page.screenshot({ path: join(screenshotsDir, 'caller-workspace-375px.png'), fullPage: true });

    await card.getByLabel('Note (optional)').fill('Spoke to her, call back Friday');
    await card.getByRole('button', { name: 'Contacted' }).click();
    await eventually('the admin\'s feed shows the lead as contacted', async () => /Contacted/.test(await adminItem.textContent()), 5000);
    const row = await leadRow(stack, posted.lead_id);
    assert.equal(row.status, 'contacted');
    assert.match(row.notes, /call back Friday/);
    assert.ok(row.contacted_at, 'contacted_at is stamped');
    await caller.context.close();

    // The leads screen: filter to the lead, open its detail panel and timeline.
    const { page: adminPage } = admin;
    await adminPage.getByRole('link', { name: 'Leads' }).click();
    await adminPage.getByLabel('Name or phone').fill(name);
    await adminPage.getByRole('button', { name: 'Search' }).click();
    await eventually('the search finds the lead', async () => (await adminPage.locator('[data-testid=leads-table] tbody tr').count()) === 1, 5000);
    await adminPage.getByRole('button', { name }).click();
    const detail = adminPage.getByTestId('lead-detail');
    await detail.getByTestId('timeline').waitFor({ timeout: 5000 });
    assert.match(await detail.getByTestId('timeline').textContent(), /State match/);
    assert.match(await detail.getByTestId('timeline').textContent(), /\d+ candidates considered/, 'the admin sees the candidates the engine weighed (assignment_timeline keeps them for admins)');
    await adminPage.screenshot({ path: join(screenshotsDir, 'leads.png'), fullPage: true });

    // Manual reassignment through reassign_lead.
    await detail.getByLabel('New caller').selectOption({ label: GLOBAL.name });
    await detail.getByLabel('Note (optional)').fill('Priya is on leave');
    await detail.getByRole('button', { name: 'Reassign lead' }).click();
    await detail.getByText(`Reassigned to ${GLOBAL.name}.`).waitFor({ timeout: 5000 });
    await eventually('the timeline shows the manual reassignment', async () => /Manual reassignment[\s\S]*Priya is on leave/.test(await detail.getByTestId('timeline').textContent()), 5000);
    const moved = await leadRow(stack, posted.lead_id);
    assert.notEqual(moved.caller_id, priya.id);
    assert.equal((await stack.localbase.rest('GET', `callers?select=name&id=eq.${moved.caller_id}`))[0].name, GLOBAL.name);
    await adminPage.getByRole('link', { name: 'Dashboard' }).click();
  });

  test('the admin screens work from the keyboard and fit a 375 px wide screen', { timeout: 60000 }, async () => {
    const { page } = admin;
    await page.setViewportSize({ width: 375, height: 800 });
    try {
      for (const [link, ready] of [['Leads', 'leads-table'], ['Callers', 'callers-table'], ['Dashboard', 'live-feed']]) {
        await page.getByRole('link', { name: link }).focus();
        await page.keyboard.press('Enter');
        await page.getByTestId(ready).waitFor({ timeout: 10000 });
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${link} fits 375 px (it overflows by ${overflow} px)`);
        await page.screenshot({ path: join(screenshotsDir, `${link.toLowerCase()}-375px.png`), fullPage: true });
      }

      // A lead opens from the keyboard, the panel takes focus, and Escape closes it.
      await page.getByRole('link', { name: 'Leads' }).focus();
      await page.keyboard.press('Enter');
      const firstLead = page.locator('[data-testid=leads-table] tbody tr button.link').first();
      await firstLead.focus();
      await page.keyboard.press('Enter');
      const detail = page.getByTestId('lead-detail');
      await detail.waitFor({ timeout: 5000 });
      await eventually('the close button has focus', async () => (await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))) === 'Close lead details', 2000);
      await page.keyboard.press('Escape');
      await eventually('Escape closes the panel', async () => (await detail.count()) === 0, 2000);
      await page.getByRole('link', { name: 'Dashboard' }).click();
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  test('a caller who opens an admin address directly gets a page saying so and a way back, not a stuck app', { timeout: 60000 }, async () => {
    const { context, page } = await signIn(stack, PRIYA.email, PRIYA.password);
    await page.getByRole('heading', { name: 'My leads' }).waitFor();
    for (const path of ['/callers', '/settings', '/no-such-page']) {
      await page.goto(new URL(path, stack.web.url).href);
      await page.getByTestId('no-such-page').waitFor({ timeout: 15000 });
      assert.equal(await page.getByRole('link', { name: 'Callers' }).count(), 0, `no admin link for a caller on ${path}`);
    }
    await page.getByRole('link', { name: 'Go to your start page' }).click();
    await page.getByRole('heading', { name: 'My leads' }).waitFor({ timeout: 10000 });
    await context.close();
  });

  test('a missing config.json shows a message instead of a blank screen', { timeout: 30000 }, async () => {
    const bare = await serveWeb(distDir(), null);
    const context = await stack.browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(bare.url);
      await page.getByRole('alert').getByText(/config\.json is missing/).waitFor({ timeout: 10000 });
    } finally {
      await context.close();
      await bare.close();
    }
  });

  test('a broken connection (localbase restarted) shows reconnecting, then recovers and shows the leads that arrived meanwhile', { timeout: 180000 }, async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByTestId('live-feed').waitFor({ timeout: 10000 });
    await eventually('the connection is live before the restart', async () => (await connectionState(page)) === 'live', 15000);

    // Hold the browser's new Realtime sockets closed until the lead is in, so
    // it provably arrives while the browser is disconnected; then let them through.
    let holdSockets = true;
    await page.routeWebSocket(/\/realtime\/v1\/websocket/, (ws) => {
      if (holdSockets) ws.close();
      else ws.connectToServer();
    });

    await stack.localbase.stop();
    await eventually('the indicator shows reconnecting', async () => (await page.getByTestId('connection').textContent()).includes('reconnecting'), 10000);

    await stack.localbase.start();
    const name = `Meanwhile Lead ${Date.now() % 100000}`;
    await eventually('the ingest service accepts a lead after the restart', async () => {
      const answer = await stack.ingest.post({ name, phone: randomPhone(), state: 'Maharashtra', language: 'Hindi' });
      return answer.lead_id;
    }, 30000);
    assert.notEqual(await connectionState(page), 'live', 'the lead arrived while the browser was disconnected');
    assert.equal(await page.locator('[data-testid=live-feed] .feed-item', { hasText: name }).count(), 0, 'the lead is not shown before the reconnect');
    holdSockets = false;

    await eventually('the indicator turns live again', async () => (await connectionState(page)) === 'live', 30000);
    await page.locator('[data-testid=live-feed] .feed-item', { hasText: name }).waitFor({ timeout: 10000 });
  });
});
