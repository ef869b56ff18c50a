// End-to-end: the settings screen (/settings) in headless Chromium against
// localbase and the ingest service. Changing the team's time zone moves
// "today" for the whole app: leads created at an instant that is today in
// one zone and yesterday in another are counted on the dashboard only while
// the first zone is set. A bad field is refused in place and saves nothing;
// every saved change shows in the audit list; a caller cannot change them.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { eventually, randomPhone, screenshotsDir, signIn, startTeam } from './harness.mjs';

const ADMIN = { email: 'settings-admin@browser.test', password: 'admin-password-1' };
const CALLER = { email: 'settings-caller@browser.test', password: 'caller-password-1', name: 'Meera Iyer', limit: 100 };

/** Zones a team might pick, spread over every offset from −11:00 to +14:00. */
const ZONES = [
  'Pacific/Pago_Pago', 'Pacific/Honolulu', 'America/Anchorage', 'America/Los_Angeles', 'America/Denver',
  'America/Chicago', 'America/New_York', 'America/Halifax', 'America/Sao_Paulo', 'Atlantic/South_Georgia',
  'Atlantic/Azores', 'Europe/London', 'Europe/Berlin', 'Europe/Athens', 'Europe/Moscow', 'Asia/Dubai',
  'Asia/Karachi', 'Asia/Kolkata', 'Asia/Dhaka', 'Asia/Bangkok', 'Asia/Singapore', 'Asia/Tokyo',
  'Australia/Brisbane', 'Pacific/Noumea', 'Pacific/Auckland', 'Pacific/Tongatapu', 'Pacific/Kiritimati',
];


/** Local date (`YYYY-MM-DD`) and minutes since local midnight of `at` in `zone`. */
function local(zone, at) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-CA', {
    timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(at).map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

/**
 * Two zones and an instant: `late` is the zone furthest into its day now,
 * `early` the one that has just begun its day, and `at` lies after both
 * the local midnight of `late` and before that of `early` (by at least an hour each way),
 * so it is today in `late` and yesterday in `early`.
 */
function zonesAndInstant(now) {
  const byProgress = ZONES.map((zone) => ({ zone, ...local(zone, now) })).sort((a, b) => a.minutes - b.minutes);
  const early = byProgress[0];
  const late = byProgress[byProgress.length - 1];
  assert.ok(late.minutes - early.minutes >= 120, `zones two hours apart in their day (${JSON.stringify([early, late])})`);
  const back = ((late.minutes + early.minutes) / 2) * 60000;
  const at = new Date(now.getTime() - back);
  assert.equal(local(late.zone, at).date, late.date, 'the instant is today where the day is late');
  assert.notEqual(local(early.zone, at).date, early.date, 'and yesterday where it has just begun');
  return { late: late.zone, early: early.zone, at };
}

async function received(page) {
  return Number((await page.getByTestId('figure-received').textContent()).trim());
}

/** Types a zone on the settings screen, saves, and waits until the whole app states the new day. */
async function chooseZone(page, zone) {
  await page.getByRole('link', { name: 'Settings' }).click();
  const form = page.getByTestId('settings-form');
  await form.getByLabel('Time zone').waitFor();
  await eventually('the saved settings load', async () => (await form.getByLabel('SLA (minutes)').inputValue()) !== '', 10000);
  await form.getByLabel('Time zone').fill(zone);
  await form.getByRole('button', { name: 'Save settings' }).click();
  await eventually(`the app's day is the one in ${zone}`, async () => (await page.getByTestId('team-day').textContent()).includes(zone), 10000);
}

describe('the settings screen in a real browser', { concurrency: false }, () => {
  let stack;
  let admin;

  before(async () => {
    ({ stack } = await startTeam({ admin: ADMIN, callers: [CALLER] }));
    await stack.ingest.post({ name: 'Warm Up', phone: randomPhone(), state: 'Delhi' });
  }, { timeout: 300000 });

  after(async () => {
    await stack?.stop();
  }, { timeout: 60000 });

  test('changing the time zone moves "today": the dashboard counts leads of the new day', { timeout: 120000 }, async () => {
    const { late, early, at } = zonesAndInstant(new Date());
    // The team starts in a third zone, so that choosing `late` is a change
    // (and audited) even when `late` is the default, Asia/Kolkata, as it is
    // from 18:00 to 18:30 UTC every day.
    const start = ZONES.find((zone) => zone !== late && zone !== early);
    await stack.localbase.rest('PATCH', 'settings?id=eq.true', { time_zone: start });
    // Three leads stored at an instant that is today in `late` and yesterday in `early`.
    for (let i = 0; i < 3; i += 1) {
      const answer = await stack.ingest.post({ name: `Shifted ${i}`, phone: randomPhone(), state: 'Goa' });
      await stack.localbase.rest('PATCH', `leads?id=eq.${answer.lead_id}`, { created_at: at.toISOString() });
    }

    admin = await signIn(stack, ADMIN.email, ADMIN.password);
    const { page } = admin;
    await chooseZone(page, late);
    assert.match(await page.getByTestId('team-day').textContent(), new RegExp(`Today is ${local(late, new Date()).date} in ${late}`));
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await eventually('the dashboard states the day in the late zone', async () => (await page.locator('.page-head .muted').textContent()).includes(late), 10000);
    const inLate = await eventually('the figures load', async () => {
      const n = await received(page);
      return Number.isFinite(n) && n >= 4 ? n : 0;
    }, 10000);

    await chooseZone(page, early);
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await eventually('the dashboard states the day in the early zone', async () => (await page.locator('.page-head .muted').textContent()).includes(`${local(early, new Date()).date} · ${early}`), 10000);
    await eventually(`the three leads drop out of today (${inLate} before)`, async () => (await received(page)) === inLate - 3, 10000);

    const [settings] = await stack.localbase.rest('GET', 'settings?select=time_zone');
    assert.equal(settings.time_zone, early);
    await page.getByRole('link', { name: 'Settings' }).click();
    const audit = page.getByTestId('settings-audit');
    await eventually('the audit lists both zone changes, newest first, with who made them', async () => {
      const items = await audit.locator('li').allTextContents();
      return items.length >= 2 && items[0].includes(`${late} → ${early}`) && items[0].includes(ADMIN.email) && items[1].includes(`→ ${late}`);
    }, 10000);
  });

  test('a bad field is refused under that field and nothing is saved', { timeout: 60000 }, async () => {
    const { page } = admin;
    const form = page.getByTestId('settings-form');
    await eventually('the saved settings load', async () => (await form.getByLabel('SLA (minutes)').inputValue()) !== '', 10000);
    const auditBefore = await stack.localbase.rest('GET', 'settings_audit?select=id');

    await form.getByLabel('SLA (minutes)').fill('0');
    await form.getByLabel('Time zone').fill('Mars/Olympus_Mons');
    await form.getByRole('button', { name: 'Save settings' }).click();

    await form.getByText('The SLA in minutes must be between 1 and 10080.').waitFor({ timeout: 3000 });
    await form.getByText('“Mars/Olympus_Mons” is not a time zone in the list.').waitFor({ timeout: 3000 });
    assert.equal(await form.getByLabel('SLA (minutes)').getAttribute('aria-invalid'), 'true');
    assert.equal(await form.getByLabel('Maximum reassignments').getAttribute('aria-invalid'), 'false');
    const [settings] = await stack.localbase.rest('GET', 'settings?select=sla_minutes,time_zone');
    assert.equal(settings.sla_minutes, 120, 'nothing was saved');
    assert.equal((await stack.localbase.rest('GET', 'settings_audit?select=id')).length, auditBefore.length);

    // Fixed, it saves and the audit gains the one change.
    await form.getByLabel('Time zone').fill(settings.time_zone);
    await form.getByLabel('SLA (minutes)').fill('45');
    await form.getByRole('button', { name: 'Save settings' }).click();
    await form.getByText('Saved.').waitFor({ timeout: 5000 });
    assert.equal((await stack.localbase.rest('GET', 'settings?select=sla_minutes'))[0].sla_minutes, 45);
    await eventually('the audit shows the SLA change', async () => (await page.getByTestId('settings-audit').locator('li').first().textContent()).includes('120 → 45'), 5000);

    await page.setViewportSize({ width: 1366, height: 900 });
    await page.screenshot({ path: join(screenshotsDir, 'settings-1366.png'), fullPage: true });
    await page.setViewportSize({ width: 375, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the settings screen fits 375 px (it overflows by ${overflow} px)`);
    await page.screenshot({ path: join(screenshotsDir, 'settings-375.png'), fullPage: true });
  });

  test('a caller has no settings screen, and the server refuses a caller\'s change', { timeout: 60000 }, async () => {
    const { context, page } = await signIn(stack, CALLER.email, CALLER.password);
    await page.getByRole('heading', { name: 'My leads' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Settings' }).count(), 0);
    await context.close();

    const { api_url: url, anon_key: key } = stack.localbase.status;
    const signedIn = await fetch(`${url}/auth/v1/token?grant_type=password`, {
      method: 'POST',
      headers: { apikey: key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ email: CALLER.email, password: CALLER.password }),
    }).then((r) => r.json());
    const rpc = (name, body) => fetch(`${url}/rest/v1/rpc/${name}`, {
      method: 'POST',
      headers: { apikey: key, Authorization: `Bearer ${signedIn.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const refused = await rpc('update_settings', { p_sla_minutes: 5 });
    assert.equal(refused.status, 403, await refused.text());
    const today = await rpc('team_today', {});
    assert.equal(today.status, 200, 'a caller reads the team\'s day');
    assert.equal((await stack.localbase.rest('GET', 'settings?select=sla_minutes'))[0].sla_minutes, 45, 'nothing changed');
  });
});
