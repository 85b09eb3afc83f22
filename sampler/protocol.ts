/** Messages from the sampling worker (the tracer thread) to the recorder on the main thread. */
import type { Frame } from '../aggregator/profile.js';
import type { RecordOptions } from './sample.js';

/** Control words shared with the worker (Int32, for Atomics.wait/notify). */
export const CTRL = { stop: 0, size: 2 } as const;

/** One stack, as the sampler took it: raw, not aggregated. */
export interface StackSample {
  pid: number;
  tid: number;
  /** ms since sampling began (RecordStats.startTime). */
  time: number;
  /** Innermost first: ids into the recording's frame table (SampleBatch.frames, in the order they arrive). */
  frames: readonly number[];
}

export interface ThreadInfo {
  pid: number;
  tid: number;
  name: string;
  /** The Lua version of the thread's process (per process with --subprocesses or --match). */
  luaVersion?: string;
}

/** Numbers per sample in SampleBatch.samples: pid, tid, time, stack id. */
export const SAMPLE_FIELDS = 4;

/**
 * What the worker sends every flush: frames, stacks and threads new since the last batch, then the
 * samples packed in a lent slot or one transferred array (no object per sample on either side of the channel).
 */
export interface SampleBatch {
  /** New frames; their ids continue the table (the first frame ever sent is id 0). */
  frames: Frame[];
  /** New stacks (frame ids, innermost first); their ids continue the table as frames' do. */
  stacks: number[][];
  /** Threads seen for the first time. */
  threads: ThreadInfo[];
  /**
   * SAMPLE_FIELDS numbers per sample: pid, tid, time (as StackSample.time), stack id; `length` of
   * them, in slot `slot` of the recording's SampleSlots, or in `samples` when `slot` is -1.
   */
  slot: number;
  length: number;
  samples: Float64Array | null;
}

/** 'traced': another tracer (strace, gdb) took the target between two samples (luaprof does not hold it). */
/** 'exec': the process exec'd another program (detail names it). */
export type EndReason = 'duration' | 'stopped' | 'target-exited' | 'traced' | 'exec';

export type WorkerMessage =
  | { type: 'attached'; luaVersion: string }
  | { type: 'log'; line: string }
  | { type: 'samples'; batch: SampleBatch }
  /** Sent after the last batch, once RecordStats are final. */
  | { type: 'done'; reason: EndReason; detail?: string }
  | { type: 'error'; kind: string; message: string };

/** What the worker is started with (its workerData): one recording's options and shared buffers. */
export interface WorkerStart {
  options: RecordOptions;
  control: SharedArrayBuffer;
  stats: SharedArrayBuffer;
  slots: SharedArrayBuffer;
}
