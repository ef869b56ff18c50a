// Trunk post_build hook (see Trunk.toml): optimizes the wasm with a current
// wasm-opt, fixes the preload's integrity hash, and reports the bundle size.
//
// Why not Trunk's own wasm-opt step: Debian's binaryen 108 renumbers the
// tables of a wasm-bindgen module so `__wbindgen_externrefs` points at the
// funcref table, and the app fails at start-up ("WebAssembly.Table.set():
// Argument 1 is invalid for table"). binaryen 132 from npm does not.
//
// Release builds fail when wasm + js exceed 400 KB gzipped.
//
// Trunk starts the app with an inline <script type="module">. The page's
// Content-Security-Policy (script-src 'self', see index.html) refuses inline
// scripts, so that loader is moved into a file of its own, named by its hash
// and loaded with an integrity attribute. The build fails if any inline
// script is left.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET = 400 * 1024;
const here = dirname(fileURLToPath(import.meta.url));
const staging = process.env.TRUNK_STAGING_DIR;
if (!staging) {
  console.error('postbuild: run by trunk (TRUNK_STAGING_DIR is not set)');
  process.exit(2);
}
const release = process.env.TRUNK_PROFILE === 'release';
const wasm = readdirSync(staging).filter((f) => f.endsWith('.wasm'));

/** Moves every inline <script> of `index` into `start-<hash>.js`; returns the new index. */
function externalizeInlineScripts(index) {
  return index.replace(/<script(\s[^>]*)?>([\s\S]*?)<\/script>/g, (whole, attrs = '', body) => {
    if (/\ssrc\s*=/.test(attrs)) return whole;
    const bytes = Buffer.from(body.trim() + '\n');
    const name = `start-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.js`;
    writeFileSync(join(staging, name), bytes);
    const integrity = `sha384-${createHash('sha384').update(bytes).digest('base64')}`;
    return `<script${attrs} src="/${name}" integrity="${integrity}" crossorigin="anonymous"></script>`;
  });
}

const indexPath = join(staging, 'index.html');
let index = externalizeInlineScripts(readFileSync(indexPath, 'utf8'));
if (/<script(?![^>]*\ssrc\s*=)[^>]*>/.test(index)) {
  console.error('postbuild: an inline <script> is left in index.html; the Content-Security-Policy would block it');
  process.exit(1);
}
writeFileSync(indexPath, index);

if (release) {
  const wasmOpt = join(here, 'node_modules', 'binaryen', 'bin', 'wasm-opt');
  if (!existsSync(wasmOpt)) {
    console.log('postbuild: installing binaryen (npm ci in crates/web)');
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
  }
  for (const name of wasm) {
    const path = join(staging, name);
    const oldIntegrity = `sha384-${createHash('sha384').update(readFileSync(path)).digest('base64')}`;
    const started = Date.now();
    // --low-memory-unused lets wasm-opt fold constant offsets into loads and
    // stores: Rust's wasm32 layout puts the 1 MiB stack first (growing down
    // towards 0) and the data above it, so the lowest 1 KiB is never touched
    // short of a stack overflow. Saves 1.5 KB gzipped (docs/benchmarks.md).
    // Measured and left out: --converge (+118 B gz), --gufa (+452 B gz), a
    // second -Oz (+129 B gz), --zero-filled-memory (0 B), and -tnh (−528 B gz,
    // but it lets wasm-opt delete the checks in front of a panic).
    execFileSync(process.execPath, [
      wasmOpt, '-Oz', '--low-memory-unused',
      '--enable-reference-types', '--enable-bulk-memory', '--enable-nontrapping-float-to-int',
      '--enable-sign-ext', '--enable-mutable-globals', '--enable-multivalue',
      path, '-o', path,
    ], { stdio: 'inherit' });
    const newIntegrity = `sha384-${createHash('sha384').update(readFileSync(path)).digest('base64')}`;
    index = index.split(oldIntegrity).join(newIntegrity);
    console.log(`postbuild: wasm-opt -Oz --low-memory-unused ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  writeFileSync(indexPath, index);
}

let total = 0;
for (const name of readdirSync(staging).filter((f) => f.endsWith('.wasm') || f.endsWith('.js'))) {
  const bytes = readFileSync(join(staging, name));
  const gz = gzipSync(bytes, { level: 9 }).length;
  total += gz;
  console.log(`bundle: ${name.padEnd(40)} ${String(statSync(join(staging, name)).size).padStart(8)} bytes, ${String(gz).padStart(7)} gzipped`);
}
console.log(`bundle: wasm + js = ${total} bytes gzipped (${Math.round(total / 1024)} KB; budget 400 KB)`);
if (release && total > BUDGET) {
  console.error('bundle: over the 400 KB budget');
  process.exit(1);
}
