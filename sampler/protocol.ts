/** Messages between the recording worker (the tracer thread) and the main thread. */
import type { Frame } from '../aggregator/profile.js';

export interface RecordOptions {
  pid: number;
  rate: number;
  /** Stop after this long; null: until stopped or the target exits. */
  durationMs: number | null;
  byLine: boolean;
  /** Keep retrying until Lua appears (a target luaprof just started). */
  waitForLua: boolean;
  version?: string;
  /** Mixed native + Lua stacks. */
  native?: boolean;
  /** Only these threads of the target (default: all). */
  threads?: number[];
  /** Follow child processes (one profile per process). */
  subprocesses?: boolean;
  /** Keep samples of threads blocked in the kernel, marked idle. */
  idle?: boolean;
  /** Stop each thread for its sample instead of copying it while it runs. */
  blocking?: boolean;
}

/** Control words shared with the worker. */
export const CTRL = { stop: 0, samples: 1, errors: 2, late: 3, size: 8 } as const;

export interface Delta {
  frames: Frame[];
  stacks: number[][];
  samples: { tid: number; pid: number; name: string; stack: number; time: number }[];
}

export type EndReason = 'duration' | 'stopped' | 'target-exited';

export interface RecordStats {
  samples: number;
  errors: number;
  late: number;
  empty: number;
  /** Ticks that found the target waiting for a CPU (left out of the profile). */
  offCpu: number;
  /** Samples of threads blocked in the kernel (left out unless --idle). */
  idle: number;
  truncated: number;
  pauseP50Us: number;
  pauseP99Us: number;
  durationMs: number;
  startTime: number;
}

export type WorkerMessage =
  | { type: 'attached'; luaVersion: string }
  | { type: 'log'; line: string }
  | { type: 'delta'; delta: Delta }
  | { type: 'done'; reason: EndReason; stats: RecordStats }
  | { type: 'error'; kind: string; message: string };
