/** Starting the sampling worker of one recording, with what it needs to run it. */
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

/** The worker of one recording. */
export function startWorker(workerData: WorkerStart): Worker {
  return new Worker(new URL('./worker.js', import.meta.url), {
    workerData,
    // Each sample's garbage dies young: a small young generation holds it as well as V8's default
    // (which grows to 32 MB of RSS under a steady sampling rate) and keeps the worker's memory flat.
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
}
