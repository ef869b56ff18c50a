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

/** Reads an unsigned LEB128 at `at`; returns [value, next offset]. */
function readLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

/** Encodes an unsigned LEB128. */
function leb(value) {
  const out = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

/** `a`, `b`, … `Z`, `aa`, `ab`, …: the short name of the n-th import. */
function shortName(n) {
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let name = '';
  for (n += 1; n > 0; n = Math.floor((n - 1) / 52)) name = letters[(n - 1) % 52] + name;
  return name;
}

/**
 * Renames the wasm's imports from wasm-bindgen's JS glue (names such as
 * `__wbg_setattribute_2c7c4b5f1d3e8a90`, whose hashes do not compress) to
 * `a`, `b`, … in both files. Returns the new [wasm, js], or null (files left
 * as they are) when the glue's import object does not have the expected shape.
 */
function shortenImportNames(wasm, js) {
  const moduleName = /"(\.\/[^"]+_bg\.js)": import0,/.exec(js)?.[1];
  if (!moduleName) return null;
  const parts = [wasm.subarray(0, 8)];
  const renames = new Map();
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, start] = readLeb(wasm, at + 1);
    const end = start + size;
    if (id !== 2) {
      parts.push(wasm.subarray(at, end));
      at = end;
      continue;
    }
    let [count, p] = readLeb(wasm, start);
    const body = [leb(count)];
    for (; count > 0; count--) {
      const [moduleLength, m] = readLeb(wasm, p);
      const module = wasm.subarray(m, m + moduleLength);
      const [nameLength, n] = readLeb(wasm, m + moduleLength);
      let name = wasm.subarray(n, n + nameLength);
      const descriptor = n + nameLength;
      const kind = wasm[descriptor];
      /** Skips limits: a flags byte, the minimum, and the maximum if flagged. */
      const limits = (q) => (wasm[q] & 1 ? readLeb(wasm, readLeb(wasm, q + 1)[1])[1] : readLeb(wasm, q + 1)[1]);
      if (kind === 0) p = readLeb(wasm, descriptor + 1)[1]; // function: type index
      else if (kind === 1) p = limits(descriptor + 2); // table: element type, limits
      else if (kind === 2) p = limits(descriptor + 1); // memory: limits
      else if (kind === 3) p = descriptor + 3; // global: value type, mutability
      else return null;
      if (module.toString() === moduleName) {
        const short = shortName(renames.size);
        renames.set(name.toString(), short);
        name = Buffer.from(short);
      }
      body.push(leb(moduleLength), module, leb(name.length), name, wasm.subarray(descriptor, p));
    }
    if (p !== end) return null;
    const section = Buffer.concat(body);
    parts.push(Buffer.from([2]), leb(section.length), section);
    at = end;
  }
  for (const [long, short] of renames) {
    const key = new RegExp(`^(\\s+)${long}: function\\(`, 'gm');
    if ((js.match(key) || []).length !== 1) return null;
    js = js.replace(key, `$1${short}: function(`);
  }
  return [Buffer.concat(parts), js];
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

    // The glue's import names carry 16-hex-digit hashes; short names save
    // about 7 KB gzipped over wasm and js (docs/benchmarks.md).
    const jsPath = join(staging, name.replace(/_bg\.wasm$/, '.js'));
    if (existsSync(jsPath)) {
      const js = readFileSync(jsPath, 'utf8');
      const shortened = shortenImportNames(readFileSync(path), js);
      if (!shortened) {
        console.error(`postbuild: the wasm-bindgen glue of ${name} has an unexpected shape; import names left as they are`);
        process.exit(1);
      }
      for (const [file, bytes] of [[path, shortened[0]], [jsPath, Buffer.from(shortened[1])]]) {
        const before = `sha384-${createHash('sha384').update(readFileSync(file)).digest('base64')}`;
        writeFileSync(file, bytes);
        index = index.split(before).join(`sha384-${createHash('sha384').update(bytes).digest('base64')}`);
      }
    }
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
