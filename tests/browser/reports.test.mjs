// End-to-end: the reports screen (/reports) in headless Chromium against
// localbase (real PostgreSQL) and the ingest service. Today's leads come in
// through the ingest service and the engine; three leads of three local days
// ago are written with the service key, so the 7-day figures, the per-day
// chart and a custom range have a known other day to show.
//
// The team's zone is the default, Asia/Kolkata; the local dates below are
// computed in it, as the engine does.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { eventually, randomPhone, screenshotsDir, signIn, startTeam } from './harness.mjs';

const ADMIN = { email: 'admin@reports.test', password: 'admin-password-1' };
const ASHA = { email: 'asha@reports.test', password: 'asha-password-1', name: 'Asha Report', states: ['MH'], languages: [], limit: 100 };
const BILAL = { email: 'bilal@reports.test', password: 'bilal-password-1', name: 'Bilal Report', states: ['KA'], languages: [], limit: 100 };

const KOLKATA_MS = 330 * 60 * 1000;
/** The Asia/Kolkata date `daysAgo` days before today, `YYYY-MM-DD`. */
const localDay = (daysAgo) => new Date(Date.now() + KOLKATA_MS - daysAgo * 86400000).toISOString().slice(0, 10);


const text = async (locator) => (await locator.textContent()).trim();

/** A caller's cells in the per-caller table, by field. */
async function callerCells(page, callerId) {
  const row = page.locator(`[data-testid=per-caller] tr[data-key="${callerId}"]`);
  const cells = {};
  for (const cell of await row.locator('td[data-field]').all()) {
    cells[await cell.getAttribute('data-field')] = await text(cell);
  }
  return cells;
}

async function rangeShows(page, pattern) {
  await eventually(`the range reads ${pattern}`, async () => pattern.test(await text(page.getByTestId('report-range'))), 10000);
}

describe('reports in a real browser', { concurrency: false }, () => {
  let stack;
  let asha;
  let bilal;
  let admin;
  const today = localDay(0);
  const threeDaysAgo = localDay(3);

  before(async () => {
    ({ stack, callers: [asha, bilal] } = await startTeam({ admin: ADMIN, callers: [ASHA, BILAL] }));
    const lb = stack.localbase;

    // Today, through the engine: three Maharashtra leads for Asha, one
    // Karnataka lead for Bilal.
    const posted = [];
    for (const [state, source] of [['Maharashtra', 'meta'], ['Maharashtra', 'meta'], ['Maharashtra', 'google'], ['Karnataka', 'meta']]) {
      posted.push(await stack.ingest.post({ name: `Report ${state}`, phone: randomPhone(), state, source }));
    }
    const [a1, a2, , b1] = posted.map((p) => p.lead_id);
    assert.deepEqual(
      (await lb.rest('GET', `leads?select=caller_id&id=in.(${posted.map((p) => p.lead_id)})&order=id`)).map((l) => l.caller_id),
      [asha.id, asha.id, asha.id, bilal.id],
      'the engine routed by state',
    );
    // Status changes as a caller would make them; the engine stamps the times.
    await lb.rest('PATCH', `leads?id=eq.${a1}`, { status: 'converted' });
    await lb.rest('PATCH', `leads?id=eq.${a2}`, { status: 'contacted' });
    await lb.rest('PATCH', `leads?id=eq.${b1}`, { status: 'lost' });

    // Three local days ago: three Karnataka leads of Bilal's, all contacted
    // that day and one converted. (A lead left `new` that long is past the
    // SLA, and pg_cron's every-minute sweep would hand it to Asha mid-test.)
    const at = (hhmm) => `${threeDaysAgo}T${hhmm}:00+05:30`;
    for (const [n, converted] of [[1, true], [2, false], [3, false]]) {
      await lb.rest('POST', 'leads', {
        phone: `+9197${String(Date.now() % 1e7).padStart(7, '0')}${n}`,
        name: `Old ${n}`, state: 'KA', source: 'meta', caller_id: bilal.id,
        status: converted ? 'converted' : 'contacted', assigned_at: at('12:00'), created_at: at('12:00'), contacted_at: at('12:10'),
        ...(converted ? { qualified_at: at('12:30'), converted_at: at('13:00') } : {}),
      });
    }
    // Leads written by hand into a past day are not in that day's rollup
    // if pg_cron's every-minute job built the day (empty) before they were
    // written; docs/engine.md has an operator rebuild the day, as here.
    lb.sql(`select engine.rebuild_report_days('${threeDaysAgo}', '${threeDaysAgo}')`);
    // The minute sweep, run now rather than whenever pg_cron next fires: it
    // finds nothing stale, so the figures below hold whenever it runs.
    lb.sql('select public.reassign_stale_leads()');
  }, { timeout: 300000 });

  after(async () => {
    await stack?.stop();
  }, { timeout: 60000 });

  test('the 7-day report shows the funnel, each caller\'s figures, both days on the chart and the breakdowns', { timeout: 90000 }, async () => {
    admin = await signIn(stack, ADMIN.email, ADMIN.password);
    const { page } = admin;
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.getByRole('link', { name: 'Reports' }).click();

    await rangeShows(page, new RegExp(`^${localDay(6)} – ${today} · 7 days · Asia/Kolkata$`));
    const funnel = {};
    for (const key of ['received', 'contacted', 'qualified', 'converted', 'conversion', 'lost', 'unassigned']) {
      funnel[key] = await text(page.getByTestId(`funnel-${key}`));
    }
    assert.deepEqual(funnel, { received: '7', contacted: '5', qualified: '2', converted: '2', conversion: '28.6%', lost: '1', unassigned: '0' });

    const a = await callerCells(page, asha.id);
    assert.deepEqual(
      [a.received, a.contacted, a.qualified, a.converted, a.lost, a.conversion, a['lost-to-sla'], a.overflow],
      ['3', '2', '1', '1', '0', '33.3%', '0', '0'],
    );
    assert.match(a['first-contact'], /^\d+ (s|min)$/, 'Asha contacted her leads within the test');
    const b = await callerCells(page, bilal.id);
    assert.deepEqual([b.received, b.contacted, b.converted, b.lost, b.conversion], ['4', '3', '1', '1', '25%']);

    const bars = await page.locator('[data-testid=day-bar]').evaluateAll((gs) => gs.map((g) => [g.dataset.day, g.dataset.leads, g.dataset.converted]));
    assert.equal(bars.length, 7, 'one bar per local day');
    assert.deepEqual(bars.filter(([, leads, converted]) => leads !== '0' || converted !== '0'), [[threeDaysAgo, '3', '1'], [today, '4', '1']]);

    const state = async (key) => text(page.locator(`[data-testid=by-state] tr[data-key="${key}"] td[data-field=received]`));
    assert.deepEqual([await state('KA'), await state('MH')], ['4', '3']);
    const source = async (key) => text(page.locator(`[data-testid=by-source] tr[data-key="${key}"] td[data-field=received]`));
    assert.deepEqual([await source('meta'), await source('google')], ['6', '1']);
    await page.screenshot({ path: join(screenshotsDir, 'reports-1366.png'), fullPage: true });
  });

  test('today and a custom range change every figure, and a reversed range is refused before asking', { timeout: 60000 }, async () => {
    const { page } = admin;
    await page.getByRole('button', { name: 'Today' }).click();
    await rangeShows(page, new RegExp(`^${today} · 1 day · Asia/Kolkata$`));
    assert.equal(await text(page.getByTestId('funnel-received')), '4');
    assert.equal(await page.locator('[data-testid=day-bar]').count(), 1);
    assert.equal((await callerCells(page, bilal.id)).received, '1');

    await page.getByRole('button', { name: 'Custom' }).click();
    await page.getByLabel('First day').fill(threeDaysAgo);
    await page.getByLabel('Last day').fill(threeDaysAgo);
    await page.getByRole('button', { name: 'Show' }).click();
    await rangeShows(page, new RegExp(`^${threeDaysAgo} · 1 day`));
    assert.deepEqual(
      [await text(page.getByTestId('funnel-received')), await text(page.getByTestId('funnel-converted')), await text(page.getByTestId('funnel-conversion'))],
      ['3', '1', '33.3%'],
    );
    assert.equal((await callerCells(page, asha.id)).received, '0');

    await page.getByLabel('First day').fill(today);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('alert').getByText('The last day is before the first day.').waitFor({ timeout: 5000 });
    await rangeShows(page, new RegExp(`^${threeDaysAgo} · 1 day`));
  });

  test('the reports screen fits a 375 px wide screen', { timeout: 60000 }, async () => {
    const { page } = admin;
    await page.setViewportSize({ width: 375, height: 800 });
    await page.getByRole('button', { name: '7 days' }).click();
    await rangeShows(page, /7 days/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the reports screen fits 375 px (it overflows by ${overflow} px)`);
    await page.screenshot({ path: join(screenshotsDir, 'reports-375.png'), fullPage: true });
  });

  test('a caller has no reports link and cannot read the report over REST', { timeout: 60000 }, async () => {
    const { page } = await signIn(stack, ASHA.email, ASHA.password);
    await page.getByRole('link', { name: 'My leads' }).waitFor({ timeout: 10000 });
    assert.equal(await page.getByRole('link', { name: 'Reports' }).count(), 0);
    const token = await page.evaluate(() => JSON.parse(localStorage.getItem('bloc.session')).access_token);
    const status = stack.localbase.status;
    const r = await fetch(`${status.api_url}/rest/v1/rpc/report`, {
      method: 'POST',
      headers: { apikey: status.anon_key, Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ preset: '7d' }),
    });
    assert.ok([401, 403].includes(r.status), `a caller is refused (HTTP ${r.status})`);
    const bad = await fetch(`${status.api_url}/rest/v1/rpc/report`, {
      method: 'POST',
      headers: stack.localbase.serviceHeaders(),
      body: JSON.stringify({ preset: 'yesterday' }),
    });
    assert.equal(bad.status, 400, 'an unknown range is a client error');
  });
});
