// Starts a real localbase for a JS conformance suite.
//
//   import { startLocalbase } from './helpers.mjs';
//   const lb = await startLocalbase();
//   const supabase = createClient(lb.apiUrl, lb.anonKey);
//   ...
//   await lb.stop();
//
// A fresh temp --dir (so a fresh cluster and fresh keys) on a free port, started
// by the shared `Localbase` helper in ../support/localbase.mjs.

import { join } from 'node:path';

import { Localbase, repoRoot } from '../support/localbase.mjs';

export { repoRoot };

/**
 * Starts localbase.
 * @param {object} [options]
 * @param {string} [options.databaseUrl] use this server instead of a fresh cluster
 * @param {string} [options.migrations] migrations folder (default <repo>/supabase/migrations)
 * @param {boolean} [options.builtinMigrations] apply migrations with the built-in runner, not the Supabase CLI
 * @param {string[]} [options.args] more command-line arguments
 * @param {number} [options.timeoutMs] how long to wait for start-up (default 120 s)
 * @returns {Promise<{apiUrl: string, anonKey: string, serviceRoleKey: string, publishableKey: string,
 *   secretKey: string, jwtSecret: string, dbUrl: string, dir: string, output: () => string,
 *   stop: () => Promise<void>}>}
 */
export async function startLocalbase(options = {}) {
  const lb = new Localbase({
    ...options,
    migrations: options.migrations || join(repoRoot, 'supabase', 'migrations'),
  });
  const stop = async () => {
    await lb.stop();
    lb.remove();
  };
  let status;
  try {
    status = await lb.start({ timeoutMs: options.timeoutMs });
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    apiUrl: status.api_url,
    anonKey: status.anon_key,
    serviceRoleKey: status.service_role_key,
    publishableKey: status.publishable_key,
    secretKey: status.secret_key,
    jwtSecret: status.jwt_secret,
    dbUrl: status.db_url,
    dir: lb.dir,
    output: () => lb.output(),
    stop,
  };
}
