// End-to-end: the leads table's search (rpc/lead_search, one page at a
// time with one row more than a page), its 3-character minimum, the honest
// count ("more than 25 leads", never a planner's guess), a literal `%`, and
// the Source filter listing every source in use (rpc/lead_sources), and a
// search's reach: its first 1,000 matches, where the pager stops and says
// so, and what "Export CSV" of a search writes (migration …3200), in 4
// lead_search calls of 250. The release web build in headless Chromium,
// against localbase and the ingest service.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { eventually, randomPhone, screenshotsDir, signIn, startTeam } from './harness.mjs';

const ADMIN = { email: 'admin@search.test', password: 'admin-password-1' };
const CALLER = { email: 'ravi@search.test', password: 'ravi-password-1', name: 'Ravi Kumar', states: ['MH'], languages: [], limit: 500 };

describe('the leads table search in a real browser', { concurrency: false }, () => {
  let stack;
  const tag = `Kavya${Date.now() % 100000}`;

  before(async () => {
    ({ stack } = await startTeam({ admin: ADMIN, callers: [CALLER] }));
    // 27 matches (one page of 25 and two more), a literal-% name, others.
    for (let i = 1; i <= 27; i += 1) {
      await stack.ingest.post({ name: `${tag} Menon ${i}`, phone: randomPhone(), state: 'MH' });
    }
    await stack.ingest.post({ name: '50% Off Lead', phone: randomPhone(), state: 'MH', source: 'Expo 2026' });
    await stack.ingest.post({ name: '500 Offices', phone: randomPhone(), state: 'MH' });
  }, { timeout: 300000 });

  after(async () => {
    await stack?.stop();
  }, { timeout: 60000 });

  test('a search pages with "more than N", refuses a short term without asking the server, reads % literally, and the Source filter lists the sources in use', { timeout: 120000 }, async () => {
    const { page } = await signIn(stack, ADMIN.email, ADMIN.password, { contextOptions: { viewport: { width: 1366, height: 900 } } });
    const searches = [];
    page.on('request', (r) => {
      if (r.url().includes('/rest/v1/rpc/lead_search')) searches.push(r.postData());
    });
    await page.getByRole('link', { name: 'Leads' }).click();
    await page.getByTestId('leads-table').waitFor({ timeout: 10000 });
    const rows = page.locator('[data-testid=leads-table] tbody tr');
    const info = page.getByTestId('page-info');

    // The Source filter offers a source only the webhook used, beside the native ones.
    await eventually('the Source filter lists "Expo 2026"', async () => (await page.locator('#filter-source option').allTextContents()).includes('Expo 2026'), 10000);
    const sources = await page.locator('#filter-source option').allTextContents();
    for (const native of ['Google Ads', 'Meta Lead Ads', 'WhatsApp']) assert.ok(sources.includes(native), `${native} is offered: ${sources}`);
    await page.getByLabel('Source').selectOption('Expo 2026');
    await eventually('the source filter finds the one Expo lead', async () => (await rows.count()) === 1 && /50% Off Lead/.test(await rows.first().textContent()), 5000);
    await page.getByLabel('Source').selectOption('');

    // Two characters: refused next to the box, nothing sent.
    await page.getByLabel('Name or phone').fill('Ka');
    await page.getByRole('button', { name: 'Search' }).click();
    const hint = page.locator('#filter-search-hint');
    await eventually('the hint turns into an alert', async () => (await hint.getAttribute('role')) === 'alert', 5000);
    assert.match(await hint.textContent(), /3 or more letters or digits/);
    assert.equal(await page.getByLabel('Name or phone').getAttribute('aria-invalid'), 'true');
    await page.waitForTimeout(500);
    assert.deepEqual(searches, [], 'no search was sent for a 2-character term');

    // A common term: a full page, "more than 25", a next page with the rest.
    await page.getByLabel('Name or phone').fill(tag);
    await page.getByRole('button', { name: 'Search' }).click();
    await eventually('the first page of matches', async () => (await rows.count()) === 25 && /more than 25 leads/.test(await info.textContent()), 10000);
    assert.equal(await hint.getAttribute('role'), null, 'the hint is a hint again');
    assert.equal(await page.getByRole('button', { name: 'Next ›' }).isDisabled(), false);
    const firstBody = JSON.parse(searches.at(-1));
    assert.equal(firstBody.term, tag);
    assert.equal(firstBody.row_limit, 26, 'one row more than a page');
    for (const text of await rows.allTextContents()) assert.match(text, new RegExp(tag));
    // Newest first: the 27th lead received heads the list.
    assert.match(await rows.first().textContent(), new RegExp(`${tag} Menon 27`));
    await page.screenshot({ path: join(screenshotsDir, 'leads-search.png'), fullPage: true });
    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.screenshot({ path: join(screenshotsDir, 'leads-search-375px.png'), fullPage: true });
    await page.setViewportSize({ width: 1366, height: 900 });
    assert.ok(overflow <= 0 || (await page.locator('.table-scroll').count()) === 1, 'only the table scrolls sideways at 375 px');

    await page.getByRole('button', { name: 'Next ›' }).click();
    await eventually('the last page of matches', async () => (await rows.count()) === 2 && /Page 2 of 2 · 27 leads/.test(await info.textContent()), 10000);
    assert.match(await rows.last().textContent(), new RegExp(`${tag} Menon 1\\b`));
    assert.equal(await page.getByRole('button', { name: 'Next ›' }).isDisabled(), true);

    // `%` is literal: "50%" finds the one lead, not "500 Offices".
    await page.getByLabel('Name or phone').fill('50%');
    await page.getByRole('button', { name: 'Search' }).click();
    await eventually('a literal % search', async () => (await rows.count()) === 1 && /50% Off Lead/.test(await rows.first().textContent()) && /1 lead/.test(await info.textContent()), 10000);

    // Nothing found: no estimate, no "about".
    await page.getByLabel('Name or phone').fill('zzqx nobody');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No leads match these filters.').waitFor({ timeout: 10000 });
    assert.match(await info.textContent(), /0 leads/);
    assert.doesNotMatch(await info.textContent(), /about/);
  });

  test('a search pages through its first 1,000 matches, says so at the 40th page, and exports those 1,000 as CSV', { timeout: 180000 }, async () => {
    // 1,010 matches, written in one REST call (the webhook would take minutes).
    const many = `Zorawar${Date.now() % 100000}`;
    const leads = Array.from({ length: 1010 }, (_, i) => ({ name: `${many} Rao ${i + 1}`, phone: `+9170${String(10000000 + i)}`, status: 'unassigned' }));
    await stack.localbase.rest('POST', 'leads', leads);

    const { page } = await signIn(stack, ADMIN.email, ADMIN.password, { contextOptions: { viewport: { width: 1366, height: 900 } } });
    const searches = [];
    const restSearches = [];
    page.on('request', (r) => {
      if (r.url().includes('/rest/v1/rpc/lead_search')) searches.push(JSON.parse(r.postData()));
      if (r.url().includes('/rest/v1/leads?') && r.url().includes('ilike')) restSearches.push(r.url());
    });
    await page.getByRole('link', { name: 'Leads' }).click();
    await page.getByTestId('leads-table').waitFor({ timeout: 10000 });
    const rows = page.locator('[data-testid=leads-table] tbody tr');
    const info = page.getByTestId('page-info');
    const next = page.getByRole('button', { name: 'Next ›' });
    await page.getByLabel('Name or phone').fill(many);
    await page.getByRole('button', { name: 'Search' }).click();
    await eventually('the first page of 1,010 matches', async () => /^Page 1 · more than 25 leads$/.test((await info.textContent()).trim()), 10000);

    for (let n = 2; n <= 40; n += 1) {
      await next.click();
      await eventually(`page ${n}`, async () => (await info.textContent()).trim().startsWith(`Page ${n} ·`), 10000);
    }
    await eventually('the 40th page: the last the search reaches', async () => (await rows.count()) === 25 && /Page 40 · more than 1,000 leads/.test(await info.textContent()), 10000);
    assert.equal(await next.isDisabled(), true, 'no 41st page');
    const note = page.locator('.pagination-cap');
    assert.equal((await note.textContent()).trim(), 'These are the first 1,000 leads of this order. Narrow the search or the filters to reach the rest.');
    const deepest = searches.at(-1);
    assert.equal(deepest.row_offset, 975);
    assert.equal(deepest.row_limit, 26, 'rows 976 to 1,001: lead_search refuses anything past 1,001');
    for (const text of await rows.allTextContents()) assert.match(text, new RegExp(many));
    await page.screenshot({ path: join(screenshotsDir, 'leads-search-cap.png'), fullPage: true });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export CSV' }).click(),
    ]);
    const lines = readFileSync(await download.path(), 'utf8').trim().split('\r\n');
    assert.equal(lines.length, 1001, 'a header and the first 1,000 matches');
    assert.ok(lines.slice(1).every((l) => l.includes(`${many} Rao `)), 'only matches');
    assert.equal(new Set(lines.slice(1).map((l) => l.split(',')[0])).size, 1000, 'no lead twice');
    await page.getByText('Exported the first 1000 leads; narrow the filters for the rest.').waitFor({ timeout: 10000 });
    const exportCalls = searches.slice(-4);
    assert.ok(exportCalls.every((c) => c.term === many));
    assert.deepEqual(exportCalls.map((c) => [c.row_offset, c.row_limit]), [[0, 251], [250, 251], [500, 251], [750, 251]],
      'the export is 4 lead_search calls of 250 rows (and one more to learn whether another follows), the last ending at the cap');
    assert.deepEqual(restSearches, [], 'no search went through REST ilike');
  });
});
