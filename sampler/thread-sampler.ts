/**
 * One thread of a target, sampled: the copy of its state at the sampling instant, then, with the
 * thread running again, the Lua walk on that copy, the native unwind and the frames of the sample.
 *
 * By default a PUC thread is copied while it runs (`sampleInstant`: one process_vm_readv of what the
 * previous walks read, at the instant the sample is due), and the copy is checked for tears. A ptrace
 * stop lands tens of µs late on a VM, and at the next system call when one comes first, so it shifts
 * time toward code that precedes system calls. The stop (`copyPaused`: registers, batched reads,
 * detach) serves what needs registers: --native, --blocking, LuaJIT (its interpreter keeps the frame
 * base in a register; LuaJitCapture.captureRunning reads traces and C calls without one, but a mix
 * of copies and stops measured worse than stops alone), and the search for states a host keeps on
 * its native stack.
 */
import { performance } from 'node:perf_hooks';
import type { Frame } from '../aggregator/profile.js';
import type { LuaFrame } from './lua/frames.js';
import type { StateDiscovery } from './lua/discovery.js';
import { HostResumed } from './lua/host-resumed.js';
import { CaptureError, type LuaRuntime, type ResolvedLua, StateGoneError } from './lua/runtime.js';
import { NativeStacks, type NativeStack, type StackCopy } from './native-stack.js';
import { samplerAffinity } from './os/affinity.js';
import { monotonicNs, OnCpuTracker, type CpuState } from './os/on-cpu.js';
import { isAsleep, ThreadStat } from './os/procfs.js';
import { SwitchRegs } from './os/switch-regs.js';
import type { UserSample } from './os/user-samples.js';
import { getRegs } from './os/ptrace.js';
import type { Registers } from './os/registers.js';
import { PrefetchMemory, type RemoteMemory } from './os/remote-memory.js';
import { pauseThread } from './pause.js';
import type { CopierCopy } from './copier/copier.js';
import { MAX_BYTES, MAX_SPAN, MAX_SPANS } from './copier/tick-program.js';
import type { CallChain } from './os/call-chain.js';
import type { SampleResult, TargetOptions } from './sample.js';
import { withSyntheticFrames } from './synthetic-frames.js';
import { samePrefix } from './same-numbers.js';

/** A thread running on a CPU stops within an interrupt's latency; one that waits for a CPU takes a time slice. */
export const OFF_CPU_STOP_US = 400;
/** Bytes of stack copied per native sample (bounded by the end of the mapping holding rsp). */
export const NATIVE_STACK_BYTES = 48 << 10;
/** --native copies what the last unwind used plus this much (callers further out are read after the pause). */
const NATIVE_STACK_MARGIN = 2 << 10;
const NATIVE_STACK_MIN = 4 << 10;
const DISCOVERY_STACK_BYTES = 64 << 10;
/** Stack copied to find the coroutine a host runs now (the words runningThreads searches). */
const HOSTED_STACK_BYTES = 8 << 10;
/** A thread with no known state that showed none so often is looked at once in this many samples. */
const SEARCH_BACKOFF_MAX = 64;
/**
 * How often a thread is searched for states again (its Lua stack looks like a host is in charge: a C
 * function on top), each search a stop: every REDISCOVER_MS while searches find states or coroutines
 * the thread did not know, twice as long after each that found none, up to REDISCOVER_MAX_MS. A stock
 * interpreter's own C calls look the same (`os.clock()` in a loop: 5 stops a second for good).
 */
const REDISCOVER_MS = 200;
const REDISCOVER_MAX_MS = 1600;
/**
 * A thread with no state found yet is looked at again after 20 ms, then twice as long each time up
 * to 1 s: a host that starts a thread per job (fixtures/hosts/churn.c: threads living ~1 s) opens its
 * state just after the thread starts, and a thread first looked at before that is not left unsampled
 * for a second; a thread that never runs Lua costs 6 stops in its first second, then one a second.
 */
const NO_LUA_REDISCOVER_FIRST_MS = 20;
const NO_LUA_REDISCOVER_MS = 1000;
/** Copies of a running thread one sample may take: a copy that lacked part of a new stack shape is planned and taken again. */
const INSTANT_ATTEMPTS = 2;
/** A copy of a running thread that lacks part of the stack is taken again later: plan for many shapes. */
const INSTANT_PLANNED_WALKS = 64;
/** Passes over the plan in one copy (see PrefetchMemory): each later pass is µs after the one before. */
const INSTANT_PASSES = 3;
/** Passes resolved at most (the check that needs the functions' code runs there): the rest of the cost of a tear. */
const MAX_RESOLVES = 2;

/**
 * After a walk with registers finds a coroutine running that the last one did not, this many samples
 * walk before the sampler lets the thread run (freezing it for the walk), counted again at each new one.
 */
const PINNED_WALKS = 50;

/** Stops taken to search threads for states and coroutines (not for a sample), since the last take. */
let searchStops = 0;

/** The stops taken to search threads since the last call (the worker counts them: RecordStats.searchStops). */
export function takeSearchStops(): number {
  const n = searchStops;
  searchStops = 0;
  return n;
}

/** sampleInstant's answer when the sample needs a stop after all (registers, for a runtime that needs them). */
const NEEDS_STOP = Symbol('needs a stop');
/** Samples taken without a copier's copy after which plans hold the call chain's records again (copiedWithChain). */
const CHAINLESS_SAMPLES = 50;

/** A thread switched out this recently before its copy gave its CPU to the sampler's wake-up. */
const WOKEN_OUT_NS = 50_000;

/** What the threads of one target share. */
export interface SamplerShared {
  pid: number;
  mem: RemoteMemory;
  opts: TargetOptions;
  natives: NativeStacks;
  /** States found on native stacks (a thread's own state; PUC: coroutines its host resumes from C). */
  discovery: StateDiscovery | null;
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
  readonly hosted = new HostResumed();
  nextDiscovery = 0;
  private rediscoverMs = REDISCOVER_MS;
  private noLuaDiscoveries = 0;
  /** The mapping that holds the thread's stack. */
  stack: { start: number; end: number } | null = null;
  private readonly pm: PrefetchMemory;
  /** --native: bytes of stack the next pause copies (adapted to what the last unwind used). */
  private nativeCopy = NATIVE_STACK_BYTES;
  private readonly stat: ThreadStat;
  /** Whether the thread is on a CPU, from the kernel's switch records (instant copies only). */
  private oncpu: OnCpuTracker | null | undefined;
  /** Registers at the thread's switch-outs (runtimes that need registers, copied while running). */
  private switchRegs: SwitchRegs | null | undefined;
  /** Samples left that walk while the thread stands still (see PINNED_WALKS), and the coroutine the last walk found running. */
  private pinnedWalksLeft = 0;
  private lastRunningThread = 0;
  /** The sampler sleeps on this thread's CPU before its samples (Target.cpuToWakeOn). */
  wakesOnItsCpu = false;
  /** When a thread whose host keeps its coroutines in known stack words is searched again. */
  private nextCoroutineSearch = 0;
  /** sampleSearching: samples to skip, and searches in a row that found no state. */
  private searchSkip = 0;
  private stateGone = false;
  private fruitlessSearches = 0;
  /** The copier thread's copy for the next sample (sampler/copier), taken at its due instant. */
  private supplied: CopierCopy | null = null;
  private samplesWithoutCopy = 0;
  private copierUsed = false;
  private chainMade: { runtime: LuaRuntime | null; slots: number[]; chain: CallChain | null } | null = null;

  constructor(
    readonly tid: number,
    private readonly shared: SamplerShared,
  ) {
    const { blocking, native, nativeTicks } = shared.opts;
    const running = blocking !== true && (native !== true || nativeTicks === true);
    this.pm = running
      ? new PrefetchMemory(shared.mem, undefined, undefined, INSTANT_PLANNED_WALKS, INSTANT_PASSES, {
          spans: MAX_SPANS,
          pieceBytes: MAX_SPAN,
          // Room for the call chain's records beside the plan (a copy holds at most MAX_BYTES of both).
          bytes: MAX_BYTES / 2,
        })
      : new PrefetchMemory(shared.mem);
    this.stat = new ThreadStat(shared.pid, tid);
  }

  /** Closes the /proc files and perf events kept open for the thread. */
  close(): void {
    this.stat.close();
    this.oncpu?.close();
    this.switchRegs?.close();
  }

  /** The thread's registers at its switch-outs (null where perf events are refused). */
  private switchRegsOf(): SwitchRegs | null {
    if (this.switchRegs === undefined) this.switchRegs = SwitchRegs.open(this.tid);
    return this.switchRegs;
  }

  /** The CPU the thread last ran on (-1 when unknown). */
  cpu(): number {
    if (this.oncpu === undefined) this.oncpu = OnCpuTracker.open(this.tid);
    const c = this.oncpu?.cpu() ?? -1;
    return c >= 0 ? c : this.stat.processor();
  }

  /** Sampled by copying it while it runs (the sampler can take its CPU for the copy). */
  get copiesWhileRunning(): boolean {
    return this.runtime !== null && this.copiesRunning(this.runtime);
  }

  /** Copied while it runs, with the registers of the switch-out a wake-up on its CPU causes. */
  get copiesWithRegisters(): boolean {
    return this.runtime?.wantsRegs === true && this.copiesWhileRunning;
  }

  /**
   * Copies can come from a copier (sampler/copier): copied running, without the registers of the
   * instant, and planned. A host resuming a coroutine per request needs walks while the thread stands
   * still, unless the kernel's copies (`byTicks`) copy the coroutine of the instant themselves (PUC
   * 5.2-5.4: a CallInfo list they can follow).
   */
  copiableByCopier(byTicks: boolean): boolean {
    const rt = this.runtime;
    const { native, nativeTicks } = this.shared.opts;
    return (
      rt !== null &&
      rt.wantsRegs !== true &&
      (!this.perRequest || (byTicks && this.callChain()?.hosted != null)) &&
      (native === true ? nativeTicks === true : this.copiesRunning(rt)) &&
      this.pm.planned
    );
  }

  /**
   * The list of call records a copier may follow itself at each copy (null: none), the same object
   * while the runtime and the host's stack words stay (a copier publishes a new plan when it changes).
   */
  private callChain(): CallChain | null {
    const slots = this.hosted.slots;
    const made = this.chainMade;
    if (made?.runtime === this.runtime && samePrefix(made.slots, slots)) return made.chain;
    const chain = this.runtime?.callChain?.(slots) ?? null;
    this.chainMade = { runtime: this.runtime, slots: slots.slice(), chain };
    return chain;
  }

  /** Its host resumes a coroutine per request from C, found through words of its native stack. */
  get perRequest(): boolean {
    return this.hosted.slots.length > 0;
  }

  /**
   * Its copies will come with its call chain (a tick copier follows it): plans leave the chain's
   * records out. Returns the chain (null: none).
   */
  copiedWithChain(): CallChain | null {
    const chain = this.callChain();
    this.pm.leaveChained = chain !== null;
    this.samplesWithoutCopy = 0;
    return chain;
  }

  /** The plan of the copy (for the copier thread). */
  copyPlan(): ReturnType<PrefetchMemory['exportPlan']> {
    return this.pm.exportPlan();
  }

  /** The copier's copy for the next sample (used when it was taken with the plan of now). */
  supply(copy: CopierCopy | null): void {
    this.supplied = copy;
  }

  /** A copier copies it at its own ticks: it is sampled when a copy of it comes, not at other threads' ticks. */
  awaitsCopies = false;

  /** A copy is supplied for its next sample. */
  get hasSupply(): boolean {
    return this.supplied !== null;
  }

  /** The copy supplied for the next sample was taken at a tick of the thread's CPU time: it was running. */
  get suppliedRunning(): boolean {
    return this.supplied?.still === true;
  }

  /** Whether the last sample walked the copier's copy. */
  takeCopierUsed(): boolean {
    const used = this.copierUsed;
    this.copierUsed = false;
    return used;
  }

  /** A walk planned from earlier ones exists (what prime() rehearses). */
  get planned(): boolean {
    return this.pm.planned;
  }

  /** One sample: copy, then resolve with the thread running again. */
  sample(dueNs?: number): SampleResult {
    const { pid, opts, natives, discovery } = this.shared;
    const tid = this.tid;
    const rt = this.runtime;
    const native = opts.native === true;
    const now = performance.now();
    const wantDiscovery = discovery !== null && !discovery.followsRunning && now >= this.nextDiscovery;
    if (wantDiscovery) this.nextDiscovery = now + this.rediscoverMs;
    // Copies with its call chain stopped coming: plans hold the chain's records again.
    if (this.supplied === null && ++this.samplesWithoutCopy > CHAINLESS_SAMPLES) this.pm.leaveChained = false;
    if (rt && this.copiesRunning(rt)) {
      const s = this.sampleInstant(rt, wantDiscovery, dueNs);
      if (s !== NEEDS_STOP) return s;
    }
    this.supplied = null;
    // Built (maps read, objects opened) before the pause, never during it.
    if (native || wantDiscovery) natives.tools();
    if (!opts.idle) {
      // A sleeping thread is idle: leave it be, without stopping it at all.
      const state = this.stat.state();
      if (isAsleep(state))
        return {
          tid,
          pid,
          pauseUs: 0,
          offCpu: false,
          idle: true,
          frames: [],
          luaFrames: [],
          truncated: false,
        };
    }
    const copy = this.copyPaused(rt, wantDiscovery);
    const base = { tid, pid, pauseUs: copy.pauseUs, offCpu: copy.offCpu, idle: copy.idle };
    if (copy.idle && !opts.idle) return { ...base, frames: [], luaFrames: [], truncated: false };
    let luaFrames: LuaFrame[] = [];
    let truncated = false;
    let gc = false;
    let cfuncs: (number | undefined)[] = [];
    if (rt && copy.raw) {
      const hosted = !native && discovery?.runsNothing(copy.raw) ? this.runningCoroutine(rt) : null;
      ({ frames: luaFrames, truncated, gc, cfuncs } = hosted ?? rt.resolve(copy.raw));
    }
    let stack: NativeStack | null = null;
    if (!this.stack && copy.stack) natives.forgetStack(this); // a new thread's stack: re-read the maps
    if (copy.stack && copy.regs) {
      const hints = native && rt && copy.raw ? rt.nativeHints?.(copy.raw, this.shared.mem) : undefined;
      stack = natives.unwind(copy.regs, copy.stack, hints);
      const outermost = stack.frames[stack.frames.length - 1];
      // Outer frames sit still while inner ones run: reading them after the pause is as good as a copy.
      if (outermost && native)
        this.nativeCopy = Math.min(
          NATIVE_STACK_BYTES,
          Math.max(NATIVE_STACK_MIN, (outermost.cfa || outermost.sp) - copy.stack.addr + NATIVE_STACK_MARGIN),
        );
    }
    if (copy.discover && stack && copy.stack) this.learn(stack, copy.stack);
    let frames: Frame[];
    if (native && stack) frames = natives.mixed(stack, luaFrames, cfuncs, gc);
    else frames = luaFrames;
    frames = withSyntheticFrames(frames, { gc: gc && !(native && stack), idle: copy.idle, truncated });
    return { ...base, frames, luaFrames, truncated };
  }

  /**
   * The thread is sampled without stopping it (see the header). A runtime that needs registers
   * (LuaJIT) takes them from the switch-out the sampler's wake-up causes (os/switch-regs.ts).
   */
  private copiesRunning(rt: LuaRuntime): boolean {
    const opts = this.shared.opts;
    if (opts.blocking === true) return false;
    // --native: only a copy with the registers and stack top of its tick (else the thread is stopped).
    if (opts.native === true) return rt.wantsRegs !== true && this.supplied?.user != null;
    return rt.wantsRegs !== true || this.switchRegsOf() !== null;
  }

  /**
   * A sample of the running thread: copy at the due instant (the plan three times over, in one system
   * call), walk the first pass, and when its innermost frames prove torn walk the next, taken µs later:
   * taking a copy again later would move the sample away from short calls. Frames still torn are cut
   * and the frames under the tear are the sample (marked [torn]). A copy taken while the thread was
   * off its CPU shows where the scheduler left it (with lazy preemption: mostly at system call exits),
   * so it is left out as off-CPU, like a slow stop.
   */
  private sampleInstant(rt: LuaRuntime, wantDiscovery: boolean, dueNs = 0): SampleResult | typeof NEEDS_STOP {
    const { pid, opts, discovery } = this.shared;
    if (!this.pm.planned) this.plan(rt);
    const perRequest = this.perRequest;
    const supplied = this.supplied;
    this.supplied = null;
    for (let attempt = 1; attempt <= INSTANT_ATTEMPTS; attempt++) {
      // The copier's copy, taken on the thread's CPU when due; else one taken now (racing with the
      // thread unless the sampler woke on its CPU).
      const copied = attempt === 1 && supplied !== null && this.beginOnCopy(supplied);
      // Its copies come with its call chain, whose records plans leave out: a copy taken here would
      // lack them, and its walk would miss them all. The sample is given up unless the thread slept.
      const chainless = !copied && this.pm.leaveChained;
      // On the thread's own CPU the thread stands still while it is copied: one pass is enough.
      const onItsCpu = copied || (this.wakesOnItsCpu && samplerAffinity.isPinned && attempt === 1);
      let from: number;
      let to: number;
      if (copied) ({ fromNs: from, toNs: to, dueNs } = supplied);
      else if (chainless) from = to = monotonicNs();
      else {
        from = monotonicNs();
        this.pm.begin(null, onItsCpu ? 1 : INSTANT_PASSES);
        to = monotonicNs();
      }
      this.copierUsed = copied;
      const cpu =
        copied && supplied.still === true ? 'still' : this.cpuState(from, to, attempt === 1 ? dueNs : 0);
      // Registers of the instant: the switch-out that took the thread off its CPU for the copy. A
      // thread that ran during the copy has none that match it. Where the sampler does not wake on
      // the thread's CPU (several threads copied at once) the sample takes a stop; where it does and
      // the thread had moved to another CPU, the sample is dropped: a stop lands late, at the next
      // system call, and would give the system call samples that are not its own.
      const regs = rt.wantsRegs ? this.regsOfStill(cpu, from, attempt === 1 ? dueNs : 0) : null;
      if (rt.wantsRegs && !regs && (cpu === 'on' || cpu === 'still')) {
        samplerAffinity.release();
        this.pm.discard();
        return onItsCpu ? this.frameless(false, false, true) : NEEDS_STOP;
      }
      // A host that resumes a new coroutine per request: the copy rarely holds the coroutine of this
      // very request. While the sampler holds the thread's CPU the thread stands still, so the walk
      // runs now and reads what the copy lacks straight from the thread (one moment still).
      // The same for a copy read with the instant's registers while the running coroutine keeps
      // changing (a host that makes one per request, at a new address each time): a miss after the
      // thread runs again would lose the sample, the registers being of this instant only. Only
      // then: a walk that holds the thread makes the sampler late, and a late sampler's next sample
      // lands where this one was (hot +8..+10 points of the system-calls fixture when every miss of
      // a grown stack led to such walks).
      const walkStill = perRequest || (regs !== null && this.pinnedWalksLeft > 0);
      const walkedStill = onItsCpu && cpu === 'still' && walkStill ? this.walkRunning(rt, regs) : null;
      if (regs && !perRequest) this.noteRunningThread(rt, walkedStill !== null);
      // Off the thread's CPU (if the sampler was moved there to take it): the thread runs again.
      samplerAffinity.release();
      const sleeping = cpu === 'sleeping';
      if (cpu === 'preempted' || (sleeping && !opts.idle)) {
        this.pm.discard();
        return this.frameless(!sleeping, sleeping);
      }
      if (chainless) return this.frameless(false, false, true);
      this.pm.detached();
      // A pass counts when the next one, µs later, shows the same chain (no call or return landed
      // while either was read) and its frames pass the tear checks; else the one that kept most.
      const walks: { raw: unknown }[] = [walkedStill ?? this.walkRunning(rt, regs)];
      let missed = this.pm.missedWhileStrict;
      while (!missed && this.pm.useNextCopy()) {
        walks.push(this.walkRunning(rt));
        missed = this.pm.missedWhileStrict;
      }
      let best: { raw: unknown; resolved: ResolvedLua; pass: number } | null = null;
      let resolves = 0;
      for (let pass = 0; !missed && pass < walks.length && resolves < MAX_RESOLVES; pass++) {
        const raw = walks[pass].raw;
        const next = walks[pass + 1]?.raw;
        // A copy taken while the thread stood switched out is of one moment.
        const stable =
          (pass === 0 && cpu === 'still') ||
          (next !== undefined && raw !== null && next !== null && rt.sameChain?.(raw, next) !== false);
        if (raw === null || (!stable && pass + 1 < walks.length)) continue;
        // The last pass, unlike the one before it. Calls and returns during a copy are common and
        // cut where the tear checks find them; a coroutine switch during it mixes two threads' frames
        // that each look whole: then only the frames both passes show are kept.
        const prev = walks[pass - 1]?.raw;
        if (!stable && prev !== undefined && prev !== null && rt.sameThreads?.(prev, raw) === false) {
          rt.keepOutermost?.(raw, rt.agreedFrames?.(prev, raw) ?? 0);
        }
        const resolved = rt.resolve(raw, this.pm);
        resolves++;
        if (!best || resolved.frames.length > best.resolved.frames.length) best = { raw, resolved, pass };
        if (!resolved.torn && rt.torn?.(raw) !== true) break;
      }
      this.pm.end();
      if (missed && perRequest) {
        // The coroutine of a request the copy did not hold (a new one every request, mostly at new
        // addresses): a copy planned now would find the next request's. Read from the thread at once
        // instead, twice; the sample when both show the same chain.
        const raw = this.walkLiveTwice(rt);
        if (raw === null) return this.frameless(false, false, true);
        best = { raw, resolved: rt.resolve(raw), pass: 1 };
      } else if (missed && regs) {
        // The registers belong to this instant: a copy taken again would not match them.
        if (walkedStill === null) this.noteRunningThread(rt, false);
        return this.frameless(false, false, true);
      } else if (missed && copied && this.pm.leaveChained) {
        // No copy taken here holds the chain's records (see chainless): plan from this very copy,
        // what it lacks read from the thread, and give the sample up.
        this.plan(rt, supplied);
        return this.frameless(false, false, true);
      } else if (missed) {
        // A stack shape the plan did not cover: plan it and copy again (rare once the plan has settled).
        this.plan(rt);
        // --native: a copy taken now would not match the tick's registers and stack; a stop's do.
        if (supplied?.user) return NEEDS_STOP;
        continue;
      } else if (copied && cpu === 'on' && best?.resolved.torn) {
        // The copier's copy raced the thread (it had moved to another CPU): copied again, in passes.
        continue;
      }
      if (!best) return this.frameless(false, false, true);
      // Nothing running where the host keeps its requests' coroutines: the host is between two
      // requests (its own code, no Lua). Their stack words are searched again now and then only, in
      // case the host moved them: a stop lands late, at the next system call, and a sample of the
      // host's own time taken that way would land in whatever request follows.
      const search =
        discovery?.runsNothing(best.raw) === true &&
        (!perRequest || performance.now() >= this.nextCoroutineSearch);
      const hosted = search ? this.runningCoroutine(rt) : null;
      if (hosted) best.resolved = hosted;
      // A host driving the state from C may resume coroutines the walk cannot see: its native stack
      // says which, and reading it takes a stop (a few times a second at most).
      else if (wantDiscovery && discovery?.looksHosted(best.raw)) this.discover();
      const { frames, truncated, gc, cfuncs, torn: cut } = best.resolved;
      const user = supplied?.user;
      if (frames.length === 0 && !user) return this.frameless(false, sleeping, cut === true);
      const laterPass = best.pass > 0;
      const all = user
        ? withSyntheticFrames(this.mixedAt(rt, best.raw, user, frames, cfuncs, gc), {
            gc: false,
            idle: sleeping,
            truncated,
            torn: cut,
          })
        : withSyntheticFrames(frames, { gc, idle: sleeping, truncated, torn: cut });
      return {
        tid: this.tid,
        pid,
        pauseUs: 0,
        offCpu: false,
        idle: sleeping,
        frames: all,
        luaFrames: frames,
        truncated,
        laterPass,
        tornCut: cut === true,
      };
    }
    return this.frameless(false, false, true);
  }

  /** A sample without frames (built only when one is: the usual sample has frames). */
  private frameless(offCpu: boolean, idle: boolean, torn?: boolean): SampleResult {
    const r: SampleResult = {
      tid: this.tid,
      pid: this.shared.pid,
      pauseUs: 0,
      frames: [],
      luaFrames: [],
      truncated: false,
      offCpu,
      idle,
    };
    if (torn !== undefined) r.torn = torn;
    return r;
  }

  /** --native on a tick's copy: the native stack of that tick (registers and stack top), the Lua frames spliced in. */
  private mixedAt(
    rt: LuaRuntime,
    raw: unknown,
    user: UserSample,
    luaFrames: LuaFrame[],
    cfuncs: (number | undefined)[],
    gc: boolean,
  ): Frame[] {
    const natives = this.shared.natives;
    const hints = rt.nativeHints?.(raw, this.shared.mem);
    return natives.mixed(natives.unwind(user.regs, user.stack, hints), luaFrames, cfuncs, gc);
  }

  /** A walk with registers ran: a new running coroutine starts (or extends) the walks that hold the thread. */
  private noteRunningThread(rt: LuaRuntime, walkedStill: boolean): void {
    const running = rt.runningThread?.() ?? 0;
    if (running !== 0 && running !== this.lastRunningThread) this.pinnedWalksLeft = PINNED_WALKS;
    else if (walkedStill) this.pinnedWalksLeft--;
    this.lastRunningThread = running;
  }

  /** The registers the thread was switched out with for a copy of one moment (null for any other copy). */
  private regsOfStill(cpu: CpuState | 'still', from: number, dueNs: number): Registers | null {
    if (cpu !== 'still') return null;
    const regs = this.switchRegsOf()?.at(dueNs > 0 ? dueNs : from - WOKEN_OUT_NS, from) ?? null;
    return regs as Registers | null;
  }

  /** The Lua walk on the copy just taken (strict: a read outside it is a miss). */
  private walkRunning(rt: LuaRuntime, regs: Registers | null = null): { raw: unknown } {
    try {
      return { raw: rt.capture(this.pm, regs ?? undefined, this.hosted) };
    } catch (e) {
      if (!(e instanceof CaptureError) && !this.pm.missedWhileStrict) throw e;
      if (e instanceof StateGoneError) this.stateGone = true;
      return { raw: null };
    }
  }

  /** Whether a walk since the last call found the thread's state closed (sampler/lua/runtime.ts StateGoneError). */
  takeStateGone(): boolean {
    const gone = this.stateGone;
    this.stateGone = false;
    return gone;
  }

  /** The thread has exited: its /proc entry is gone, or only its zombie is left. */
  get ended(): boolean {
    const state = this.stat.state();
    return state === null || state === 'Z' || state === 'X';
  }

  /** Two walks straight from the running thread, µs apart: the second, when both show the same chain. */
  private walkLiveTwice(rt: LuaRuntime): unknown {
    const first = this.walkLive(rt);
    const second = first === null ? null : this.walkLive(rt);
    return second !== null && rt.sameChain?.(first, second) !== false ? second : null;
  }

  /** A walk straight from the running thread (what the plan holds is copied first, in one read). */
  private walkLive(rt: LuaRuntime): unknown {
    this.pm.begin(null, 1);
    try {
      return rt.capture(this.pm, undefined, this.hosted);
    } catch (e) {
      if (e instanceof CaptureError) return null;
      throw e;
    } finally {
      this.pm.end();
    }
  }

  /** Serves the walk from a copier's copy, with the call chain it came with; false when it cannot. */
  private beginOnCopy(copy: CopierCopy): boolean {
    return this.pm.beginFrom(copy.bytes, copy.planVersion, copy.chain ?? null, this.callChain());
  }

  /**
   * One walk, to learn what the next copies take (nothing is kept): straight from the running target,
   * or on `copy` with what it lacks read from the target.
   */
  private plan(rt: LuaRuntime, copy: CopierCopy | null = null): void {
    // On a copier's copy, its call chain serves the records (which no plan holds then).
    if (copy === null || !this.beginOnCopy(copy)) this.pm.begin(null, 1);
    try {
      rt.capture(this.pm, undefined, this.hosted);
    } catch {
      /* racy reads of a running target: only what they read matters here */
    } finally {
      this.pm.end();
    }
  }

  /**
   * Where the thread was while [from, to] (CLOCK_MONOTONIC ns) passed: the kernel's switch records,
   * else /proc. 'still': switched out by the sampler's wake-up and out all along (a copy of one moment).
   */
  private cpuState(from: number, to: number, dueNs: number): CpuState | 'still' {
    if (this.oncpu === undefined) this.oncpu = OnCpuTracker.open(this.tid);
    const st = this.oncpu?.stateDuring(from, to) ?? 'unknown';
    // Switched out after the sample was due: the sampler's own wake-up took the thread's CPU (as a
    // real-time thread it takes it at once, not at the thread's next system call), and the copy shows
    // where it was at the sampling instant; when it stayed out while copied, the copy is of one moment.
    // That holds however long the sampler took over other threads first (a second process's thread
    // waits, switched out, while the first is walked). Switched out before the sample was due (the
    // sampler's move onto its CPU took it): off its CPU at that instant. With no due time known, only a
    // switch just before the copy is taken for the sampler's.
    const switchedAt = this.oncpu?.switchedAt ?? 0;
    if (st === 'preempted' && switchedAt >= dueNs && (dueNs > 0 || from - switchedAt <= WOKEN_OUT_NS))
      return this.oncpu!.switchedDuring ? 'on' : 'still';
    if (st !== 'unknown') return st;
    const letter = this.stat.state();
    return isAsleep(letter) ? 'sleeping' : 'on';
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
        if (idle && !opts.idle)
          return { raw: null, discover: false, regs, stack: null, idle, walkPending: false };
        // --native: the stack copy rides in the same batched read as the Lua spans.
        const range = regs && native ? natives.range(this, regs, this.nativeCopy) : null;
        const bytes = rt ? this.pm.begin(range, 1) : range && mem.read(range.addr, range.len);
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
    return {
      raw: copy.raw,
      discover: copy.discover,
      regs: copy.regs,
      stack: copy.stack,
      idle: copy.idle,
      pauseUs,
      offCpu: stopUs > OFF_CPU_STOP_US,
    };
  }

  /**
   * The Lua part of a sample, read through the thread's prefetching memory (after its begin()): inside
   * a pause, or after it from the pause's copy (then `missed` says the copy lacked something).
   */
  private walkLua(
    rt: LuaRuntime,
    regs: Registers | null,
    wantDiscovery: boolean,
  ): LuaCopy & { missed?: boolean } {
    let raw: unknown = null;
    let discover = false;
    let missed: boolean;
    try {
      raw = rt.capture(this.pm, rt.wantsRegs && regs ? regs : undefined, this.hosted);
      discover =
        wantDiscovery &&
        raw !== null &&
        this.shared.discovery !== null &&
        this.shared.discovery.looksHosted(raw);
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
    const wait = this.runtime
      ? this.rediscoverMs
      : Math.min(NO_LUA_REDISCOVER_MS, NO_LUA_REDISCOVER_FIRST_MS * 2 ** this.noLuaDiscoveries++);
    this.nextDiscovery = performance.now() + wait;
    natives.forgetStack(this);
    searchStops++;
    const { value } = pauseThread(this.tid, () => {
      const regs = getRegs(this.tid);
      return { regs, stack: natives.copy(this, regs, DISCOVERY_STACK_BYTES) };
    });
    if (value.stack) this.learn(natives.unwind(value.regs, value.stack), value.stack);
  }

  /**
   * The coroutine a host resumed from C and runs now, when the state itself runs nothing (or when no
   * state of the thread is known yet): servers resume a new coroutine per request, gone before any
   * cache could know it. It is found in a stop, among the words the thread's registers and the top of
   * its stack point at, and walked there; the coroutines found are remembered, and so are the stack
   * words that held them: the next request's coroutine, in the same words, is read with the copy of
   * the running thread, without a stop. A thread seen running a state's coroutine runs that state
   * from then on.
   */
  private runningCoroutine(rt: LuaRuntime | null): ResolvedLua | null {
    const { natives, discovery, mem } = this.shared;
    if (!discovery) return null;
    natives.tools();
    searchStops++;
    const { value } = pauseThread(this.tid, () => {
      const regs = getRegs(this.tid);
      const stack = natives.copy(this, regs, HOSTED_STACK_BYTES);
      const found = stack ? discovery.runningThreads(regs, stack, natives.maps, rt?.G) : null;
      if (!found || !stack) return null;
      for (const L of found.threads) this.hosted.rememberSlots(L, stack);
      const runtime = rt ?? discovery.runtimeFor(found.main, found.G);
      try {
        return {
          found,
          runtime,
          raw: runtime.capture(mem, runtime.wantsRegs ? regs : undefined, {
            coroutines: found.threads,
            slots: [],
          }),
        };
      } catch (e) {
        if (e instanceof CaptureError) return { found, runtime, raw: null };
        throw e;
      }
    });
    this.nextCoroutineSearch = performance.now() + REDISCOVER_MS;
    if (!value) return null;
    this.runtime ??= value.runtime;
    for (const L of value.found.threads) this.hosted.remember(L);
    if (!value.raw) return null;
    const resolved = value.runtime.resolve(value.raw);
    return resolved.frames.length ? resolved : null;
  }

  /**
   * A sample of a thread none of whose states is known yet, on a CPU now: it may be running a
   * coroutine its host resumed from C. Threads that never do (a server's other threads) are looked at
   * less and less often, down to one sample in SEARCH_BACKOFF_MAX.
   */
  sampleSearching(): SampleResult | null {
    if (this.searchSkip > 0) {
      this.searchSkip--;
      return null;
    }
    const state = this.stat.state();
    if (state !== 'R') return null;
    const resolved = this.runningCoroutine(null);
    if (!resolved) {
      this.fruitlessSearches++;
      this.searchSkip = Math.min(SEARCH_BACKOFF_MAX, 2 ** this.fruitlessSearches) - 1;
      return null;
    }
    this.fruitlessSearches = 0;
    const { frames, truncated, gc, torn } = resolved;
    return {
      tid: this.tid,
      pid: this.shared.pid,
      pauseUs: 0,
      offCpu: false,
      idle: false,
      frames: withSyntheticFrames(frames, { gc, idle: false, truncated, torn }),
      luaFrames: frames,
      truncated,
    };
  }

  private learn(stack: NativeStack, copy: StackCopy): void {
    const { natives, discovery } = this.shared;
    const learned = discovery?.learn(this, stack.frames, copy, natives.maps, natives.names(stack.frames));
    this.rediscoverMs = learned ? REDISCOVER_MS : Math.min(2 * this.rediscoverMs, REDISCOVER_MAX_MS);
    if (this.runtime) this.nextDiscovery = performance.now() + this.rediscoverMs;
  }

  /** The thread's state is gone or was forgotten: it is searched for one at its next sample. */
  searchAgainNow(): void {
    this.nextDiscovery = 0;
    this.rediscoverMs = REDISCOVER_MS;
  }

  /** One sample's walk on the running target; racy, so nothing it reads shapes the next pause's copy. */
  rehearse(): void {
    const rt = this.runtime;
    // A copy of a running thread has no pause to keep short: rehearsing would only cost CPU.
    if (!rt || this.copiesRunning(rt)) return;
    this.pm.begin();
    try {
      rt.resolve(rt.capture(this.pm, undefined, this.hosted));
    } catch {
      /* a torn read of a running target: expected here */
    } finally {
      this.pm.discard();
    }
  }
}
