/**
 * A thread held still without a ptrace stop: the sampler (a real-time thread) moves onto the thread's
 * CPU and sleeps there briefly; its wake-up takes that CPU from the thread at once (os/affinity.ts), and
 * while the sampler runs there the thread stands switched out. A stop lands tens of µs after it is
 * asked for and costs the thread a trip through the kernel's signal path each way; the hold costs two
 * context switches. The kernel's switch records (os/on-cpu.ts) say whether the thread really stood
 * still all along; when it did not (it ran on another CPU, the sampler is not real-time), the caller
 * stops it instead.
 */
import { performance } from 'node:perf_hooks';
import { samplerAffinity } from './os/affinity.js';
import { monotonicNs, OnCpuTracker } from './os/on-cpu.js';
import { ThreadStat } from './os/procfs.js';
import { notePause } from './pause.js';

/** The sleep on the thread's CPU after the move (the move itself takes the CPU at a moment of its own). */
const SETTLE_MS = 0.05;

/**
 * Runs `fn` while thread `tid` of `pid` stands switched out: its value, or null when the thread did
 * not stand still all along (then what fn read may be torn). The hold counts as a pause of the thread.
 */
export function holdStill<T>(pid: number, tid: number, fn: () => T): { value: T } | null {
  const switches = OnCpuTracker.open(tid);
  if (!switches) return null;
  const stat = new ThreadStat(pid, tid);
  try {
    const seen = switches.cpu();
    const cpu = seen >= 0 ? seen : stat.processor();
    if (cpu < 0 || !samplerAffinity.pin(cpu)) return null;
    let value: T;
    let heldAt = 0;
    let fromNs = 0;
    let toNs = 0;
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLE_MS);
      heldAt = performance.now();
      fromNs = monotonicNs();
      value = fn();
      toNs = monotonicNs();
    } finally {
      samplerAffinity.release();
      if (heldAt > 0) notePause((performance.now() - heldAt) * 1000);
    }
    // Switched out when fn began and not switched in before it ended: what fn read is of one moment.
    // No switch at all from the tracker's opening to fn's end ('unknown', none during) holds as well:
    // a thread running when the tracker opened is switched out by the time the sampler runs on its
    // CPU, and a thread that ran since switched in; either leaves a record. It was waiting for a CPU
    // all along (luaprof's own threads loading beside it), and a stop instead waited ~1 ms for it.
    const state = switches.stateDuring(fromNs, toNs);
    const still = state !== 'on' && !switches.switchedDuring;
    return still ? { value } : null;
  } finally {
    switches.close();
    stat.close();
  }
}
