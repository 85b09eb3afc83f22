// Bundles the sampling worker and the copier thread each into one module, in place of tsc's output in
// dist/. A recording's first sample waits for the worker's modules: ~90 of them took 130-140 ms of CPU
// to load one by one, the same code bundled 55-60 ms. Packages (koffi) stay outside; the source maps
// still lead to the TypeScript.
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
