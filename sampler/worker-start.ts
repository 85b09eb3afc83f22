/**
 * Starting the sampling worker. Its modules (the whole sampler) take as long to load as the main
 * thread's, and both come before a recording's first sample: `prewarmWorker` starts it at the top of
 * the CLI, before the command line and the command's module are loaded, so that the two load side by
 * side; the recording then hands it its options (`startWorker`).
 */
import { Worker } from 'node:worker_threads';

/** The sampling worker's young generation (V8's semi-spaces and their large-object space). */
const WORKER_YOUNG_GENERATION_MB = 12;

/** What the worker needs to run one recording. */
export interface WorkerStart {
  options: unknown;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  slots: SharedArrayBuffer;
}

let prewarmed: Worker | null = null;

function spawn(workerData: WorkerStart | { waitForStart: true }): Worker {
  return new Worker(new URL('./worker.js', import.meta.url), {
    workerData,
    // Each sample's garbage dies young: a small young generation holds it as well as V8's default
    // (which grows to 32 MB of RSS under a steady sampling rate) and keeps the worker's memory flat.
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
}

/** Starts a worker that loads its modules and waits for a recording (one at most; unref'd). */
export function prewarmWorker(): void {
  if (prewarmed) return;
  prewarmed = spawn({ waitForStart: true });
  // A command that ends without recording (bad arguments) must not be kept alive by it.
  prewarmed.unref();
}

/** The worker of one recording: the prewarmed one when there is one, else a new one. */
export function startWorker(start: WorkerStart): Worker {
  const worker = prewarmed;
  prewarmed = null;
  if (!worker) return spawn(start);
  worker.ref();
  worker.postMessage(start);
  return worker;
}
