/**
 * A Lua process being profiled: detection of its runtime, the states of its threads, the
 * pause-copy-release cycle of one sample, and the guarantee that every pause ends in a detach.
 *
 * Each thread is sampled on its own: its lua_State is found on its own (a global of the binary, the
 * Lua API frames of its native stack, or a heap scan), coroutines that the host resumes from C are
 * learnt from the lua_resume/interpreter frames of its native stack, and with `--native` the native
 * stack (registers + the top of the stack, copied while stopped) is unwound after the thread runs again
 * and the Lua frames are spliced in.
 */
import { readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Frame } from '../aggregator/profile.js';
import { LuaprofError, permissionHint } from './errors.js';
import { detectLua, luaBinaries, type LuaDetection } from './lua/detect.js';
import type { LuaFrame } from './lua/frames.js';
import { attachRuntime } from './lua/attach.js';
import { PucRuntime, type LuaRuntime } from './lua/runtime.js';
import { layoutFor } from './lua/layouts.js';
import type { PucLayout } from './lua/layout.js';
import { CaptureError, PucCapture, type RawLuaStack } from './lua/puc/capture.js';
import { heapScan, isActiveThread, statesOnStack } from './lua/puc/apiframes.js';
import { NativeUnwinder, Symbolizer, type NativeFrame } from './native/index.js';
import { getRegs } from './os/ptrace.js';
import type { Registers } from './os/registers.js';
import { isExiting, pauseThread, TargetGoneError } from './pause.js';
import { listThreads, processExists, readMaps, ThreadStat } from './os/procfs.js';
import { findMapping, type Mapping } from './os/maps.js';
import { u64 } from './os/memory.js';
import { PrefetchMemory, RemoteMemory, type Range } from './os/remote-memory.js';
import { isInternalName, splice, type NativeSym, type SpliceLua } from './splice.js';
import type { SampleResult, TargetOptions } from './sample.js';
import { GC_FRAME, JIT_TRACE_LABEL, withSyntheticFrames } from './synthetic-frames.js';

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
const THREAD_LIST_MS = 500;
const MAX_EXTRAS = 8;

const KGC_GEN = 1;
const GCS_PROPAGATE = 0;


interface ThreadCtx {
  tid: number;
  runtime: LuaRuntime | null;
  /** Coroutines this thread's host resumes from C (lua_resume), learnt from its native stack. */
  extras: number[];
  nextDiscovery: number;
  stack: { start: number; end: number } | null;
  pm: PrefetchMemory;
  /** --native: bytes of stack the next pause copies (adapted to what the last unwind used). */
  nativeCopy: number;
  stat: ThreadStat;
}

interface PauseCopy {
  raw: unknown;
  /** Read only when something needs them (native stacks, discovery, --idle, LuaJIT): GETREGS costs pause time. */
  regs: Registers | null;
  stack: { addr: number; bytes: Buffer } | null;
  gc: boolean;
  idle: boolean;
  discover: boolean;
  /** The pause copied the planned ranges; the Lua walk runs on that copy after the detach. */
  walkPending?: boolean;
}

/**
 * The thread stopped inside a system call (orig_rax holds its number; user code shows -1) that the stop
 * interrupted (rax holds -ERESTARTSYS or -EINTR, which getRegs reads as -1 like every value past 2^53).
 */
function isBlockedInKernel(regs: Registers): boolean {
  return regs.orig_rax >= 0 && regs.rax === -1;
}

export class Target {
  private readonly threads = new Map<number, ThreadCtx>();
  private readonly runtimes = new Map<number, LuaRuntime>();
  private readonly layout: PucLayout | null;
  private readonly cap: PucCapture | null;
  private readonly gcFlagOffset: number | null;
  private unwinder: NativeUnwinder | null = null;
  private symbolizer: Symbolizer | null = null;
  private readonly sizes = new Map<number, number>();
  private nextThreadList = 0;
  private readonly coreModule: string;
  readonly native: boolean;
  /** Samples whose walk needed more than the pause had copied, and so paused the thread again. */
  repauses = 0;

  private constructor(
    readonly pid: number,
    readonly detection: LuaDetection,
    readonly mem: RemoteMemory,
    private readonly opts: TargetOptions,
    private primary: LuaRuntime | null,
    layout: PucLayout | null,
  ) {
    this.native = opts.native === true;
    this.layout = layout;
    this.cap = layout ? new PucCapture(layout) : null;
    // 5.4.3+: global_State.gcstopem (two bytes after gcstate) is set while the collector runs a step.
    const rel = layout?.releases.map((r) => r.split('.').map(Number)) ?? [];
    this.gcFlagOffset = layout && layout.family === '5.4' && rel.every((r) => r[2] >= 3) ? layout.global.gcstate + 2 : null;
    this.coreModule = detection.file;
  }

  get luaVersion(): string {
    return this.primary?.version ?? (this.detection.flavour === 'luajit' ? `LuaJIT ${this.detection.version}` : `Lua ${this.detection.version}`);
  }

  /** The (first) runtime found; kept for callers that sample one state. */
  get runtime(): LuaRuntime {
    return this.primary!;
  }

  /** Thread ids being sampled. */
  tids(): number[] {
    return [...this.threads.keys()];
  }

  /** Detects the runtime and finds its state(s); throws LuaprofError with a one-line reason. */
  static attach(pid: number, opts: TargetOptions = {}): Target {
    if (!processExists(pid)) throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
    const mem = new RemoteMemory(pid);
    checkAccess(pid);
    const detected = detectLua(pid);
    if (!detected && !opts.version) throw new LuaprofError('noLua', `no Lua found in process ${pid} (no Lua version string in its executable or libraries)`);
    const detection: LuaDetection = opts.version ? forcedVersion(opts.version, detected) : detected!;
    const maps = readMaps(pid);
    checkReadable(mem, pid, maps);
    let primary: LuaRuntime | null = null;
    let noLua: LuaprofError | null = null;
    const layout = detection.flavour === 'puc' ? layoutFor(detection.version) : null;
    try {
      primary = attachRuntime({
        pid,
        mem,
        maps,
        binaries: luaBinaries(pid),
        detection,
        withMainStopped: (fn) => pauseThread(pid, () => fn(getRegs(pid))).value,
      });
    } catch (e) {
      // A host may keep its states where no global points (threads, heap objects): look on the stacks.
      if (!(e instanceof LuaprofError && e.kind === 'noLua' && layout)) throw e;
      noLua = e;
    }
    const t = new Target(pid, detection, mem, opts, primary, layout);
    t.initThreads(noLua);
    return t;
  }

  private initThreads(noLua: LuaprofError | null): void {
    const all = listThreads(this.pid);
    const chosen = this.opts.threads ? all.filter((t) => this.opts.threads!.includes(t)) : all;
    if (this.opts.threads && chosen.length === 0) {
      throw new LuaprofError('badArguments', `process ${this.pid} has none of the threads ${this.opts.threads.join(',')} (it has ${all.join(',')})`);
    }
    if (this.primary) this.runtimes.set(runtimeG(this.primary), this.primary);
    for (const tid of chosen) this.threads.set(tid, this.newCtx(tid));
    this.nextThreadList = performance.now() + THREAD_LIST_MS;
    const single = all.length === 1;
    // The state found in a global runs on the main thread of a single-threaded process; otherwise every
    // thread's native stack says which state it runs.
    if (this.layout && (!single || !this.primary)) {
      for (const ctx of this.threads.values()) {
        try {
          this.discoverNow(ctx);
        } catch (e) {
          if (e instanceof TargetGoneError) continue;
          throw e;
        }
      }
    }
    const claimed = new Set([...this.threads.values()].map((c) => (c.runtime ? runtimeG(c.runtime) : 0)));
    const main = this.threads.get(this.pid);
    if (this.primary && main && !main.runtime && !claimed.has(runtimeG(this.primary))) main.runtime = this.primary;
    if (this.primary && !this.layout) {
      // LuaJIT: its walker follows the running thread (cur_L) of the one global state.
      for (const ctx of this.threads.values()) if (ctx.tid === this.pid) ctx.runtime = this.primary;
    }
    if (![...this.threads.values()].some((c) => c.runtime) && this.layout) {
      const r = heapScan(this.mem, this.layout, readMaps(this.pid));
      (this.opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(
        `luaprof: heap scan for lua_State: ${r.states.length} found in ${r.ms.toFixed(0)} ms, ${(r.bytes / 1048576).toFixed(1)} MB scanned`,
      );
      const ctx = main ?? [...this.threads.values()][0];
      if (r.states.length && ctx) ctx.runtime = this.runtimeFor(r.states[0].L, r.states[0].G);
    }
    if (![...this.threads.values()].some((c) => c.runtime)) {
      throw noLua ?? new LuaprofError('noLua', `no lua_State found in process ${this.pid}`);
    }
    if (!this.primary) this.primary = [...this.threads.values()].find((c) => c.runtime)!.runtime;
  }

  private newCtx(tid: number): ThreadCtx {
    return {
      tid,
      runtime: null,
      extras: [],
      nextDiscovery: 0,
      stack: null,
      pm: new PrefetchMemory(this.mem),
      nativeCopy: NATIVE_STACK_BYTES,
      stat: new ThreadStat(this.pid, tid),
    };
  }

  private dropThread(tid: number): void {
    this.threads.get(tid)?.stat.close();
    this.threads.delete(tid);
  }

  /** Closes the /proc files kept open per thread. */
  close(): void {
    for (const tid of [...this.threads.keys()]) this.dropThread(tid);
  }

  private runtimeFor(main: number, G: number): LuaRuntime {
    let rt = this.runtimes.get(G);
    if (!rt) {
      rt = new PucRuntime(this.luaVersion, this.layout!, main, G, this.mem);
      this.runtimes.set(G, rt);
    }
    return rt;
  }

  private nativeTools(): { unwinder: NativeUnwinder; symbolizer: Symbolizer } {
    if (!this.unwinder) {
      this.unwinder = new NativeUnwinder(this.pid, this.mem);
      this.symbolizer = new Symbolizer(this.pid, this.mem, { modules: this.unwinder.modules });
    }
    return { unwinder: this.unwinder, symbolizer: this.symbolizer! };
  }

  /** Stops the thread, copies registers and stack, lets it go, and looks for states on its stack. */
  private discoverNow(ctx: ThreadCtx): void {
    ctx.nextDiscovery = performance.now() + (ctx.runtime ? REDISCOVER_MS : NO_LUA_REDISCOVER_MS);
    this.ensureStackMap(ctx, true);
    const { value } = pauseThread(ctx.tid, () => {
      const regs = getRegs(ctx.tid);
      return { regs, stack: this.copyStack(ctx, regs, DISCOVERY_STACK_BYTES) };
    });
    if (value.stack) this.learn(ctx, this.unwind(value.regs, value.stack).frames, value.stack);
  }

  /** Records the states found on a thread's native stack: its runtime, and coroutines it resumes from C. */
  private learn(ctx: ThreadCtx, frames: NativeFrame[], stack: { addr: number; bytes: Buffer }): void {
    if (!this.layout) return;
    const names = this.symbolizer ? this.symbolizer.symbolizeFrames(frames).map((s) => s.name) : undefined;
    const found = statesOnStack(this.mem, this.layout, frames, stack, this.unwinder!.modules.maps, names);
    for (const s of found) {
      if (!ctx.runtime) ctx.runtime = this.runtimeFor(s.main, s.G);
      if (runtimeG(ctx.runtime) !== s.G) continue;
      if (s.L !== s.main && !ctx.extras.includes(s.L)) {
        ctx.extras.unshift(s.L);
        if (ctx.extras.length > MAX_EXTRAS) ctx.extras.pop();
      }
    }
  }

  private ensureStackMap(ctx: ThreadCtx, refresh: boolean): void {
    if (ctx.stack && !refresh) return;
    ctx.stack = null;
    if (this.unwinder || refresh) this.nativeTools().unwinder.refreshMaps();
  }

  /** The top of the stack, bounded by the end of the mapping holding rsp. */
  private stackRange(ctx: ThreadCtx, regs: Registers, max: number): Range | null {
    const rsp = regs.rsp;
    let end = ctx.stack && rsp >= ctx.stack.start && rsp < ctx.stack.end ? ctx.stack.end : 0;
    if (!end) {
      const m = findMapping(this.nativeTools().unwinder.modules.maps, rsp);
      if (m) {
        ctx.stack = { start: m.start, end: m.end };
        end = m.end;
      } else end = (Math.floor(rsp / 4096) + 1) * 4096;
    }
    const len = Math.min(max, end - rsp);
    return len > 0 ? { addr: rsp, len } : null;
  }

  /** The top of the stack (one process_vm_readv). */
  private copyStack(ctx: ThreadCtx, regs: Registers, max: number): { addr: number; bytes: Buffer } | null {
    const range = this.stackRange(ctx, regs, max);
    const bytes = range && this.mem.read(range.addr, range.len);
    return range && bytes ? { addr: range.addr, bytes } : null;
  }

  private unwind(regs: Registers, stack: { addr: number; bytes: Buffer }): { frames: NativeFrame[]; syms: NativeSym[] } {
    const { unwinder, symbolizer } = this.nativeTools();
    const frames = unwinder.unwind(regs, stack);
    const infos = symbolizer.symbolizeFrames(frames);
    const syms: NativeSym[] = infos.map((s, i) => {
      // LuaJIT's machine code lives in anonymous executable mappings; its traces have no symbols.
      if (s.module === '' && this.detection.flavour === 'luajit' && unwinder.modules.isExecutable(frames[i].pc)) {
        return { pc: frames[i].pc, label: JIT_TRACE_LABEL, module: '', internal: false, jit: true };
      }
      const core = s.module === this.coreModule || (s.module !== '' && path.basename(s.module) === path.basename(this.coreModule));
      const internal = core && (s.name === undefined || isInternalName(s.name));
      const sym: NativeSym = { pc: frames[i].pc, label: s.label, module: s.module, start: s.start, internal };
      if (internal && s.start !== undefined) sym.size = this.sizeOf(s.start);
      if (s.name !== undefined && !isInternalName(s.name) && !/^(lua_|luaL_|luaopen_)/.test(s.name)) sym.hostName = s.name;
      return sym;
    });
    return { frames, syms };
  }

  private sizeOf(start: number): number {
    let n = this.sizes.get(start);
    if (n === undefined) {
      n = 0;
      const l = this.unwinder!.modules.lookup(start);
      const fde = l?.mod.ehFrame()?.findFde(start - l.bias);
      if (fde) n = fde.end - fde.start;
      this.sizes.set(start, n);
    }
    return n;
  }

  /**
   * Runs the capture and resolve code on the running target (no pause; racy reads are validated and
   * their failures ignored) so that V8 has optimised it before the first real pause: otherwise the
   * first few hundred samples pause the target several times longer.
   */
  warmUp(iterations = 300, budgetMs = 40): void {
    // Bounded in time too: on a deep stack each pass is slow, and a short-lived target must not end
    // before the first sample.
    const deadline = performance.now() + budgetMs;
    for (const ctx of this.threads.values()) {
      const rt = ctx.runtime;
      if (!rt) continue;
      for (let i = 0; i < iterations && performance.now() < deadline; i++) this.rehearse(ctx, rt);
    }
  }

  /**
   * Runs one sample's code path on the running target just before a sample is due, without stopping
   * it, so that the pause that follows runs on warm caches: at 100 Hz a sampler that slept 10 ms
   * otherwise pauses the target several times longer than at 1000 Hz. Nothing it reads is kept.
   */
  prime(): void {
    for (const ctx of this.threads.values()) if (ctx.runtime && ctx.pm.planned) this.rehearse(ctx, ctx.runtime);
  }

  /** One sample's walk on the running target; racy, so nothing it reads shapes the next pause's copy. */
  private rehearse(ctx: ThreadCtx, rt: LuaRuntime): void {
    ctx.pm.begin();
    try {
      const raw = rt.capture(ctx.pm);
      if (this.cap && raw) this.captureExtras(ctx, raw as RawLuaStack);
      rt.resolve(raw);
    } catch {
      /* a torn read of a running target: expected here */
    } finally {
      ctx.pm.discard();
    }
  }

  /** Refreshes the thread list (new threads are searched for states as they come). */
  private refreshThreads(now: number): void {
    if (now < this.nextThreadList) return;
    this.nextThreadList = now + THREAD_LIST_MS;
    const live = new Set(listThreads(this.pid));
    for (const tid of [...this.threads.keys()]) if (!live.has(tid)) this.dropThread(tid);
    if (!this.opts.threads) for (const tid of live) if (!this.threads.has(tid)) this.threads.set(tid, this.newCtx(tid));
  }

  /** One tick: a sample of every sampled thread. Threads without Lua are skipped unless --native. */
  sampleAll(): SampleResult[] {
    const now = performance.now();
    this.refreshThreads(now);
    // Once the process is gone (or only its zombie is left) no thread remains to report it.
    if (this.threads.size === 0 && isExiting(this.pid)) throw new TargetGoneError(`process ${this.pid} exited`);
    const out: SampleResult[] = [];
    for (const ctx of [...this.threads.values()]) {
      if (!ctx.runtime && !this.native) {
        if (this.layout && now >= ctx.nextDiscovery) {
          try {
            this.discoverNow(ctx);
          } catch (e) {
            if (e instanceof TargetGoneError && ctx.tid !== this.pid) {
              this.dropThread(ctx.tid);
              continue;
            }
            throw e;
          }
        }
        if (!ctx.runtime) continue;
      }
      try {
        out.push(this.sampleThread(ctx));
      } catch (e) {
        if (e instanceof TargetGoneError && ctx.tid !== this.pid && processExists(this.pid)) {
          this.dropThread(ctx.tid);
          continue;
        }
        if (e instanceof TargetGoneError || e instanceof LuaprofError || !processExists(this.pid)) throw e;
        out.push({ tid: ctx.tid, pid: this.pid, frames: [], luaFrames: [], truncated: false, pauseUs: 0, offCpu: false, idle: false, error: true });
      }
    }
    return out;
  }

  /** One sample of one thread (default: the main thread): pause, copy, release, then resolve. */
  sample(tid = this.pid): SampleResult {
    let ctx = this.threads.get(tid);
    if (!ctx) {
      ctx = this.newCtx(tid);
      this.threads.set(tid, ctx);
    }
    if (!ctx.runtime && this.layout && !this.native) this.discoverNow(ctx);
    return this.sampleThread(ctx);
  }

  private sampleThread(ctx: ThreadCtx): SampleResult {
    const tid = ctx.tid;
    const rt = ctx.runtime;
    const now = performance.now();
    const wantDiscovery = this.layout !== null && now >= ctx.nextDiscovery;
    if (wantDiscovery) ctx.nextDiscovery = now + REDISCOVER_MS;
    // Built (maps read, objects opened) before the pause, never during it.
    if (this.native || wantDiscovery) this.nativeTools();
    if (!this.opts.idle) {
      // A sleeping thread is idle: leave it be, without stopping it at all.
      const state = ctx.stat.state();
      if (state === 'S' || state === 'D') return { tid, pid: this.pid, pauseUs: 0, offCpu: false, idle: true, frames: [], luaFrames: [], truncated: false };
    }
    const needRegs = this.native || wantDiscovery || this.opts.idle === true || rt?.wantsRegs === true;
    // Usually the pause only copies what the previous walk read, and the walk runs on that copy after
    // the thread is let go; discovery (it decides what to copy from what it finds) walks inside.
    const deferWalk = rt !== null && ctx.pm.planned && !wantDiscovery;
    let stopUs = 0;
    const pauseOnce = (defer: boolean) =>
      pauseThread(tid, (stoppedAfterUs): PauseCopy => {
        stopUs = stoppedAfterUs;
        const regs = needRegs ? getRegs(tid) : null;
        const idle = regs !== null && isBlockedInKernel(regs);
        if (idle && !this.opts.idle) return { raw: null, regs, stack: null, gc: false, idle, discover: false };
        // --native: the stack copy rides in the same batched read as the Lua spans.
        const range = regs && this.native ? this.stackRange(ctx, regs, ctx.nativeCopy) : null;
        const bytes = rt ? ctx.pm.begin(range) : range && this.mem.read(range.addr, range.len);
        let stack: PauseCopy['stack'] = range && bytes ? { addr: range.addr, bytes } : null;
        const lua = rt && !defer ? this.walkLua(ctx, rt, regs, wantDiscovery) : { raw: null, gc: false, discover: false };
        if (!stack && regs && lua.discover) stack = this.copyStack(ctx, regs, DISCOVERY_STACK_BYTES);
        return { ...lua, regs, stack, idle, walkPending: defer };
      });
    let { value: copy, pauseUs } = pauseOnce(deferWalk);
    if (copy.walkPending && rt) {
      ctx.pm.detached();
      const lua = this.walkLua(ctx, rt, copy.regs, false);
      if (lua.missed) {
        // The stack's shape changed beyond the copy: this sample walks inside a pause of its own.
        this.repauses++;
        const again = pauseOnce(false);
        copy = again.value;
        pauseUs += again.pauseUs;
      } else copy = { ...copy, ...lua };
    }
    const offCpu = stopUs > OFF_CPU_STOP_US;
    const base = { tid, pid: this.pid, pauseUs, offCpu, idle: copy.idle };
    if (copy.idle && !this.opts.idle) return { ...base, frames: [], luaFrames: [], truncated: false };
    let luaFrames: LuaFrame[] = [];
    let truncated = false;
    let cfuncs: (number | undefined)[] = [];
    if (rt && copy.raw) {
      ({ frames: luaFrames, truncated } = rt.resolve(copy.raw));
      if (this.cap) cfuncs = this.cfuncs(copy.raw as RawLuaStack);
    }
    let native: { frames: NativeFrame[]; syms: NativeSym[] } | null = null;
    if (!ctx.stack && copy.stack) this.ensureStackMap(ctx, true); // a new thread's stack: re-read the maps
    if (copy.stack && copy.regs) {
      native = this.unwind(copy.regs, copy.stack);
      const outermost = native.frames[native.frames.length - 1];
      // Outer frames sit still while inner ones run: reading them after the pause is as good as a copy.
      if (outermost && this.native) ctx.nativeCopy = Math.min(NATIVE_STACK_BYTES, Math.max(NATIVE_STACK_MIN, (outermost.cfa || outermost.sp) - copy.stack.addr + NATIVE_STACK_MARGIN));
    }
    if (copy.discover && native && copy.stack) this.learn(ctx, native.frames, copy.stack);
    let frames: Frame[];
    if (this.native && native) {
      const lua: SpliceLua[] = luaFrames.map((f, i) => ({ frame: f, cfunc: cfuncs[i], isLua: f.kind === 'lua' }));
      const coreUnnamed = !native.syms.some((n) => n.module === this.coreModule && n.label !== '' && !n.internal);
      frames = splice(native.syms, lua, copy.gc ? GC_FRAME : undefined, { coreUnnamed }).frames;
    } else frames = luaFrames.slice();
    frames = withSyntheticFrames(frames, { gc: copy.gc && !(this.native && native), idle: copy.idle, truncated });
    return { ...base, frames, luaFrames, truncated, ...(rt ? {} : { noLua: true }) };
  }

  /**
   * The Lua part of a sample, read through the thread's prefetching memory (after its begin()): inside
   * a pause, or after it from the pause's copy (then `missed` says the copy lacked something).
   */
  private walkLua(ctx: ThreadCtx, rt: LuaRuntime, regs: Registers | null, wantDiscovery: boolean): { raw: unknown; gc: boolean; discover: boolean; missed?: boolean } {
    let raw: unknown = null;
    let gc = false;
    let discover = false;
    let missed = false;
    try {
      raw = rt.capture(ctx.pm, rt.wantsRegs && regs ? regs : undefined);
      if (this.cap && raw) {
        const r = raw as RawLuaStack;
        this.captureExtras(ctx, r);
        if (this.gcFlagOffset !== null) {
          // [gcstate, gckind, gcstopem]: an incremental step sets gcstopem; a generational (young)
          // collection runs in the atomic and sweep states (between collections: propagate).
          const b = ctx.pm.read(r.G + this.gcFlagOffset - 2, 3);
          gc = b !== null && (b[2] !== 0 || (b[1] === KGC_GEN && b[0] !== GCS_PROPAGATE));
        }
        discover = wantDiscovery && this.looksHosted(r);
      }
    } catch (e) {
      if (!ctx.pm.missedWhileStrict) throw e;
    } finally {
      missed = ctx.pm.missedWhileStrict;
      ctx.pm.end();
    }
    return missed ? { raw: null, gc: false, discover: false, missed } : { raw, gc, discover };
  }

  /** Coroutines the host resumes from C that are running now, appended innermost (in learnt order). */
  private captureExtras(ctx: ThreadCtx, raw: RawLuaStack): void {
    if (ctx.extras.length === 0) return;
    const have = new Set(raw.threads.map((t) => t.L));
    for (const L of ctx.extras) {
      if (have.has(L)) continue;
      if (!isActiveThread(ctx.pm, this.layout!, L, raw.G)) continue;
      try {
        const more = this.cap!.capture(ctx.pm, L, raw.G);
        for (const t of more.threads) {
          if (have.has(t.L)) continue;
          have.add(t.L);
          raw.threads.push(t);
        }
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
      }
    }
  }

  /** The Lua stack looks driven by a host: no Lua frames, or a C function on top (it may call lua_resume). */
  private looksHosted(raw: RawLuaStack): boolean {
    const inner = raw.threads[raw.threads.length - 1];
    const top = inner?.frames[0];
    if (!top) return true;
    return top.funcTag === this.layout!.tags.lightC || top.funcTag === this.layout!.tags.cClosure;
  }

  /** C function address per resolved frame (same order as resolve's output: innermost thread first). */
  private cfuncs(raw: RawLuaStack): (number | undefined)[] {
    const tags = this.layout!.tags;
    const out: (number | undefined)[] = [];
    for (let t = raw.threads.length - 1; t >= 0; t--) {
      for (const f of raw.threads[t].frames) {
        if (f.funcTag === tags.lightC) out.push(f.funcValue);
        else if (f.funcTag === tags.cClosure && f.closure && f.closure.length >= this.layout!.closure.cf + 8) out.push(u64(f.closure, this.layout!.closure.cf));
        else out.push(undefined);
      }
    }
    return out;
  }
}

function runtimeG(rt: LuaRuntime): number {
  return (rt as unknown as { G: number }).G;
}

/** --lua-version: "5.4.4" or "luajit" / "luajit-2.1…". */
function forcedVersion(text: string, detected: LuaDetection | null): LuaDetection {
  const jit = /^luajit[- ]?(.*)$/i.exec(text);
  if (jit) return { flavour: 'luajit', version: jit[1] || detected?.version || '2.1', file: detected?.file ?? '' };
  return { flavour: 'puc', version: text, file: detected?.file ?? '' };
}

/** Another user's process hides its executable link from us: that is a permission problem, not "no Lua". */
function checkAccess(pid: number): void {
  try {
    readlinkSync(`/proc/${pid}/exe`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new LuaprofError('permissionDenied', permissionHint(pid));
    if (code === 'ENOENT' && !processExists(pid)) throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
  }
}

function checkReadable(mem: RemoteMemory, pid: number, maps: Mapping[]): void {
  const any = maps.find((m) => m.perms.startsWith('r'));
  if (any && !mem.read(any.start, 8)) {
    if (!processExists(pid)) throw new LuaprofError('noSuchProcess', `process ${pid} exited`);
    throw new LuaprofError('permissionDenied', permissionHint(pid));
  }
}

export { CaptureError, TargetGoneError };
export type { SampleResult, TargetOptions };
