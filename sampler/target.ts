/**
 * A Lua process being profiled: detection of its runtime, the pause-copy-release cycle of one sample,
 * and the guarantee that every pause ends in a detach.
 */
import { readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { LuaprofError, permissionHint } from './errors.js';
import { detectLua, luaBinaries, type LuaDetection } from './lua/detect.js';
import type { LuaFrame } from './lua/frames.js';
import { attachRuntime } from './lua/attach.js';
import type { LuaRuntime } from './lua/runtime.js';
import { CaptureError } from './lua/puc/capture.js';
import { EPERM, ESRCH, PtraceError, detach, getRegs, interrupt, seize, waitStop } from './os/ptrace.js';
import { processExists, readMaps, threadState } from './os/procfs.js';
import { PrefetchMemory, RemoteMemory } from './os/remote-memory.js';

export interface SampleResult {
  tid: number;
  frames: LuaFrame[];
  truncated: boolean;
  pauseUs: number;
  /**
   * The thread took long to stop: it was waiting for a CPU (preempted), and it stopped wherever the
   * scheduler had left it, not at a point in time chosen at random. Such a sample would over-count
   * the places where preemption happens (system call exits) and is left out of profiles.
   */
  offCpu: boolean;
}

/** A thread running on a CPU stops within an interrupt's latency; one that waits for a CPU takes a time slice. */
export const OFF_CPU_STOP_US = 400;

export class TargetGoneError extends Error {}

export class Target {
  private readonly pauseMem: PrefetchMemory;

  private constructor(
    readonly pid: number,
    readonly detection: LuaDetection,
    readonly runtime: LuaRuntime,
    readonly mem: RemoteMemory,
  ) {
    this.pauseMem = new PrefetchMemory(mem);
  }

  get luaVersion(): string {
    return this.runtime.version;
  }

  /** Detects the runtime and finds its state; throws LuaprofError with a one-line reason. */
  static attach(pid: number, opts: { version?: string } = {}): Target {
    if (!processExists(pid)) throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
    const mem = new RemoteMemory(pid);
    checkAccess(pid);
    const detected = detectLua(pid);
    if (!detected && !opts.version) throw new LuaprofError('noLua', `no Lua found in process ${pid} (no Lua version string in its executable or libraries)`);
    const detection: LuaDetection = opts.version ? forcedVersion(opts.version, detected) : detected!;
    checkReadable(mem, pid);
    const runtime = attachRuntime({
      pid,
      mem,
      maps: readMaps(pid),
      binaries: luaBinaries(pid),
      detection,
      withMainStopped: (fn) => pauseThread(pid, () => fn(getRegs(pid))).value,
    });
    return new Target(pid, detection, runtime, mem);
  }

  /**
   * Runs the capture and resolve code on the running target (no pause; racy reads are validated and
   * their failures ignored) so that V8 has optimised it before the first real pause: otherwise the
   * first few hundred samples pause the target several times longer.
   */
  warmUp(iterations = 300): void {
    for (let i = 0; i < iterations; i++) {
      this.pauseMem.begin();
      try {
        this.runtime.resolve(this.runtime.capture(this.pauseMem));
      } catch {
        /* a torn read of a running target: expected here */
      } finally {
        this.pauseMem.end();
      }
    }
  }

  /** One sample of the main thread: pause, copy, release, then resolve names. */
  sample(tid = this.pid): SampleResult {
    let stopUs = 0;
    const { value: raw, pauseUs } = pauseThread(tid, (stoppedAfterUs) => {
      stopUs = stoppedAfterUs;
      this.pauseMem.begin();
      try {
        return this.runtime.capture(this.pauseMem, this.runtime.wantsRegs ? getRegs(tid) : undefined);
      } finally {
        this.pauseMem.end();
      }
    });
    const { frames, truncated } = this.runtime.resolve(raw);
    return { tid, frames, truncated, pauseUs, offCpu: stopUs > OFF_CPU_STOP_US };
  }
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

function checkReadable(mem: RemoteMemory, pid: number): void {
  const maps = readMaps(pid);
  const any = maps.find((m) => m.perms.startsWith('r'));
  if (any && !mem.read(any.start, 8)) {
    if (!processExists(pid)) throw new LuaprofError('noSuchProcess', `process ${pid} exited`);
    throw new LuaprofError('permissionDenied', permissionHint(pid));
  }
}

/**
 * Stops one thread, runs `fn` while it is stopped, and always lets it go again. Errors from `fn`
 * propagate after the detach; a thread that vanished becomes TargetGoneError.
 */
export function pauseThread<T>(tid: number, fn: (stoppedAfterUs: number) => T): { value: T; pauseUs: number } {
  const timing = { interruptedAt: 0 };
  const value = withThreadStopped(tid, fn, timing);
  // PTRACE_SEIZE does not stop the thread: its pause runs from the interrupt to the end of the detach.
  return { value, pauseUs: (performance.now() - timing.interruptedAt) * 1000 };
}

function withThreadStopped<T>(tid: number, fn: (stoppedAfterUs: number) => T, timing: { interruptedAt: number }): T {
  try {
    seize(tid);
  } catch (e) {
    if (e instanceof PtraceError && (e.errno === EPERM || e.errno === ESRCH)) {
      // An exiting thread (zombie, or already without its memory) refuses ptrace with EPERM too.
      if (e.errno === ESRCH || isExiting(tid)) throw new TargetGoneError(`thread ${tid} exited`);
      throw new LuaprofError('permissionDenied', permissionHint(tid));
    }
    throw e;
  }
  let signal = 0;
  let attached = true;
  try {
    const t0 = (timing.interruptedAt = performance.now());
    interrupt(tid);
    const stop = waitStop(tid);
    const stoppedAfterUs = (performance.now() - t0) * 1000;
    if (!stop.stopped) {
      attached = false;
      throw new TargetGoneError(`thread ${tid} exited`);
    }
    signal = stop.pendingSignal;
    return fn(stoppedAfterUs);
  } catch (e) {
    if (e instanceof PtraceError && e.errno === ESRCH) {
      attached = false;
      throw new TargetGoneError(`thread ${tid} exited`);
    }
    throw e;
  } finally {
    if (attached) {
      try {
        detach(tid, signal);
      } catch {
        /* the thread is gone; the kernel has already released it */
      }
    }
  }
}

function isExiting(tid: number): boolean {
  const state = threadState(tid, tid);
  return state === null || state === 'Z' || state === 'X' || !processExists(tid);
}

export { CaptureError };
