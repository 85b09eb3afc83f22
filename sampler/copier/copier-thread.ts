/**
 * The copier thread: it lives on the CPU of the thread it copies and never leaves it while that
 * thread stays there. It draws the sample times itself, sleeps until each, and, as a real-time
 * thread, its wake-up switches the thread out on the spot; it copies what the plan names (one
 * process_vm_readv into a shared slot), wakes the sampling worker on the other CPU and sleeps again.
 * The thread runs on after the copy and two local context switches: no move between CPUs per sample
 * (two moves cost the thread ~30 µs each on this VM), no walk on its CPU.
 */
import { workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { ThreadAffinity } from '../os/affinity.js';
import { libc } from '../os/libc.js';
import { putU64 } from '../os/remote-memory.js';
import { monotonicNs } from '../os/on-cpu.js';
import { becomeRealtime } from '../os/realtime.js';
import { SampleSchedule } from '../schedule.js';
import { Channel, type ChannelBuffers, SLOTS, STATE_STOP, W } from './channel.js';

export interface CopierStart {
  channel: ChannelBuffers;
  pid: number;
  intervalMs: number;
}

/** After a move onto another CPU, the next sample is drawn from this long after it (ms). */
const AFTER_MOVE_MS = 0.05;
/** A copier told no CPU looks again this often (ms). */
const PAUSED_POLL_MS = 100;

function run(start: CopierStart): void {
  const ch = new Channel(start.channel);
  const words = ch.words;
  const c = libc();
  const affinity = new ThreadAffinity();
  const liov = Array.from({ length: SLOTS }, (_, i) => {
    const iov = Buffer.alloc(16);
    putU64(iov, 0, c.address(ch.slot(i)));
    return iov;
  });
  Atomics.store(words, W.realtime, becomeRealtime() ? 1 : 0);
  const schedule = new SampleSchedule(start.intervalMs, performance.now());
  let pinned = -1;
  /** The due time of the first copy since the copier last let the thread run (0: none yet). */
  let heldSinceNs = 0;
  Atomics.store(words, W.ready, 1);
  Atomics.notify(words, W.ready);
  while (Atomics.load(words, W.state) !== STATE_STOP) {
    const cpu = Atomics.load(words, W.cpu);
    if (cpu < 0) {
      Atomics.wait(words, W.cpu, cpu, PAUSED_POLL_MS);
      // The times drawn while paused are not owed: sampling resumes from now.
      schedule.restart(performance.now());
      heldSinceNs = 0;
      continue;
    }
    if (cpu !== pinned) {
      if (!affinity.pin(cpu)) {
        Atomics.compareExchange(words, W.cpu, cpu, -1);
        continue;
      }
      // The move took the thread's CPU at a moment of its own: the next sample is drawn from after it.
      if (pinned >= 0) schedule.redraw(performance.now(), AFTER_MOVE_MS);
      pinned = cpu;
      heldSinceNs = 0;
    }
    const wait = schedule.waitMs(performance.now());
    const dueNs = monotonicNs() + wait * 1e6;
    // A sample due before the copier let go of the CPU (an interval shorter than one copy's round): the
    // thread has not run since the switch-out of the copy before, which is the one the copy is checked
    // against (switched out after that one was due: not off its CPU).
    if (wait > 0 || heldSinceNs === 0) heldSinceNs = dueNs;
    ch.nextDueNs = dueNs;
    if (wait > 0) Atomics.wait(words, W.sleep, 0, wait);
    // The copy first, on the thread's time: the rest waits until the copier sleeps again.
    const n = Atomics.load(words, W.produced);
    const seq = Atomics.load(words, W.planSeq);
    // Stopping, behind (every slot still to be walked), no plan yet, the plan being written, or the thread moved.
    const skip =
      Atomics.load(words, W.state) === STATE_STOP ||
      n - Atomics.load(words, W.consumed) >= SLOTS ||
      seq === 0 ||
      (seq & 1) === 1 ||
      Atomics.load(words, W.cpu) !== cpu;
    if (skip) {
      // Given up and owed (counted late): repaid by shorter intervals, so the rate holds through a
      // burst the sampling worker is slow to walk.
      schedule.redraw(performance.now(), 0);
      Atomics.store(words, W.late, schedule.late);
      continue;
    }
    const slot = n % SLOTS;
    putU64(liov[slot], 8, Atomics.load(words, W.planBytes));
    const fromNs = monotonicNs();
    const got = c.processVmReadv(start.pid, liov[slot], 1, ch.plan, Atomics.load(words, W.planCount), 0);
    const toNs = monotonicNs();
    schedule.taken(performance.now());
    const planSeq = Atomics.load(words, W.planSeq) === seq ? seq : -1;
    ch.writeSlot(slot, { planSeq, got, dueNs: heldSinceNs, fromNs, toNs });
    Atomics.store(words, W.late, schedule.late);
    Atomics.store(words, W.produced, n + 1);
    // Only a sampling worker already waiting is woken from here: a wake-up sent across CPUs costs the
    // thread it was switched out for (the copier still holds its CPU), and on a VM it is slow.
    if (Atomics.load(words, W.waiting) === 1) Atomics.notify(words, W.produced);
  }
}

run(workerData as CopierStart);
