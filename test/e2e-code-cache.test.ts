/**
 * The worker's V8 code cache (scripts/bundle-workers.mjs): this Node takes it, in a worker started as
 * sampler/worker-start.ts starts one. A cache V8 rejects costs nothing visible but its reading, and
 * the first sample would come ~20-30 ms later: only a check like this one notices.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/lua-process.js';

const SCRIPT = join(ROOT, 'dist/sampler/worker-script.js');
const CACHE = join(ROOT, 'dist/sampler/worker-script.v8cache');

describe("the sampling worker's code cache", () => {
  it("is taken by this Node in a worker with the sampler's resource limits", () => {
    const inWorker = `
      const { readFileSync } = require('node:fs');
      const { Script } = require('node:vm');
      const s = new Script(readFileSync(${JSON.stringify(SCRIPT)}, 'utf8'), {
        filename: ${JSON.stringify(SCRIPT)},
        cachedData: readFileSync(${JSON.stringify(CACHE)}),
      });
      require('node:worker_threads').parentPort.postMessage(s.cachedDataRejected);`;
    const main = `
      const { Worker } = require('node:worker_threads');
      new Worker(${JSON.stringify(inWorker)}, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 12 } })
        .on('message', (rejected) => { process.stdout.write(String(rejected)); process.exit(0); });`;
    const r = spawnSync(process.execPath, ['-e', main], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stdout, r.stderr).toBe('false');
    // Made after a recording (the build's training run), it holds more than the modules' top levels:
    // 0.86 of the script's size here, against 0.40 made at load.
    expect(statSync(CACHE).size).toBeGreaterThan(statSync(SCRIPT).size * 0.6);
  });
});
