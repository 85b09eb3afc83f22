/** What the sampler produces per thread and tick, and the options it samples with. */
import type { Frame } from '../aggregator/profile.js';
import type { LuaFrame } from './lua/frames.js';

export interface SampleResult {
  tid: number;
  pid: number;
  /** Innermost first: Lua frames (and C functions), or with --native the spliced mixed stack. */
  frames: Frame[];
  /** The Lua frames alone (what `dump` prints as a traceback). */
  luaFrames: LuaFrame[];
  truncated: boolean;
  pauseUs: number;
  /**
   * The thread took long to stop: it was waiting for a CPU (preempted), and it stopped wherever the
   * scheduler had left it, not at a point in time chosen at random. Such a sample would over-count
   * the places where preemption happens (system call exits) and is left out of profiles.
   */
  offCpu: boolean;
  /** The thread was blocked in the kernel (left out unless --idle, which marks it with an idle frame). */
  idle: boolean;
  /** The process was stopped by its user (SIGSTOP): idle, left out unless --idle. */
  stopped?: boolean;
  /** A torn or hostile structure: the sample is dropped (counted as an error). */
  error?: boolean;
  /** The first pass of the copy was torn and a later one (µs later) was used. */
  laterPass?: boolean;
  /** The copy tore above some frames: the sample is the frames under the tear, marked [torn]. */
  tornCut?: boolean;
  /** Every copy this sample tried was torn through: dropped, counted, never emitted. */
  torn?: boolean;
}

/**
 * The options of a recording: one type from the command line through the recorder and the sampling
 * worker down to Target (which takes the subset it needs, TargetOptions). Plain data: it is copied
 * to the worker thread.
 */
export interface RecordOptions {
  pid: number;
  /** Samples per second. */
  rate: number;
  /** Stop after this long; null: until stopped or the target exits. */
  durationMs: number | null;
  /** Frames keyed by current line rather than by function (--lines). */
  byLine: boolean;
  /** Keep retrying until Lua appears (a target luaprof just started). */
  waitForLua: boolean;
  /** Assume this Lua version instead of detecting it (--lua-version). */
  version?: string;
  /** Mixed native + Lua stacks. */
  native?: boolean;
  /** Only these threads of the target (default: all threads of the process). */
  threads?: number[];
  /** Follow child processes (one profile per process). */
  subprocesses?: boolean;
  /**
   * --match: instead of `pid`, every process whose command line matches this regular expression
   * (source text; checked by the CLI), and each new one as it starts (sampler/process-match.ts).
   */
  match?: string;
  /** Keep samples of threads blocked in the kernel, marked idle. */
  idle?: boolean;
  /** Stop each thread for its sample (ptrace), instead of copying it while it runs. */
  blocking?: boolean;
  /** Threads with a profile of their own; later ones are merged by name (sampler/thread-identities.ts). */
  maxThreads?: number;
}

export type TargetOptions = Partial<
  Pick<RecordOptions, 'version' | 'native' | 'threads' | 'idle' | 'blocking'>
> & {
  /** Where cost lines (heap scan) go; default stderr. */
  log?: (line: string) => void;
  /**
   * --native: a lone thread's samples may come from the kernel's copies at its own ticks, with its
   * registers and stack top (the worker's tick copier), rather than from stops.
   */
  nativeTicks?: boolean;
};
