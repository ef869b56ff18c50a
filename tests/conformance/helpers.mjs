// Starts a real localbase for a JS conformance suite.
//
//   import { startLocalbase } from './helpers.mjs';
//   const lb = await startLocalbase();
//   const supabase = createClient(lb.apiUrl, lb.anonKey);
//   ...
//   await lb.stop();
//
// It spawns the built binary (LOCALBASE_BIN, default <repo>/target/debug/localbase)
// with a fresh temp --dir (so a fresh cluster and fresh keys) on a free port,
// waits for <dir>/status.json, and returns what it says. DATABASE_URL is not
// passed on unless given as an option, so suites never share a database.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

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

/**
 * Starts localbase.
 * @param {object} [options]
 * @param {string} [options.databaseUrl] use this server instead of a fresh cluster
 * @param {string} [options.migrations] migrations folder (default <repo>/supabase/migrations)
 * @param {boolean} [options.builtinMigrations] apply migrations with the built-in runner, not the Supabase CLI
 * @param {string[]} [options.args] more command-line arguments
 * @param {number} [options.timeoutMs] how long to wait for start-up (default 120 s)
 * @returns {Promise<{apiUrl: string, anonKey: string, serviceRoleKey: string, publishableKey: string,
 *   secretKey: string, jwtSecret: string, dbUrl: string, dir: string, stop: () => Promise<void>}>}
 */
export async function startLocalbase(options = {}) {
  const bin = process.env.LOCALBASE_BIN || join(repoRoot, 'target', 'debug', 'localbase');
  if (!existsSync(bin)) {
    throw new Error(`localbase binary not found at ${bin}: run \`cargo build -p localbase\` or set LOCALBASE_BIN`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'localbase-js-'));
  const port = await freePort();
  const args = [
    '--dir', dir,
    '--port', String(port),
    '--migrations', options.migrations || join(repoRoot, 'supabase', 'migrations'),
    ...(options.builtinMigrations ? ['--builtin-migrations'] : []),
    ...(options.args || []),
  ];
  const env = { ...process.env };
  delete env.DATABASE_URL;
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  const child = spawn(bin, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  let hasExited = false;
  exited.then(() => { hasExited = true; });

  const stop = async () => {
    if (!hasExited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const statusPath = join(dir, 'status.json');
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  while (!existsSync(statusPath)) {
    if (hasExited) {
      await stop();
      throw new Error(`localbase exited before it was ready:\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`localbase was not ready within ${options.timeoutMs ?? 120_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const status = JSON.parse(readFileSync(statusPath, 'utf8'));
  return {
    apiUrl: status.api_url,
    anonKey: status.anon_key,
    serviceRoleKey: status.service_role_key,
    publishableKey: status.publishable_key,
    secretKey: status.secret_key,
    jwtSecret: status.jwt_secret,
    dbUrl: status.db_url,
    dir,
    output: () => output,
    stop,
  };
}
