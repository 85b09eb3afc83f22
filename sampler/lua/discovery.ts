/**
 * Finding the states of a process that no global points at, thread by thread (every flavour: PUC in
 * puc/discovery.ts, LuaJIT in luajit/discovery.ts), and keeping what was found: one runtime per global
 * state; per thread its state and the coroutines its host resumes from C.
 */
import type { NativeFrame } from '../native/index.js';
import type { MapEntry } from '../os/procfs.js';
import type { Registers } from '../os/registers.js';
import type { HostResumed } from './host-resumed.js';
import type { LuaRuntime } from './runtime.js';

/** What discovery keeps per thread: the state it runs, and coroutines its host resumes from C. */
export interface ThreadStates {
  runtime: LuaRuntime | null;
  hosted: HostResumed;
}

/** The coroutines a stopped thread runs now, and the global state they belong to. */
export interface RunningThreads {
  G: number;
  /** The state's main thread. */
  main: number;
  /** Active coroutines found, outermost first (none where the runtime follows the running one itself). */
  threads: number[];
}

export interface StateDiscovery {
  /** The runtime follows the running coroutine itself (LuaJIT's G->cur_L): nothing to learn once a thread's state is known. */
  readonly followsRunning: boolean;
  /** A runtime found otherwise (a global of the binary) is the one of its global state. */
  adopt(rt: LuaRuntime): void;
  /** The runtime of a global state (made once, until forgotten). */
  runtimeFor(main: number, G: number): LuaRuntime;
  /**
   * Drops the runtime of a global state no thread runs any more: a host that opens a state per
   * thread, 50 threads a second, would otherwise keep every runtime and its caches for good.
   */
  forget(G: number): void;
  /**
   * Records the states found on a thread's unwound native stack (a stop's copy): true when it found
   * one the thread did not know (its state, or a coroutine its host resumes from C).
   */
  learn(
    thread: ThreadStates,
    frames: readonly NativeFrame[],
    stack: { addr: number; bytes: Buffer },
    maps: readonly MapEntry[],
    names?: readonly (string | undefined)[],
  ): boolean;
  /**
   * What a stopped thread runs now, from its registers and the top of its stack (of global state G
   * when given). Reads the live target: call it while the thread is stopped.
   */
  runningThreads(
    regs: Registers,
    stack: { addr: number; bytes: Buffer },
    maps: readonly MapEntry[],
    G?: number,
  ): RunningThreads | null;
  /** The state runs no function at all: a host is in charge, in C, and may run a coroutine it resumed. */
  runsNothing(raw: unknown): boolean;
  /** The Lua stack looks driven by a host: no Lua frames, or a C function on top (it may call lua_resume). */
  looksHosted(raw: unknown): boolean;
  /** The last resort where the flavour has one: a scan of the heap, and a line saying what it cost. */
  scanHeap?(maps: readonly MapEntry[]): { runtime: LuaRuntime | null; cost: string };
}

/** One runtime per global state, made on first use (each flavour says how). */
export class RuntimesByState {
  private readonly runtimes = new Map<number, LuaRuntime>();

  constructor(private readonly make: (main: number, G: number) => LuaRuntime) {}

  /** A runtime found otherwise (a global of the binary) is the one of its global state. */
  adopt(rt: LuaRuntime): void {
    this.runtimes.set(rt.G, rt);
  }

  /** A global state no thread runs any more (its threads ended; lua_close may have freed it). */
  forget(G: number): void {
    this.runtimes.delete(G);
  }

  runtimeFor(main: number, G: number): LuaRuntime {
    let rt = this.runtimes.get(G);
    if (!rt) {
      rt = this.make(main, G);
      this.runtimes.set(G, rt);
    }
    return rt;
  }
}
