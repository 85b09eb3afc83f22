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
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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
const { writeWorkerCodeCache } = await import('../dist/sampler/worker-start.js');
await writeWorkerCodeCache();
