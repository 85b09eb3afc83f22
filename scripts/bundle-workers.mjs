// Bundles the sampling worker and the copier thread each into one module, in place of tsc's output in
// dist/. A recording's first sample waits for the worker's modules: ~90 of them took 130-140 ms of CPU
// to load one by one, the same code bundled 55-60 ms. Packages (koffi) stay outside; the source maps
// still lead to the TypeScript.
//
// The worker's bundle is also written as a script (dist/sampler/worker-script.js), with V8's code cache
// of it (worker-script.v8cache): sampler/worker-start.ts starts the worker from them (Node 20 caches no
// compiled ES module code). The script is the module's text with its imports as require() calls,
// hoisted as imports are, inside `(async function (require, moduleUrl) {…})`, whose await stands for
// the module's top-level await.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

for (const entry of ['dist/sampler/worker.js', 'dist/sampler/copier/copier-thread.js']) {
  await build({
    entryPoints: [entry],
    outfile: entry,
    allowOverwrite: true,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
}

/** An ES module bundle as the body of an async function: its import statements as require() calls, hoisted. */
function asScript(module) {
  const requires = [];
  const body = module.replace(/^import (.+) from ("[^"]+");$/gm, (line, what, from) => {
    let binding;
    if (/^\{[\w$\s,]+\}$/.test(what)) binding = what.replace(/ as /g, ': ');
    else if (/^\* as [\w$]+$/.test(what)) binding = what.slice(5);
    else if (/^[\w$]+$/.test(what)) binding = what;
    else throw new Error(`bundle-workers: an import the script cannot hold: ${line}`);
    requires.push(`const ${binding} = require(${from});`);
    return '';
  });
  const left = body.match(/^\s*(import|export)\b.*$|\bimport\s*\(|\bimport\.meta\b(?!\.url\b)/m);
  if (left) throw new Error(`bundle-workers: the worker's bundle has what a script cannot hold: ${left[0]}`);
  return (
    '(async function (require, __luaprofModuleUrl) {\n"use strict";\n' +
    requires.join('\n') +
    '\n' +
    body.replace(/\bimport\.meta\.url\b/g, '__luaprofModuleUrl').replace(/^\/\/# sourceMappingURL=.*$/m, '') +
    '\n})\n'
  );
}

const script = 'dist/sampler/worker-script.js';
const cache = 'dist/sampler/worker-script.v8cache';
rmSync(cache, { force: true });
writeFileSync(script, asScript(readFileSync('dist/sampler/worker.js', 'utf8')));
if (!trainedCodeCache()) {
  const { writeWorkerCodeCache } = await import('../dist/sampler/worker-start.js');
  await writeWorkerCodeCache();
}

/**
 * V8's code cache holds the functions compiled when it is made. Made once the modules have loaded, it
 * lacks those of the attach and the first samples, which V8 then compiles during a recording's first
 * ~30 ms (bytecode from source, function by function). Made at the end of a short recording of a
 * stock lua5.4, it has them: the worker's attach and first sample came ~10 ms sooner (8 interleaved
 * pairs, the worker's modules to its first sample: median 22 against 33 ms). Without lua5.4, or when
 * the recording fails (no permission, no BPF), the cache is made at load as before.
 */
function trainedCodeCache() {
  const lua = ['/usr/bin/lua5.4', '/usr/local/bin/lua5.4'].find((f) => existsSync(f));
  if (!lua) return false;
  const dir = mkdtempSync(join(tmpdir(), 'luaprof-train-'));
  try {
    const trained = join(dir, 'worker-script.v8cache');
    const busy =
      'local function f(n) if n == 0 then local x = 0 for i = 1, 2000 do x = x + i % 7 end return x end ' +
      'return f(n - 1) + 1 end local t = os.clock() + 5 while os.clock() < t do f(24) end';
    const r = spawnSync(
      process.execPath,
      [
        'dist/cli/main.js',
        'record',
        '-r',
        '1000',
        '-d',
        '0.5s',
        '--no-progress',
        '-o',
        join(dir, 'p.json'),
        '--',
        lua,
        '-e',
        busy,
      ],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, LUAPROF_TRAIN_CODE_CACHE: trained } },
    );
    if (r.status !== 0 || !existsSync(trained)) {
      console.warn(
        `bundle-workers: no trained code cache (record exited ${r.status}): ${(r.stderr ?? '').trim().split('\n').pop()}`,
      );
      return false;
    }
    // Copied beside it, then renamed: the temporary directory may be on another file system.
    copyFileSync(trained, `${cache}.tmp`);
    renameSync(`${cache}.tmp`, cache);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
