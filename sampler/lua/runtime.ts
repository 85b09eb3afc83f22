/**
 * One Lua runtime inside a target: how to capture its stack while the target is stopped, and how to
 * turn that capture into frames afterwards. Every flavour (PUC 5.1-5.4 in puc/, LuaJIT in luajit/)
 * implements it; nothing outside a flavour's folder reads its captures.
 */
import type { CallChain } from '../os/call-chain.js';
import type { InterpreterCode } from '../native/interpreter-code.js';
import type { Memory } from '../os/memory.js';
import type { MapEntry } from '../os/procfs.js';
import type { Registers } from '../os/registers.js';
import type { RemoteMemory } from '../os/remote-memory.js';
import type { LuaDetection } from './detect.js';
import type { LuaFrame } from './frames.js';
import type { HostedThreads } from './host-resumed.js';

/** Frames per thread a capture follows; deeper stacks are cut (and marked truncated). */
export const MAX_FRAMES = 1024;

/**
 * A capture met a torn or hostile structure: the sample is dropped, never the profile. Thrown at every
 * tear (a host that resumes a coroutine per request tears ~1 sample in 10), it is made without a
 * stack trace: collecting one took ~15 µs, a tenth of a walk; the message says what was torn.
 */
export class CaptureError extends Error {
  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

/**
 * The thread's lua_State is no longer one (its header's type tag or global state changed, which a live
 * state's never do): the host closed it. The thread has ended, or it runs another state now.
 */
export class StateGoneError extends CaptureError {}

/** The runtime cannot be read without the thread's registers at this moment (LuaJIT's interpreter). */
export class NeedsRegistersError extends CaptureError {}

/** What a runtime makes of one capture. */
export interface ResolvedLua {
  /** Innermost first (a running coroutine's frames above those of the thread that resumed it). */
  frames: LuaFrame[];
  truncated: boolean;
  /** The collector was running a step: the sampler puts [GC] on top of the frame that triggered it. */
  gc: boolean;
  /** Per frame (same order), the address of the C function it runs when known: --native splices there. */
  cfuncs: (number | undefined)[];
  /** The copy tore above these frames (a copy of a running thread): the torn innermost ones are left out. */
  torn?: boolean;
}

/** What --native learns from a capture about the interpreter's native code and frames. */
export interface NativeHints {
  /** Names for the interpreter's code where its object has no symbols for it. */
  code?: InterpreterCode;
  /**
   * The stack pointer inside the interpreter's own C frame (LuaJIT: L->cframe): the native unwind goes
   * on from there past code without unwind tables (a LuaJIT trace runs on that frame).
   */
  vmFrameSp?: number;
}

export interface LuaRuntime {
  readonly version: string;
  /** The global state this runtime reads (one runtime per global state). */
  readonly G: number;
  /** Asks for the stopped thread's registers in capture() (one PTRACE_GETREGS per sample). */
  readonly wantsRegs?: boolean;
  /** The thread the last capture found running (LuaJIT: G->cur_L, read even when the capture failed after). */
  runningThread?(): number;
  /**
   * Runs while the target is stopped: copy only what changes. `also`: other threads of this state
   * (coroutines a host resumes from C, and the native stack words that held them) to add when they
   * are running.
   */
  capture(mem: Memory, regs?: Registers, also?: HostedThreads): unknown;
  /**
   * Runs after the target is let go. `copy`: the copy the capture walked, still open, that objects
   * which do not change while a frame refers to them (a function's closure and header) are read from
   * (its plan then holds them: no read of the target per sample).
   */
  resolve(raw: unknown, copy?: Memory): ResolvedLua;
  /** Two captures show the same chain: the same threads, and in each the same frames running the same functions. */
  sameChain?(a: unknown, b: unknown): boolean;
  /** Two captures show the same threads (the same coroutines resumed, in the same order). */
  sameThreads?(a: unknown, b: unknown): boolean;
  /** How many frames two captures share, outermost first (see sameChain). */
  agreedFrames?(a: unknown, b: unknown): number;
  /** Keeps a capture's `keep` outermost frames; the others count as torn. */
  keepOutermost?(raw: unknown, keep: number): void;
  /** What --native needs from a capture (read through mem, after the pause). */
  nativeHints?(raw: unknown, mem: Memory): NativeHints;
  /** The capture already found its innermost frames torn (checked before resolving, so a copy can be taken again at once). */
  torn?(raw: unknown): boolean;
  /**
   * The main thread's list of call records, for a copier that follows it at each copy (tick-program.ts),
   * and the coroutines a host resumes from C, through the native stack words that hold them.
   */
  callChain?(hostedSlots?: readonly number[]): CallChain | null;
}

/** What attaching a runtime needs to know about the target. */
export interface AttachContext {
  pid: number;
  mem: RemoteMemory;
  maps: MapEntry[];
  /** Executable and mapped Lua libraries. */
  binaries: string[];
  detection: LuaDetection;
  /** Stops the main thread, runs fn with its registers, lets it go. */
  withMainStopped<T>(fn: (regs: Registers) => T): T;
}
