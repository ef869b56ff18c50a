// Starts the built localbase binary and waits for its status.json: the one
// way the conformance and browser suites bring up localbase.
//
//   import { Localbase } from '../support/localbase.mjs';
//   const lb = new Localbase();            // a fresh temp --dir and a free port
//   const status = await lb.start();       // status.json: api_url, anon_key, …
//   ...
//   await lb.stop();                       // can be started again in place
//   lb.remove();                           // deletes the folder it made
//
// The binary is LOCALBASE_BIN (default <repo>/target/debug/localbase).
// DATABASE_URL is not passed on unless given as `databaseUrl`, so suites never
// share a database: each folder gets a cluster of its own.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** The path of a binary `cargo build -p <pkg>` makes, or `envVar` when set. */
export function builtBinary(envVar, pkg) {
  const path = process.env[envVar] ? resolve(process.env[envVar]) : join(repoRoot, 'target', 'debug', pkg);
  if (!existsSync(path)) {
    throw new Error(`${envVar}: ${path} is missing; build it first (cargo build -p ${pkg}) or run \`cargo xtask test\``);
  }
  return path;
}

/** SIGTERM, then SIGKILL after `timeoutMs`; resolves once the process has exited. */
export async function stopProcess(child, timeoutMs = 20_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** One localbase process on a fixed folder and port, so it can be restarted in place. */
export class Localbase {
  /**
   * @param {object} [options]
   * @param {string} [options.dir] its --dir (default: a fresh temp folder, deleted by `remove()`)
   * @param {number} [options.port] its --port (default: a free port, picked on the first start)
   * @param {string} [options.migrations] migrations folder (default: localbase's own, supabase/migrations)
   * @param {boolean} [options.builtinMigrations] apply migrations with the built-in runner, not the Supabase CLI
   * @param {string} [options.databaseUrl] use this server instead of a cluster of its own
   * @param {string[]} [options.args] more command-line arguments
   * @param {string} [options.logFile] append its output to this file instead of keeping it in memory
   */
  constructor(options = {}) {
    this.options = options;
    this.madeDir = !options.dir;
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), 'localbase-js-'));
    this.port = options.port ?? null;
    this.child = null;
    this.status = null;
    this.printed = '';
  }

  /** Starts it and waits until it has written status.json; returns what that says. */
  async start({ timeoutMs = 120_000 } = {}) {
    const { migrations, builtinMigrations, databaseUrl, args = [], logFile } = this.options;
    this.port ??= await freePort();
    const statusPath = join(this.dir, 'status.json');
    rmSync(statusPath, { force: true });
    const env = { ...process.env };
    delete env.DATABASE_URL;
    if (databaseUrl) env.DATABASE_URL = databaseUrl;
    let stdio = ['ignore', 'pipe', 'pipe'];
    if (logFile) {
      mkdirSync(dirname(logFile), { recursive: true });
      const log = openSync(logFile, 'a');
      stdio = ['ignore', log, log];
    }
    this.printed = '';
    const child = spawn(builtBinary('LOCALBASE_BIN', 'localbase'), [
      '--dir', this.dir,
      '--port', String(this.port),
      ...(migrations ? ['--migrations', migrations] : []),
      ...(builtinMigrations ? ['--builtin-migrations'] : []),
      ...args,
    ], { cwd: repoRoot, env, stdio });
    child.stdout?.on('data', (d) => { this.printed += d; });
    child.stderr?.on('data', (d) => { this.printed += d; });
    let spawnError = null;
    child.on('error', (e) => { spawnError = e; });
    this.child = child;

    const seeOutput = () => (logFile ? ` (see ${logFile})` : `:\n${this.printed}`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (spawnError) throw new Error(`localbase could not start: ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`localbase exited (${child.exitCode ?? child.signalCode}) before it was ready${seeOutput()}`);
      }
      if (existsSync(statusPath)) {
        try {
          this.status = JSON.parse(readFileSync(statusPath, 'utf8'));
          break;
        } catch {
          // Not all written yet; read it again.
        }
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`localbase was not ready within ${timeoutMs} ms${seeOutput()}`);
      }
      await sleep(100);
    }
    for (const key of ['api_url', 'anon_key', 'service_role_key']) {
      if (!this.status[key]) throw new Error(`localbase status.json has no ${key}`);
    }
    return this.status;
  }

  /** What it printed, when there is no log file. */
  output() {
    return this.printed;
  }

  /** Stops it (SIGTERM, SIGKILL after 20 s); the folder stays, so it can start again. */
  async stop() {
    await stopProcess(this.child);
    this.child = null;
  }

  /** Deletes the folder, if this made it. */
  remove() {
    if (this.madeDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
