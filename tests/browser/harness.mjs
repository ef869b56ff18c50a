// Starts the whole stack for the browser suite: localbase (real PostgreSQL),
// the ingest service, the static server for the release web build (it
// serves config.json), and Debian's Chromium through playwright-core.
// localbase and the static server are the shared ones in ../support/.
//
// Binaries: LOCALBASE_BIN, BLOC_API_BIN and BLOC_DIST override the defaults
// (target/debug/localbase, target/debug/bloc-api, dist/).

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

import { builtBinary, freePort, Localbase as LocalbaseProcess, repoRoot, stopProcess } from '../support/localbase.mjs';
import { serveWeb } from '../support/static_server.mjs';

export { serveWeb };

export const artifactsDir = join(repoRoot, 'tests', 'artifacts');
export const screenshotsDir = join(artifactsDir, 'screenshots');
const logsDir = join(artifactsDir, 'logs');

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` every `intervalMs` until it returns a truthy value or `ms`
 * pass; returns the value, or throws `message` with the last value or error.
 */
export async function eventually(message, check, ms, intervalMs = 50) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${message} (after ${ms} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export function distDir() {
  const dist = process.env.BLOC_DIST ? resolve(process.env.BLOC_DIST) : join(repoRoot, 'dist');
  if (!existsSync(join(dist, 'index.html'))) {
    throw new Error(`${dist} has no release web build; run \`CARGO_TARGET_DIR=target/wasm trunk build --release --offline\``);
  }
  return dist;
}

async function waitFor(what, check, timeoutMs, child) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`${what}: the process exited with code ${child.exitCode} (see tests/artifacts/logs)`);
    }
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      lastError = e;
    }
    await sleep(200);
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms${lastError ? ` (${lastError.message})` : ''}`);
}

function startProcess(name, command, args, env) {
  mkdirSync(logsDir, { recursive: true });
  const log = openSync(join(logsDir, `${name}.log`), 'a');
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log],
  });
  child.on('error', (e) => console.error(`${name}: ${e.message}`));
  return child;
}

/** localbase on a fixed port and folder, so it can be restarted in place, with REST and Auth helpers for seeding. */
export class Localbase extends LocalbaseProcess {
  constructor(dir, port) {
    super({ dir, port, logFile: join(logsDir, 'localbase.log') });
  }

  async start() {
    await super.start();
    await waitFor('localbase auth health', async () => {
      const r = await fetch(`${this.status.api_url}/auth/v1/health`, { headers: { apikey: this.status.anon_key } });
      return r.ok;
    }, 60000, this.child);
    await waitFor('localbase REST', async () => {
      const r = await fetch(`${this.status.api_url}/rest/v1/settings?select=time_zone`, { headers: this.serviceHeaders() });
      return r.ok;
    }, 60000, this.child);
    return this.status;
  }

  serviceHeaders(extra = {}) {
    const key = this.status.service_role_key;
    return { apikey: key, Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...extra };
  }

  /** A REST call with the service key; throws on a non-2xx answer. */
  async rest(method, path, body, prefer) {
    const headers = this.serviceHeaders(prefer ? { Prefer: prefer } : {});
    const r = await fetch(`${this.status.api_url}/rest/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} /rest/v1/${path}: HTTP ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /**
   * Runs SQL on localbase's database as its superuser, as an operator would
   * with psql (for what REST does not expose, e.g. the `engine` schema's
   * maintenance functions); returns psql's unaligned output. Needs `psql`
   * (Debian's postgresql-client, installed with PostgreSQL by `cargo xtask`).
   */
  sql(statement) {
    try {
      return execFileSync('psql', [this.status.db_url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', statement], { encoding: 'utf8' }).trim();
    } catch (e) {
      if (e.code === 'ENOENT') throw new Error('psql is not installed (Debian package postgresql-client); the browser suite needs it');
      throw new Error(`psql: ${statement}: ${e.stderr || e.message}`);
    }
  }

  /** Creates a confirmed Auth user; returns its id. */
  async createUser(email, password) {
    const r = await fetch(`${this.status.api_url}/auth/v1/admin/users`, {
      method: 'POST',
      headers: this.serviceHeaders(),
      body: JSON.stringify({ email, password, email_confirm: true }),
    });
    const body = await r.json();
    if (!r.ok || !body.id) throw new Error(`creating user ${email}: HTTP ${r.status} ${JSON.stringify(body)}`);
    return body.id;
  }
}

/** The ingest service pointed at localbase. */
export class Ingest {
  constructor(status, secret, port) {
    this.status = status;
    this.secret = secret;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    /** Extra environment, e.g. `CORS_ALLOWED_ORIGINS` for the web app's origin. */
    this.env = {};
  }

  async start() {
    this.child = startProcess('bloc-api', builtBinary('BLOC_API_BIN', 'bloc-api'), [], {
      SUPABASE_URL: this.status.api_url,
      SUPABASE_SERVICE_ROLE_KEY: this.status.service_role_key,
      WEBHOOK_SECRETS: this.secret,
      BIND_ADDR: `127.0.0.1:${this.port}`,
      MAINTENANCE_INTERVAL_SECS: '3600',
      RUST_LOG: 'info',
      ...this.env,
    });
    await waitFor('ingest /healthz', async () => (await fetch(`${this.url}/healthz`)).ok, 60000, this.child);
  }

  async stop() {
    await stopProcess(this.child);
  }

  /** Posts one lead as Make.com would; returns the parsed answer. */
  async post(lead) {
    const r = await fetch(`${this.url}/api/ingest`, {
      method: 'POST',
      headers: { 'X-Webhook-Secret': this.secret, 'Content-Type': 'application/json' },
      body: JSON.stringify(lead),
    });
    const body = await r.json().catch(() => ({}));
    if (r.status >= 300) throw new Error(`POST /api/ingest: HTTP ${r.status} ${JSON.stringify(body)}`);
    return body;
  }
}

/** Debian's Chromium, headless, with a fresh profile (playwright makes a new user-data-dir per launch). */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium chromium-driver)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A random Indian mobile number (10 digits, starting 9). */
export function randomPhone() {
  return `98${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
}

/** The whole stack with a seeded team. Call `stop()` when done. */
export async function startStack() {
  const dist = distDir();
  const dir = mkdtempSync(join(tmpdir(), 'bloc-browser-'));
  // localbase runs PostgreSQL as the `postgres` user, which must reach the folder.
  chmodSync(dir, 0o755);
  const localbase = new Localbase(dir, await freePort());
  const status = await localbase.start();
  const ingest = new Ingest(status, `browser-suite-${Math.random().toString(36).slice(2)}`, await freePort());
  // The web app calls the ingest service for CSV imports, from its own origin.
  const webPort = await freePort();
  ingest.env = { CORS_ALLOWED_ORIGINS: `http://127.0.0.1:${webPort}` };
  await ingest.start();
  const web = await serveWeb(dist, { supabase_url: status.api_url, supabase_anon_key: status.anon_key, ingest_url: ingest.url }, { port: webPort });
  const browser = await launchBrowser();
  mkdirSync(screenshotsDir, { recursive: true });

  const stack = {
    dir, localbase, ingest, web, browser,
    async stop() {
      await browser.close().catch(() => {});
      await web.close().catch(() => {});
      await ingest.stop().catch(() => {});
      await localbase.stop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** Adds an admin: Auth user plus team member. */
export async function seedAdmin(localbase, email, password) {
  const userId = await localbase.createUser(email, password);
  await localbase.rest('POST', 'team_members', { user_id: userId, role: 'admin' });
  return userId;
}

/** Adds a caller who can sign in: Auth user, caller row and team member. */
export async function seedCaller(localbase, { email, password, name, states = [], languages = [], limit = 50, weight = 1 }) {
  const userId = await localbase.createUser(email, password);
  const [caller] = await localbase.rest('POST', 'callers', {
    name, email, user_id: userId, assigned_states: states, languages, daily_lead_limit: limit, weight,
  }, 'return=representation');
  await localbase.rest('POST', 'team_members', { user_id: userId, role: 'caller', caller_id: caller.id });
  return caller;
}

/** The whole stack with an admin and `callers` seeded (each as `seedCaller` takes it); the callers' rows in order. Call `stack.stop()` when done. */
export async function startTeam({ admin, callers = [] }) {
  const stack = await startStack();
  await seedAdmin(stack.localbase, admin.email, admin.password);
  const seeded = [];
  for (const caller of callers) seeded.push(await seedCaller(stack.localbase, caller));
  return { stack, callers: seeded };
}

/**
 * Opens the app in a new context (its own localStorage) and signs in.
 * `contextOptions` go to `browser.newContext` (a viewport, permissions);
 * `initScript` runs in every page of the context before the app's own.
 */
export async function signIn(stack, email, password, { contextOptions = {}, initScript } = {}) {
  const context = await stack.browser.newContext({ viewport: { width: 1280, height: 900 }, ...contextOptions });
  if (initScript) await context.addInitScript(initScript);
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error(`page error (${email}): ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`console (${email}): ${m.text()}`);
  });
  await page.goto(stack.web.url);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: 15000 });
  return { context, page };
}
