/**
 * A Lua process being profiled: the checks of attach, detection of its runtime, the list of its
 * threads and the states they run, and one tick of samples (`sampleAll`). How one thread is sampled is
 * in thread-sampler.ts; native stacks in native-stack.ts; PUC states that no global points at are
 * found by lua/puc/discovery.ts.
 *
 * Each thread is sampled on its own: its lua_State is found on its own (a global of the binary, the
 * Lua API frames of its native stack, or a heap scan), coroutines that the host resumes from C are
 * learnt from the lua_resume/interpreter frames of its native stack, and with `--native` the native
 * stack (registers + the top of the stack, copied while stopped) is unwound after the thread runs again
 * and the Lua frames are spliced in.
 */
import { readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { LuaprofError, alreadyTracedMessage } from './errors.js';
import { permissionHint } from './permission.js';
import { attachRuntime } from './lua/attach.js';
import { detectLua, luaBinaries, type LuaDetection } from './lua/detect.js';
import type { StateDiscovery } from './lua/discovery.js';
import { LuaJitDiscovery } from './lua/luajit/discovery.js';
import { candidateLayouts } from './lua/luajit/layout.js';
import { PucDiscovery } from './lua/puc/discovery.js';
import { guardLayout } from './lua/puc/layout-guard.js';
import { chooseLayout, type LayoutChoice } from './lua/puc/layouts.js';
import { PucRuntime } from './lua/puc/runtime.js';
import { type LuaRuntime, StateGoneError } from './lua/runtime.js';
import { NativeStacks } from './native-stack.js';
import type { Mapping } from './os/maps.js';
import {
  exePath,
  isAsleep,
  listThreads,
  processExists,
  readMaps,
  threadState,
  ThreadStat,
} from './os/procfs.js';
import { getRegs, tracerOf } from './os/ptrace.js';
import { RemoteMemory } from './os/remote-memory.js';
import { isExiting, pauseThread, TargetGoneError } from './pause.js';
import { holdStill } from './hold-still.js';
import type { SampleResult, TargetOptions } from './sample.js';
import { IDLE_FRAME } from './synthetic-frames.js';
import { ThreadSampler, type SamplerShared } from './thread-sampler.js';

/**
 * The thread list is read again after 500 ms, or every 20 ms for 2 s after a read that found threads
 * come or go: a host that starts and ends threads all the time (fixtures/hosts/churn.c, 50 a second,
 * each living ~1.3 s) loses the time from a thread's start to the look that finds it. Measured there
 * over 60 s: 50 ms after each change, 500 ms after a look without one (one look in 12 at that churn)
 * put a new thread's first sample 356 ms after its start at p90 and kept 88.7% of the samples asked;
 * 50 ms for 2 s, p90 55 ms and 97.4%; 20 ms, p90 26 ms and 98.5%. In 4-s recordings (4 each): 20 ms
 * left 1.0-1.25% of a new thread's life before its first sample (median 11-14 ms), 10 ms 0.6-1.0%
 * (6-9 ms), 5 ms 0.5-0.8% (4-5 ms). A directory read costs ~45 µs: 100 a second while threads
 * churn; a steady process pays one per 500 ms.
 */
const THREAD_LIST_MS = 500;
const THREAD_LIST_CHURN_MS = 10;
const CHURN_MEMORY_MS = 2000;
/**
 * States the layout check tries before refusing: in a host that churns threads, ~40% of the states
 * found on fresh thread stacks were measured to be freed ones (a reused stack still holds its last
 * thread's pointers); 16 in a row is not chance.
 */
const GUARD_STATES = 16;
/** A process whose thread ran at the last tick is looked at for a job-control stop this often. */
const STOP_CHECK_MS = 50;
/** How long after the attach a thread it found asleep may still be on its way back to sleep (wokenByAttach). */
const ATTACH_SETTLE_MS = 100;

export class Target {
  private readonly copiedThreads: ThreadSampler[] = [];
  private readonly threads = new Map<number, ThreadSampler>();
  private readonly shared: SamplerShared;
  private nextThreadList = 0;
  private lastThreadChange = -Infinity;
  /** The executable at attach: another one means the process exec'd (the Lua program is gone). */
  private readonly exe: string | null;
  /** The main thread's state, read each tick: a process stopped by its user (SIGSTOP) is idle. */
  private readonly mainStat: ThreadStat;
  /** Threads asleep when the attach began, until seen asleep again (wokenByAttach). */
  private asleepAtAttach: Set<number> | null = null;
  /** In a job-control stop when the attach began (see stoppedByItsUser). */
  private stoppedAtAttach = false;
  private attachedAt = 0;
  /** The last tick found a thread running, and when /proc last said whether the process is stopped. */
  private sawRunning = false;
  private stopCheckedAt = -Infinity;

  private constructor(
    readonly pid: number,
    readonly detection: LuaDetection,
    mem: RemoteMemory,
    private readonly opts: TargetOptions,
    private primary: LuaRuntime | null,
    discovery: StateDiscovery | null,
  ) {
    const natives = new NativeStacks(pid, mem, detection.file, detection.flavour === 'luajit');
    this.shared = { pid, mem, opts, natives, discovery };
    this.mainStat = new ThreadStat(pid, pid);
    this.exe = programOf(pid);
  }

  get luaVersion(): string {
    return (
      this.primary?.version ??
      (this.detection.flavour === 'luajit'
        ? `LuaJIT ${this.detection.version}`
        : `Lua ${this.detection.version}`)
    );
  }

  /** Detects the runtime and finds its state(s); throws LuaprofError with a one-line reason. */
  static attach(pid: number, opts: TargetOptions = {}): Target {
    if (!processExists(pid)) throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
    const mem = new RemoteMemory(pid);
    checkAccess(pid);
    checkNotTraced(pid);
    const asleep = threadsAsleep(pid);
    const stoppedAtAttach = threadState(pid, pid) === 'T';
    const detected = detectLua(pid);
    if (!detected && !opts.version)
      throw new LuaprofError(
        'noLua',
        `no Lua found in process ${pid} (no Lua version string in its executable or libraries)`,
      );
    const detection: LuaDetection = opts.version ? forcedVersion(opts.version, detected) : detected!;
    const maps = readMaps(pid);
    checkReadable(mem, pid, maps);
    let primary: LuaRuntime | null = null;
    let noLua: LuaprofError | null = null;
    const choice = detection.flavour === 'puc' ? chooseLayout(detection.version) : null;
    const discovery: StateDiscovery | null = choice
      ? new PucDiscovery(mem, choice.layout, `Lua ${detection.version}`)
      : detection.flavour === 'luajit'
        ? new LuaJitDiscovery(mem, candidateLayouts(detection.version), `LuaJIT ${detection.version}`)
        : null;
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
      if (!(e instanceof LuaprofError && e.kind === 'noLua' && discovery)) throw e;
      noLua = e;
    }
    const t = new Target(pid, detection, mem, opts, primary, discovery);
    t.asleepAtAttach = asleep;
    t.stoppedAtAttach = stoppedAtAttach;
    t.initThreads(noLua);
    t.attachedAt = performance.now();
    if (choice) t.guardLayout(choice, detected?.version ?? null);
    return t;
  }

  private initThreads(noLua: LuaprofError | null): void {
    const discovery = this.shared.discovery;
    const all = listThreads(this.pid);
    const chosen = this.opts.threads ? all.filter((t) => this.opts.threads!.includes(t)) : all;
    if (this.opts.threads && chosen.length === 0) {
      throw new LuaprofError(
        'badArguments',
        `process ${this.pid} has none of the threads ${this.opts.threads.join(',')} (it has ${all.join(',')})`,
      );
    }
    if (this.primary) discovery?.adopt(this.primary);
    for (const tid of chosen) this.threads.set(tid, new ThreadSampler(tid, this.shared));
    this.nextThreadList = performance.now() + THREAD_LIST_MS;
    const single = all.length === 1;
    // The state found in a global runs on the main thread of a single-threaded process; otherwise every
    // thread's native stack says which state it runs.
    if (discovery && (!single || !this.primary)) {
      for (const t of this.threads.values()) {
        try {
          t.discover();
        } catch (e) {
          if (e instanceof TargetGoneError) continue;
          throw e;
        }
      }
    }
    const claimed = new Set([...this.threads.values()].map((t) => (t.runtime ? t.runtime.G : 0)));
    const main = this.threads.get(this.pid);
    if (this.primary && main && !main.runtime && !claimed.has(this.primary.G)) main.runtime = this.primary;
    if (![...this.threads.values()].some((t) => t.runtime) && discovery?.scanHeap) {
      const r = discovery.scanHeap(readMaps(this.pid));
      (this.opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(`luaprof: ${r.cost}`);
      const t = main ?? [...this.threads.values()][0];
      if (r.runtime && t) t.runtime = r.runtime;
    }
    if (![...this.threads.values()].some((t) => t.runtime)) {
      throw noLua ?? new LuaprofError('noLua', `no lua_State found in process ${this.pid}`);
    }
    if (!this.primary) this.primary = [...this.threads.values()].find((t) => t.runtime)!.runtime;
  }

  /**
   * The layout must fit the state found (lua/puc/layout-guard.ts), else the process is refused. A host
   * whose threads open and close states all the time (fixtures/hosts/churn.c) may have closed the
   * first one found by the time it is checked: each state found is tried (the main thread's stopped,
   * the others read running, each read retried), and the layout is refused only when it fits none of
   * the first GUARD_STATES; a state it does not fit is forgotten by its threads, which look again.
   */
  private guardLayout(choice: LayoutChoice, binaryVersion: string | null): void {
    const byG = new Map<number, { rt: PucRuntime; tid: number }>();
    if (this.primary instanceof PucRuntime) byG.set(this.primary.G, { rt: this.primary, tid: this.pid });
    for (const t of this.threads.values())
      if (t.runtime instanceof PucRuntime && !byG.has(t.runtime.G))
        byG.set(t.runtime.G, { rt: t.runtime, tid: t.tid });
    let first: unknown = null;
    for (const { rt, tid } of [...byG.values()].slice(0, GUARD_STATES)) {
      try {
        const line = guardLayout({
          pid: this.pid,
          mem: this.shared.mem,
          choice,
          version: this.detection.version,
          binaryVersion,
          file: this.detection.file,
          L: rt.mainL,
          G: rt.G,
          // The main thread is held still for the copy, or stopped; the others are read running (reads
          // may tear: retried). Held in every mode: the sampler is real-time for the attach (worker.ts),
          // and --blocking's stops are its samples'.
          stopped: (fn) => (tid === this.pid ? pauseThread(tid, fn).value : fn()),
          still: <T>(fn: () => T) => (tid === this.pid ? holdStill(this.pid, tid, fn) : { value: fn() }),
        });
        if (line) (this.opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(line);
        return;
      } catch (e) {
        if (e instanceof TargetGoneError && tid !== this.pid) continue;
        first ??= e;
        // Not a state (freed, or never one): its threads look again instead of reading it.
        if (e instanceof LuaprofError) this.forgetState(rt.G);
        if (!(e instanceof LuaprofError && e.kind === 'unsupportedVersion')) break;
      }
    }
    if (first === null) return;
    this.close();
    throw first;
  }

  private forgetState(G: number): void {
    for (const t of this.threads.values()) if (t.runtime?.G === G) t.runtime = null;
  }

  /**
   * A sample that failed on a state whose memory is gone (a host that closed it and unmapped its
   * allocator's arena: fixtures/hosts/unmap.c): its threads look for their state again at the next
   * tick instead of failing on it until the next scheduled look (an error at every tick in between).
   */
  private forgetIfUnmapped(t: ThreadSampler): void {
    const G = t.runtime?.G;
    const discovery = this.shared.discovery;
    if (G === undefined || !discovery || this.shared.mem.read(G, 8) !== null) return;
    for (const other of this.threads.values()) if (other.runtime?.G === G) other.searchAgainNow();
    this.forgetState(G);
    discovery.forget(G);
  }

  /**
   * A sample found the thread's state closed. A host that runs a state per thread closes it just
   * before the thread ends: the thread is dropped now (true), not walked at every tick until the next
   * look at the thread list, each walk a torn sample. A thread still alive looks for its state again.
   */
  private forgetClosedState(t: ThreadSampler): boolean {
    if (t.ended) {
      this.dropThread(t.tid);
      return true;
    }
    const G = t.runtime?.G;
    t.runtime = null;
    t.searchAgainNow();
    this.forgetUnused(G);
    return false;
  }

  /** Discovery forgets a state no thread runs any more (but never the main one). */
  private forgetUnused(G: number | undefined): void {
    if (
      G !== undefined &&
      G !== this.primary?.G &&
      ![...this.threads.values()].some((t) => t.runtime?.G === G)
    )
      this.shared.discovery?.forget(G);
  }

  private dropThread(tid: number): void {
    const G = this.threads.get(tid)?.runtime?.G;
    this.threads.get(tid)?.close();
    this.threads.delete(tid);
    this.forgetUnused(G);
  }

  /** The threads that run a Lua state, with the runtime reading each (dump --locals pauses them itself). */
  luaThreads(): { tid: number; runtime: LuaRuntime }[] {
    return [...this.threads.values()].flatMap((t) => (t.runtime ? [{ tid: t.tid, runtime: t.runtime }] : []));
  }

  /** Whether thread `tid` is among those sampled (it has not ended, as far as the last look at the thread list saw). */
  hasThread(tid: number): boolean {
    return this.threads.has(tid);
  }

  /** The target's memory, read directly (no prefetching). */
  get memory(): RemoteMemory {
    return this.shared.mem;
  }

  /** Closes the /proc files kept open per thread. */
  close(): void {
    for (const tid of [...this.threads.keys()]) this.dropThread(tid);
    this.mainStat.close();
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
    for (const t of this.threads.values()) {
      if (!t.runtime) continue;
      for (let i = 0; i < iterations && performance.now() < deadline; i++) t.rehearse();
    }
  }

  /**
   * Runs one sample's code path on the running target just before a sample is due, without stopping
   * it, so that the pause that follows runs on warm caches: at 100 Hz a sampler that slept 10 ms
   * otherwise pauses the target several times longer than at 1000 Hz. Nothing it reads is kept.
   */
  prime(): void {
    for (const t of this.threads.values()) if (t.runtime && t.planned) t.rehearse();
  }

  /**
   * The thread cpuToWakeOn chose is copied with the registers of its switch-out (LuaJIT): only a
   * wake-up on its CPU gives them.
   */
  get wakesForRegisters(): boolean {
    for (const t of this.threads.values()) if (t.wakesOnItsCpu) return t.copiesWithRegisters;
    return false;
  }

  /**
   * The threads a copier copies (sampler/copier): with the kernel's copies (`byTicks`), every thread
   * copied while it runs, when each can be; the copier thread copies a lone one; none otherwise, or
   * without a copier (`on` false). The others no longer wait for a copier's copies
   * (ThreadSampler.awaitsCopies). The array is this target's, refilled at each call.
   */
  copierThreads(byTicks: boolean, on = true): readonly ThreadSampler[] {
    const copied = this.copiedThreads;
    // Written in place (asked for every sample): emptying an array drops its storage.
    const n = on ? Math.max(0, this.copiable(byTicks, copied)) : 0;
    if (copied.length !== n) copied.length = n;
    for (const t of this.threads.values()) if (!copied.includes(t)) t.awaitsCopies = false;
    return copied;
  }

  /** Writes the threads a copier can copy into `out` from its start: how many, or -1 when it cannot copy them all. */
  private copiable(byTicks: boolean, out: ThreadSampler[]): number {
    // --native samples every thread: the kernel's copies serve a target of one thread only.
    if (this.opts.native) {
      const [only, more] = this.threads.values();
      if (!only || more || !only.copiableByCopier(byTicks)) return -1;
      out[0] = only;
      return 1;
    }
    let n = 0;
    for (const t of this.threads.values()) {
      if (!t.copiesWhileRunning) continue;
      if (!t.copiableByCopier(byTicks) || (n > 0 && !byTicks)) return -1;
      out[n++] = t;
    }
    return n;
  }

  /** How many of its threads are sampled by copying them while they run. */
  get threadsCopiedWhileRunning(): number {
    let n = 0;
    for (const t of this.threads.values()) if (t.copiesWhileRunning) n++;
    return n;
  }

  /** The CPU of the first thread copied while it runs, for the sampler to wake on (-1: none). */
  cpuToWakeOn(): number {
    let cpu = -1;
    for (const t of this.threads.values()) {
      t.wakesOnItsCpu = cpu < 0 && t.copiesWhileRunning;
      if (t.wakesOnItsCpu) cpu = t.cpu();
    }
    return cpu;
  }

  /** Refreshes the thread list (new threads are searched for states as they come). */
  private refreshThreads(now: number): void {
    if (now < this.nextThreadList) return;
    const exe = programOf(this.pid);
    if (exe !== null && this.exe !== null && exe !== this.exe) throw new TargetExecError(this.pid, exe);
    const live = new Set(listThreads(this.pid));
    let changed = false;
    for (const tid of [...this.threads.keys()])
      if (!live.has(tid)) {
        this.dropThread(tid);
        changed = true;
      }
    if (!this.opts.threads)
      for (const tid of live)
        if (!this.threads.has(tid)) {
          this.threads.set(tid, new ThreadSampler(tid, this.shared));
          changed = true;
        }
    if (changed) this.lastThreadChange = now;
    this.nextThreadList =
      now + (now - this.lastThreadChange < CHURN_MEMORY_MS ? THREAD_LIST_CHURN_MS : THREAD_LIST_MS);
  }

  /** A tick of a stopped process without --idle: each thread that would be sampled is idle, untouched. */
  private stoppedTick(): SampleResult[] {
    return [...this.threads.values()]
      .filter((t) => t.runtime || this.opts.native)
      .map((t) => ({ ...this.frameless(t.tid), idle: true, stopped: true }));
  }

  /**
   * A thread asleep when the attach began, not yet seen asleep again, within ATTACH_SETTLE_MS of the
   * attach: luaprof's stops during the attach (the main thread's registers, where no global holds its
   * state) woke it, and it runs on its way back into its wait, or waits for a CPU to do so. Samples
   * then found it running with its Lua frames (2 ms after the attach, in 1 recording of 2 of a lua5.4
   * in `os.execute("sleep 3")`); it is idle instead.
   */
  private wokenByAttach(tid: number, now: number): boolean {
    if (!this.asleepAtAttach?.has(tid) || this.opts.idle) return false;
    const state = threadState(this.pid, tid);
    const settled = isAsleep(state) || now - this.attachedAt > ATTACH_SETTLE_MS;
    if (settled) this.asleepAtAttach.delete(tid);
    return !settled;
  }

  /** A result without frames for one of its threads (a stopped tick's, a failed sample's). */
  private frameless(tid: number): SampleResult {
    return {
      tid,
      pid: this.pid,
      frames: [],
      luaFrames: [],
      truncated: false,
      pauseUs: 0,
      offCpu: false,
      idle: false,
    };
  }

  /** One tick: a sample of every sampled thread. Threads without Lua are skipped unless --native. */
  sampleAll(dueNs?: number): SampleResult[] {
    const now = performance.now();
    this.refreshThreads(now);
    // Once the process is gone (or only its zombie is left) no thread remains to report it.
    if (this.threads.size === 0 && isExiting(this.pid))
      throw new TargetGoneError(`process ${this.pid} exited`);
    const out: SampleResult[] = [];
    // Stopped by its user (SIGSTOP, a job-control stop: every thread stops with the group): its frozen
    // stack is not where time goes. Left as it is (never resumed), counted as idle; --idle keeps it.
    const stopped = this.stoppedByItsUser(now);
    if (stopped && !this.opts.idle) return this.stoppedTick();
    for (const t of [...this.threads.values()]) {
      // Its copies come from the kernel at its own ticks (this tick is another thread's).
      if (t.awaitsCopies && !t.hasSupply) continue;
      if (!t.runtime && !this.opts.native && this.shared.discovery) {
        // A coroutine its host resumed from C may run now: found in a stop (fewer for threads that never show one).
        try {
          const s = t.sampleSearching();
          if (s) {
            out.push(s);
            continue;
          }
        } catch (e) {
          if (!(e instanceof TargetGoneError && t.tid !== this.pid)) throw e;
          this.dropThread(t.tid);
          continue;
        }
      }
      if (!t.runtime && !this.opts.native) {
        if (this.shared.discovery && now >= t.nextDiscovery) {
          try {
            t.discover();
          } catch (e) {
            if (e instanceof TargetGoneError && t.tid !== this.pid) {
              this.dropThread(t.tid);
              continue;
            }
            throw e;
          }
        }
        if (!t.runtime) continue;
      }
      if (this.wokenByAttach(t.tid, now)) {
        out.push({ ...this.frameless(t.tid), idle: true });
        continue;
      }
      try {
        const s = t.sample(dueNs);
        if (t.takeStateGone() && this.forgetClosedState(t)) continue;
        // A copy of a running thread that read memory its host has since unmapped is a torn one:
        // a state whose G is gone is forgotten at once, not walked again at every tick.
        if (s.torn) this.forgetIfUnmapped(t);
        out.push(stopped ? markStopped(s) : s);
      } catch (e) {
        if (e instanceof StateGoneError && this.forgetClosedState(t)) continue;
        if (e instanceof TargetGoneError && t.tid !== this.pid && processExists(this.pid)) {
          this.dropThread(t.tid);
          continue;
        }
        if (e instanceof TargetGoneError || e instanceof LuaprofError || !processExists(this.pid)) throw e;
        this.forgetIfUnmapped(t);
        out.push({ ...this.frameless(t.tid), error: true });
      }
    }
    // Copied running and found on its CPU (a stop of a stopped thread would copy its frozen stack).
    this.sawRunning = out.some(
      (s) => s.pauseUs === 0 && !s.error && !s.torn && !s.offCpu && !s.idle && s.frames.length > 0,
    );
    return out;
  }

  /**
   * The process is in a job-control stop. Read from /proc only when the last tick found no thread
   * copied running on its CPU, or STOP_CHECK_MS after the last read: a read per tick was ~6% of the
   * sampler's CPU, and a thread that ran at the last tick was not stopped then (a copy after a stop
   * shows it off its CPU), nor when a thread's copy was taken at a tick of its CPU time.
   */
  private stoppedByItsUser(now: number): boolean {
    if (this.sawRunning && now - this.stopCheckedAt < STOP_CHECK_MS) return false;
    // A copy the kernel took at a tick of a thread's CPU time: it ran then (a stopped thread has none).
    for (const t of this.threads.values()) if (t.suppliedRunning) return false;
    this.stopCheckedAt = now;
    if (this.mainStat.state() === 'T') return true;
    // The attach's stops let a stopped process out of its stop for a moment (4,000 reads of its state
    // around an attach found it running once): samples then showed its frozen stack as running.
    if (this.stoppedAtAttach && now - this.attachedAt <= ATTACH_SETTLE_MS) return true;
    this.stoppedAtAttach = false;
    return false;
  }
}

/** A sample of a stopped thread, kept with --idle: idle, [idle] innermost. */
function markStopped(s: SampleResult): SampleResult {
  if (s.error || s.torn || s.offCpu) return { ...s, stopped: true };
  const frames = s.idle || s.frames.length === 0 ? s.frames : [IDLE_FRAME, ...s.frames];
  return { ...s, frames, idle: true, stopped: true };
}

/** --lua-version: "5.4.4" or "luajit" / "luajit-2.1…". */
function forcedVersion(text: string, detected: LuaDetection | null): LuaDetection {
  const jit = /^luajit[- ]?(.*)$/i.exec(text);
  if (jit)
    return { flavour: 'luajit', version: jit[1] || detected?.version || '2.1', file: detected?.file ?? '' };
  return { flavour: 'puc', version: text, file: detected?.file ?? '' };
}

/** Another user's process hides its executable link from us: that is a permission problem, not "no Lua". */
function checkAccess(pid: number): void {
  try {
    readlinkSync(`/proc/${pid}/exe`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM')
      throw new LuaprofError('permissionDenied', permissionHint(pid));
    if (code === 'ENOENT' && !processExists(pid))
      throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
  }
}

/** The threads waiting in the kernel (S or D) before luaprof stops any. */
function threadsAsleep(pid: number): Set<number> {
  const asleep = new Set<number>();
  for (const tid of listThreads(pid)) {
    const state = threadState(pid, tid);
    if (isAsleep(state)) asleep.add(tid);
  }
  return asleep;
}

/** A debugger or strace holding any thread: refused by name, whatever the mode (a pause would fail with EPERM). */
function checkNotTraced(pid: number): void {
  for (const tid of listThreads(pid)) {
    const tracer = tracerOf(pid, tid);
    if (tracer) throw new LuaprofError('alreadyTraced', alreadyTracedMessage(pid, tid, tracer));
  }
}

function checkReadable(mem: RemoteMemory, pid: number, maps: Mapping[]): void {
  const any = maps.find((m) => m.perms.startsWith('r'));
  if (any && !mem.read(any.start, 8)) {
    if (!processExists(pid)) throw new LuaprofError('noSuchProcess', `process ${pid} exited`);
    throw new LuaprofError('permissionDenied', permissionHint(pid));
  }
}

/** The process exec'd another program mid-recording (without --subprocesses nothing follows it). */
export class TargetExecError extends Error {
  constructor(
    readonly pid: number,
    readonly exe: string,
  ) {
    super(`process ${pid} exec'd ${exe}`);
  }
}

/** The executable, the same after an upgrade replaced its file (" (deleted)"). */
function programOf(pid: number): string | null {
  return exePath(pid)?.replace(/ \(deleted\)$/, '') ?? null;
}

export { TargetGoneError };
export type { SampleResult, TargetOptions };
