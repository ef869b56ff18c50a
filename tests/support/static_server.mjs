// Serves the release web build (dist/) with a config.json made at start-up,
// and index.html for client-side routes: the one static server, used by the
// browser suite (`serveWeb`) and by `cargo xtask up`, which runs this file:
//
//   node tests/support/static_server.mjs --dist dist --port 8000 --config '{"supabase_url": …}'

import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

const isFile = (path) => statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;

/**
 * The file under `dist` for a URL path: the file itself, or index.html for
 * an app route (a path without an extension). Normalizing the path as an
 * absolute one drops every `..`, so nothing outside `dist` is reachable.
 */
function fileFor(dist, urlPath) {
  const file = join(dist, normalize(`/${urlPath}`));
  if (isFile(file)) return file;
  if (!extname(file)) return join(dist, 'index.html');
  return null;
}

/**
 * Serves `dist` on 127.0.0.1 (`port` 0 picks a free one), answering
 * `/config.json` with `config` (or, when `config` is null, with whatever
 * dist/ holds, which is nothing).
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export async function serveWeb(dist, config, { port = 0 } = {}) {
  const root = resolve(dist);
  const configJson = JSON.stringify(config);
  const server = createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      path = '/';
    }
    if (path === '/config.json' && config) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
      res.end(configJson);
      return;
    }
    const file = fileFor(root, path);
    let body = null;
    try {
      body = file && readFileSync(file);
    } catch {
      body = null;
    }
    if (!body) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
    res.end(body);
  });
  await new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolveListen);
  });
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: { dist: { type: 'string' }, port: { type: 'string' }, config: { type: 'string' } },
  });
  if (!values.dist || !values.port || !values.config) {
    console.error('usage: node static_server.mjs --dist <folder> --port <port> --config <json>');
    process.exit(2);
  }
  const web = await serveWeb(values.dist, JSON.parse(values.config), { port: Number(values.port) });
  console.log(`serving ${resolve(values.dist)} on ${web.url}`);
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => process.exit(0));
  }
}
