/**
 * Starting the sampling worker. Its modules (the whole sampler) take as long to load as the main
 * thread's, and both come before a recording's first sample: `prewarmWorker` starts it at the top of
 * the CLI, before the command line and the command's module are loaded, so that the two load side by
 * side; the recording then hands it its start (`startWorker`). A prewarmed worker no recording took is
 * ended only once its modules are loaded (`releasePrewarmed`): Node aborts the process when a worker
 * is ended while koffi's addon is loading.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { WorkerStart } from './protocol.js';

/** The sampling worker's young generation (V8's semi-spaces and their large-object space). */
const WORKER_YOUNG_GENERATION_MB = 12;
/** The longest a command that took no recording waits for the prewarmed worker's modules. */
const RELEASE_WAIT_MS = 10_000;

/** What a prewarmed worker is given: a word it sets to 1 when its modules are loaded. */
export interface PrewarmData {
  prewarmed: true;
  loaded: SharedArrayBuffer;
}

interface Prewarmed {
  worker: Worker;
  loaded: Int32Array;
  exited: boolean;
}

let prewarmed: Prewarmed | null = null;

// Node 20 has Atomics.waitAsync; TypeScript declares it from its ES2024 library, past this project's ES2022.
declare global {
  interface Atomics {
    waitAsync(
      array: Int32Array,
      index: number,
      value: number,
      timeoutMs: number,
    ):
      | { async: false; value: 'not-equal' | 'timed-out' }
      | { async: true; value: Promise<'ok' | 'timed-out'> };
  }
}

// From its parent: bundled into the CLI's entry (dist/cli/main.js), this module is one level down
// from dist/ as it is in dist/sampler/.
const WORKER_MODULE = new URL('../sampler/worker.js', import.meta.url);
/** The worker's bundle as a script (scripts/bundle-workers.mjs), and V8's code for it, made at build time. */
const WORKER_SCRIPT = fileURLToPath(new URL('../sampler/worker-script.js', import.meta.url));
const WORKER_CODE_CACHE = fileURLToPath(new URL('../sampler/worker-script.v8cache', import.meta.url));

/**
 * The worker's first code (a CommonJS script). Node 20 keeps no compiled code of ES modules between
 * runs, so the build also writes the worker's bundle as a script, `(async function (require,
 * moduleUrl) {…})`, and V8's code cache of it once its modules have run: compiled from that cache,
 * the worker loads ~20 ms sooner here (`luaprof record` on a busy target, whose CPU the main thread
 * and the worker share). A cache V8 rejects (another Node, other V8 flags) only costs its reading;
 * without the script (tsc's output alone) the worker is the module itself. `writeCache`: the build's
 * run, which writes the cache (to a temp file, renamed) once the worker's modules are loaded. The
 * build first tries a recording with LUAPROF_TRAIN_CODE_CACHE naming a file: the worker writes the
 * cache there when the recording ends, with the functions its attach and samples compiled
 * (scripts/bundle-workers.mjs).
 */
function loader(writeCache: boolean): string {
  const [script, cache, moduleUrl] = [WORKER_SCRIPT, WORKER_CODE_CACHE, WORKER_MODULE.href].map((s) =>
    JSON.stringify(s),
  );
  return `'use strict';
const { readFileSync } = require('node:fs');
let source = null;
try { source = readFileSync(${script}, 'utf8'); } catch {}
if (source === null) {
  import(${moduleUrl}).catch((e) => process.nextTick(() => { throw e; }));
} else {
  let cachedData;
  if (!${writeCache}) try { cachedData = readFileSync(${cache}); } catch {}
  const { Script } = require('node:vm');
  const script = new Script(source, { filename: ${script}, cachedData });
  const done = script.runInThisContext()(require('node:module').createRequire(${script}), ${moduleUrl});
  done.catch((e) => process.nextTick(() => { throw e; }));
  const trained = process.env.LUAPROF_TRAIN_CODE_CACHE;
  if (trained) globalThis.__luaprofTrained = () => require('node:fs').writeFileSync(trained, script.createCachedData());
  if (${writeCache}) {
    const loaded = new Int32Array(require('node:worker_threads').workerData.loaded);
    Promise.resolve(Atomics.waitAsync(loaded, 0, 0).value).then(() => {
      const fs = require('node:fs');
      fs.writeFileSync(${cache} + '.tmp', script.createCachedData());
      fs.renameSync(${cache} + '.tmp', ${cache});
      process.exit(0);
    });
  }
}
`;
}

function spawn(workerData: WorkerStart | PrewarmData, writeCache = false): Worker {
  return new Worker(loader(writeCache), {
    eval: true,
    workerData,
    // Each sample's garbage dies young: a small young generation holds it as well as V8's default
    // (which grows to 32 MB of RSS under a steady sampling rate) and keeps the worker's memory flat.
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
}

/**
 * The build's step (scripts/bundle-workers.mjs): a prewarmed worker loads its modules from
 * worker-script.js and writes V8's code cache of it. Run by plain `node`, as the CLI is: V8 takes a
 * cache only under the flags it was made with.
 */
export async function writeWorkerCodeCache(): Promise<void> {
  const worker = spawn({ prewarmed: true, loaded: new SharedArrayBuffer(4) }, true);
  const code = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`the worker exited with code ${code} before writing its code cache`);
}

/** Starts a worker that loads its modules and waits for a recording's start (one at most; unref'd). */
export function prewarmWorker(): void {
  if (prewarmed) return;
  const loaded = new SharedArrayBuffer(4);
  const worker = spawn({ prewarmed: true, loaded });
  const p: Prewarmed = { worker, loaded: new Int32Array(loaded), exited: false };
  // Until a recording takes it, a failure to load is the fresh worker's to report (startWorker).
  worker.on('error', () => {});
  worker.once('exit', () => (p.exited = true));
  // A command that ends without recording (bad arguments) must not be kept alive by it.
  worker.unref();
  prewarmed = p;
}

/** The worker of one recording: the prewarmed one when there is one still alive, else a new one. */
export function startWorker(start: WorkerStart): Worker {
  const p = prewarmed;
  prewarmed = null;
  if (!p || p.exited) return spawn(start);
  p.worker.ref();
  p.worker.postMessage(start);
  return p.worker;
}

/** Ends a prewarmed worker no recording took, after its modules are loaded (or it has exited). */
export async function releasePrewarmed(): Promise<void> {
  const p = prewarmed;
  prewarmed = null;
  if (!p || p.exited) return;
  const exited = new Promise<void>((resolve) => p.worker.once('exit', () => resolve()));
  // Atomics.waitAsync keeps no handle open: the worker's own keeps the event loop turning meanwhile.
  p.worker.ref();
  const wait = Atomics.waitAsync(p.loaded, 0, 0, RELEASE_WAIT_MS);
  if (wait.async) await Promise.race([wait.value, exited]);
  await p.worker.terminate();
}
