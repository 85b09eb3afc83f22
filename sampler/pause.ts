/**
 * Pausing one thread of a target: seize, interrupt, wait for the stop, run a callback, detach. Every
 * pause ends in a detach, whatever the callback does; a thread that vanished becomes TargetGoneError.
 * All calls must come from the OS thread that runs the sampler (ptrace binds a tracee to its tracer).
 */
import { performance } from 'node:perf_hooks';
import { LuaprofError, TargetGoneError, alreadyTracedMessage } from './errors.js';
import { permissionHint } from './permission.js';
import { EPERM, ESRCH, PtraceError, detach, interrupt, seize, tracerOf, waitStop } from './os/ptrace.js';
import { processExists, threadState } from './os/procfs.js';

export { TargetGoneError };

/**
 * How long the sampler polls for the stop before it sleeps in waitpid. A running target on another CPU
 * stops within tens of µs; a tracer that sleeps meanwhile halts its own (v)CPU and pays a wake-up on
 * top (1000 Hz pause p50 55 → 43 µs, p99 1.2 → 0.3 ms on this VM). Bounded, because when the kernel
 * put the target on the tracer's CPU, polling only delays the stop.
 */
const STOP_SPIN_US = 30;

/**
 * Stops one thread, runs `fn` while it is stopped, and always lets it go again. Errors from `fn`
 * propagate after the detach; a thread that vanished becomes TargetGoneError.
 */
export function pauseThread<T>(
  tid: number,
  fn: (stoppedAfterUs: number) => T,
): { value: T; pauseUs: number } {
  const timing = { interruptedAt: 0 };
  try {
    return { value: withThreadStopped(tid, fn, timing), pauseUs: pauseEnded(timing) };
  } catch (e) {
    pauseEnded(timing);
    throw e;
  }
}

/** The pause's length, kept for takeLongestPauseUs (0 when the thread was never interrupted). */
function pauseEnded(timing: { interruptedAt: number }): number {
  if (timing.interruptedAt === 0) return 0;
  // PTRACE_SEIZE does not stop the thread: its pause runs from the interrupt to the end of the detach.
  const us = (performance.now() - timing.interruptedAt) * 1000;
  notePause(us);
  return us;
}

/** A thread was held still for `us` µs (a stop, or hold-still.ts): kept for takeLongestPauseUs. */
export function notePause(us: number): void {
  if (us > longestPauseUs) longestPauseUs = us;
}

/** The longest pause since the last call (the attach's, reported with the recording). */
let longestPauseUs = 0;
export function takeLongestPauseUs(): number {
  const us = longestPauseUs;
  longestPauseUs = 0;
  return us;
}

/** Threads seized before: a later EPERM from them means they are exiting, not a permission problem. */
const seizedBefore = new Set<number>();

function withThreadStopped<T>(
  tid: number,
  fn: (stoppedAfterUs: number) => T,
  timing: { interruptedAt: number },
): T {
  try {
    seize(tid);
    if (seizedBefore.size > 100_000) seizedBefore.clear();
    seizedBefore.add(tid);
  } catch (e) {
    if (e instanceof PtraceError && (e.errno === EPERM || e.errno === ESRCH)) {
      if (e.errno === ESRCH) throw new TargetGoneError(`thread ${tid} exited`);
      // A thread has one tracer: EPERM from a traced one is not a permission problem, nor an exit
      // (a tracer that attached between two pauses, as strace -p does, refuses the next seize).
      const tracer = tracerOf(tid);
      if (tracer) throw new LuaprofError('alreadyTraced', alreadyTracedMessage(tid, tid, tracer));
      // An exiting thread (zombie, or already without its memory) refuses ptrace with EPERM too.
      if (seizedBefore.has(tid) || isExiting(tid)) throw new TargetGoneError(`thread ${tid} exited`);
      throw new LuaprofError('permissionDenied', permissionHint(tid));
    }
    throw e;
  }
  let signal = 0;
  let attached = true;
  try {
    const t0 = (timing.interruptedAt = performance.now());
    interrupt(tid);
    const stop = waitStop(tid, STOP_SPIN_US);
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

export function isExiting(tid: number): boolean {
  // /proc/TID works for any thread id (hidden from listings but resolvable).
  const state = threadState(tid, tid);
  return state === null || state === 'Z' || state === 'X' || !processExists(tid);
}
