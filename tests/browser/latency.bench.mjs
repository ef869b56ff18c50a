// Benchmark (not a test): how long a lead posted to the ingest service takes
// to show in the admin's live feed, in headless Chromium against localbase.
//
//   cd tests && node browser/latency.bench.mjs [leads=30]
//
// Prints min / median / p95 / max in milliseconds, from the start of the POST
// to the feed item being in the DOM.

import { randomPhone, seedAdmin, seedCaller, signIn, startStack } from './harness.mjs';

const count = Number(process.argv[2] ?? 30);
const stack = await startStack();
try {
  await seedAdmin(stack.localbase, 'bench-admin@browser.test', 'bench-password-1');
  await seedCaller(stack.localbase, { email: 'bench-caller@browser.test', password: 'bench-password-1', name: 'Bench Caller', states: ['MH'], limit: 10000 });
  await stack.ingest.post({ name: 'Warm Up', phone: randomPhone(), state: 'MH' });
  const { page } = await signIn(stack, 'bench-admin@browser.test', 'bench-password-1');
  await page.waitForFunction(() => document.querySelector('[data-testid=connection]')?.dataset.state === 'live', null, { timeout: 15000 });
  await page.getByTestId('live-feed').waitFor();

  const samples = [];
  for (let i = 0; i < count; i++) {
    const name = `Bench Lead ${i}`;
    const started = performance.now();
    await stack.ingest.post({ name, phone: randomPhone(), state: 'Maharashtra', language: 'Hindi' });
    await page.waitForFunction(
      (n) => [...document.querySelectorAll('[data-testid=live-feed] .feed-name')].some((e) => e.textContent === n),
      name,
      { polling: 'raf', timeout: 10000 },
    );
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))].toFixed(0);
  console.log(`post → visible in the live feed, ${count} leads: min ${at(0)} ms, median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms`);
} finally {
  await stack.stop();
}
