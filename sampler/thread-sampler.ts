/**
 * One thread of a target, sampled: the copy of its state at the sampling instant, then, with the
 * thread running again, the Lua walk on that copy, the native unwind and the frames of the sample.
 *
 * The copy is made by `copyPaused` (ptrace stop, registers, batched reads of what the previous walk
 * read, detach); everything after it works from a `ThreadCopy`, so another way of copying (an instant
 * copy of the running thread with process_vm_readv, validated) can produce one beside it.
 */
import { performance } from 'node:perf_hooks';
import type { Frame } from '../aggregator/profile.js';
import type { LuaFrame } from './lua/frames.js';
import type { PucDiscovery } from './lua/puc/discovery.js';
import type { LuaRuntime } from './lua/runtime.js';
import { NativeStacks, type NativeStack, type StackCopy } from './native-stack.js';
import { ThreadStat } from './os/procfs.js';
import { getRegs } from './os/ptrace.js';
import type { Registers } from './os/registers.js';
import { PrefetchMemory, type RemoteMemory } from './os/remote-memory.js';
import { pauseThread } from './pause.js';
import type { SampleResult, TargetOptions } from './sample.js';
import { withSyntheticFrames } from './synthetic-frames.js';

/** A thread running on a CPU stops within an interrupt's latency; one that waits for a CPU takes a time slice. */
export const OFF_CPU_STOP_US = 400;
/** Bytes of stack copied per native sample (bounded by the end of the mapping holding rsp). */
export const NATIVE_STACK_BYTES = 48 << 10;
/** --native copies what the last unwind used plus this much (callers further out are read after the pause). */
const NATIVE_STACK_MARGIN = 2 << 10;
const NATIVE_STACK_MIN = 4 << 10;
const DISCOVERY_STACK_BYTES = 64 << 10;
/** How often a thread is searched for states again (its Lua stack looks like a host is in charge). */
const REDISCOVER_MS = 200;
const NO_LUA_REDISCOVER_MS = 1000;

/** What the threads of one target share. */
export interface SamplerShared {
  pid: number;
  mem: RemoteMemory;
  opts: TargetOptions;
  natives: NativeStacks;
  /** PUC: states found on native stacks (null for LuaJIT, whose one state follows cur_L). */
  discovery: PucDiscovery | null;
}

/** The Lua part of a sample: the runtime's capture, and whether the thread should be searched for states. */
interface LuaCopy {
  raw: unknown;
  discover: boolean;
}

/** A thread's state at the sampling instant, however it was copied. */
interface ThreadCopy extends LuaCopy {
  /** Read only when something needs them (native stacks, discovery, --idle, LuaJIT): GETREGS costs pause time. */
  regs: Registers | null;
  stack: StackCopy | null;
  idle: boolean;
  pauseUs: number;
  /** The thread took longer than OFF_CPU_STOP_US to stop. */
  offCpu: boolean;
}

/**
 * The thread stopped inside a system call (orig_rax holds its number; user code shows -1) that the stop
 * interrupted (rax holds -ERESTARTSYS or -EINTR, which getRegs reads as -1 like every value past 2^53).
 */
function isBlockedInKernel(regs: Registers): boolean {
  return regs.orig_rax >= 0 && regs.rax === -1;
}

export class ThreadSampler {
  /** The state this thread runs (null until found). */
  runtime: LuaRuntime | null = null;
  /** Coroutines this thread's host resumes from C (lua_resume), learnt from its native stack. */
  readonly extras: number[] = [];
  nextDiscovery = 0;
  /** The mapping that holds the thread's stack. */
  stack: { start: number; end: number } | null = null;
  private readonly pm: PrefetchMemory;
  /** --native: bytes of stack the next pause copies (adapted to what the last unwind used). */
  private nativeCopy = NATIVE_STACK_BYTES;
  private readonly stat: ThreadStat;

  constructor(
    readonly tid: number,
    private readonly shared: SamplerShared,
  ) {
    this.pm = new PrefetchMemory(shared.mem);
    this.stat = new ThreadStat(shared.pid, tid);
  }

  /** Closes the /proc files kept open for the thread. */
  close(): void {
    this.stat.close();
  }

  /** A walk planned from earlier ones exists (what prime() rehearses). */
  get planned(): boolean {
    return this.pm.planned;
  }

  /** One sample: copy, then resolve with the thread running again. */
  sample(): SampleResult {
    const { pid, opts, natives, discovery } = this.shared;
    const tid = this.tid;
    const rt = this.runtime;
    const native = opts.native === true;
    const now = performance.now();
    const wantDiscovery = discovery !== null && now >= this.nextDiscovery;
    if (wantDiscovery) this.nextDiscovery = now + REDISCOVER_MS;
    // Built (maps read, objects opened) before the pause, never during it.
    if (native || wantDiscovery) natives.tools();
    if (!opts.idle) {
      // A sleeping thread is idle: leave it be, without stopping it at all.
      const state = this.stat.state();
      if (state === 'S' || state === 'D') return { tid, pid, pauseUs: 0, offCpu: false, idle: true, frames: [], luaFrames: [], truncated: false };
    }
    const copy = this.copyPaused(rt, wantDiscovery);
    const base = { tid, pid, pauseUs: copy.pauseUs, offCpu: copy.offCpu, idle: copy.idle };
    if (copy.idle && !opts.idle) return { ...base, frames: [], luaFrames: [], truncated: false };
    let luaFrames: LuaFrame[] = [];
    let truncated = false;
    let gc = false;
    let cfuncs: (number | undefined)[] = [];
    if (rt && copy.raw) ({ frames: luaFrames, truncated, gc, cfuncs } = rt.resolve(copy.raw));
    let stack: NativeStack | null = null;
    if (!this.stack && copy.stack) natives.forgetStack(this); // a new thread's stack: re-read the maps
    if (copy.stack && copy.regs) {
      stack = natives.unwind(copy.regs, copy.stack);
      const outermost = stack.frames[stack.frames.length - 1];
      // Outer frames sit still while inner ones run: reading them after the pause is as good as a copy.
      if (outermost && native) this.nativeCopy = Math.min(NATIVE_STACK_BYTES, Math.max(NATIVE_STACK_MIN, (outermost.cfa || outermost.sp) - copy.stack.addr + NATIVE_STACK_MARGIN));
    }
    if (copy.discover && stack && copy.stack) this.learn(stack, copy.stack);
    let frames: Frame[];
    if (native && stack) frames = natives.mixed(stack, luaFrames, cfuncs, gc);
    else frames = luaFrames.slice();
    frames = withSyntheticFrames(frames, { gc: gc && !(native && stack), idle: copy.idle, truncated });
    return { ...base, frames, luaFrames, truncated };
  }

  /**
   * The copy under a ptrace stop. Usually the pause only copies what the previous walk read, and the
   * walk runs on that copy after the thread is let go (if the stack's shape changed beyond the copy,
   * the sample walks inside a pause of its own); discovery (it decides what to copy from what it
   * finds) walks inside.
   */
  private copyPaused(rt: LuaRuntime | null, wantDiscovery: boolean): ThreadCopy {
    const { opts, natives, mem } = this.shared;
    const tid = this.tid;
    const native = opts.native === true;
    const needRegs = native || wantDiscovery || opts.idle === true || rt?.wantsRegs === true;
    let stopUs = 0;
    const pauseOnce = (defer: boolean) =>
      pauseThread(tid, (stoppedAfterUs) => {
        stopUs = stoppedAfterUs;
        const regs = needRegs ? getRegs(tid) : null;
        const idle = regs !== null && isBlockedInKernel(regs);
        if (idle && !opts.idle) return { raw: null, discover: false, regs, stack: null, idle, walkPending: false };
        // --native: the stack copy rides in the same batched read as the Lua spans.
        const range = regs && native ? natives.range(this, regs, this.nativeCopy) : null;
        const bytes = rt ? this.pm.begin(range) : range && mem.read(range.addr, range.len);
        let stack: StackCopy | null = range && bytes ? { addr: range.addr, bytes } : null;
        const lua = rt && !defer ? this.walkLua(rt, regs, wantDiscovery) : { raw: null, discover: false };
        if (!stack && regs && lua.discover) stack = natives.copy(this, regs, DISCOVERY_STACK_BYTES);
        return { raw: lua.raw, discover: lua.discover, regs, stack, idle, walkPending: defer };
      });
    const deferWalk = rt !== null && this.pm.planned && !wantDiscovery;
    let { value: copy, pauseUs } = pauseOnce(deferWalk);
    if (copy.walkPending && rt) {
      this.pm.detached();
      const lua = this.walkLua(rt, copy.regs, false);
      if (lua.missed) {
        const again = pauseOnce(false);
        copy = again.value;
        pauseUs += again.pauseUs;
      } else copy = { ...copy, ...lua };
    }
    return { raw: copy.raw, discover: copy.discover, regs: copy.regs, stack: copy.stack, idle: copy.idle, pauseUs, offCpu: stopUs > OFF_CPU_STOP_US };
  }

  /**
   * The Lua part of a sample, read through the thread's prefetching memory (after its begin()): inside
   * a pause, or after it from the pause's copy (then `missed` says the copy lacked something).
   */
  private walkLua(rt: LuaRuntime, regs: Registers | null, wantDiscovery: boolean): LuaCopy & { missed?: boolean } {
    let raw: unknown = null;
    let discover = false;
    let missed = false;
    try {
      raw = rt.capture(this.pm, rt.wantsRegs && regs ? regs : undefined, this.extras);
      discover = wantDiscovery && raw !== null && this.shared.discovery !== null && this.shared.discovery.looksHosted(raw);
    } catch (e) {
      if (!this.pm.missedWhileStrict) throw e;
    } finally {
      missed = this.pm.missedWhileStrict;
      this.pm.end();
    }
    return missed ? { raw: null, discover: false, missed } : { raw, discover };
  }

  /** Stops the thread, copies registers and stack, lets it go, and looks for states on its stack. */
  discover(): void {
    const natives = this.shared.natives;
    this.nextDiscovery = performance.now() + (this.runtime ? REDISCOVER_MS : NO_LUA_REDISCOVER_MS);
    natives.forgetStack(this);
    const { value } = pauseThread(this.tid, () => {
      const regs = getRegs(this.tid);
      return { regs, stack: natives.copy(this, regs, DISCOVERY_STACK_BYTES) };
    });
    if (value.stack) this.learn(natives.unwind(value.regs, value.stack), value.stack);
  }

  private learn(stack: NativeStack, copy: StackCopy): void {
    const { natives, discovery } = this.shared;
    discovery?.learn(this, stack.frames, copy, natives.maps, natives.names(stack.frames));
  }

  /** One sample's walk on the running target; racy, so nothing it reads shapes the next pause's copy. */
  rehearse(): void {
    const rt = this.runtime;
    if (!rt) return;
    this.pm.begin();
    try {
      rt.resolve(rt.capture(this.pm, undefined, this.extras));
    } catch {
      /* a torn read of a running target: expected here */
    } finally {
      this.pm.discard();
    }
  }
}
