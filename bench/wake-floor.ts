/**
 * The floor under the copier thread (sampler/copier): a real-time thread on the CPU of the target's
 * thread, woken on the same Poisson schedule, that does nothing but follow the thread from CPU to CPU.
 * Its wake-up takes that CPU from the thread at each tick, as the copier's does, and gives it back.
 * What that costs the target, and this process's own CPU per wake-up, are what this kernel and
 * hypervisor charge for a timed wake-up beside a running thread: the part of luaprof's default-mode
 * cost no sampler that copies from the thread's CPU can go below. bench/run.ts runs it beside
 * `luaprof record` ("wake-floor").
 *
 *   node dist/bench/wake-floor.js PID RATE_HZ   (prints "floor: attached", then one JSON line at the end)
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ThreadAffinity } from '../sampler/os/affinity.js';
import { OnCpuTracker } from '../sampler/os/on-cpu.js';
import { ThreadStat } from '../sampler/os/procfs.js';
import { becomeRealtime } from '../sampler/os/realtime.js';
import { SampleSchedule } from '../sampler/schedule.js';

const pid = Number(process.argv[2]);
const rate = Number(process.argv[3]);
if (!Number.isInteger(pid) || !(rate > 0)) {
  process.stderr.write('usage: wake-floor PID RATE_HZ\n');
  process.exit(2);
}
/** The target's exit is looked for once in this many wake-ups (a stat of /proc costs a system call). */
const EXIT_CHECK_EVERY = 64;

const switches = OnCpuTracker.open(pid);
const stat = new ThreadStat(pid, pid);
if (!switches || !becomeRealtime()) {
  process.stderr.write('wake-floor: needs perf events and SCHED_FIFO (run as root)\n');
  process.exit(2);
}
const affinity = new ThreadAffinity();
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const t0 = performance.now();
const schedule = new SampleSchedule(1000 / rate, t0);
const cpu0 = process.cpuUsage();
let wakes = 0;
process.stderr.write('floor: attached\n');
for (;;) {
  const cpu = switches.cpu();
  affinity.pin(cpu >= 0 ? cpu : stat.processor());
  const wait = schedule.waitMs(performance.now());
  if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
  schedule.taken(performance.now());
  wakes++;
  if (wakes % EXIT_CHECK_EVERY === 0 && !existsSync(`/proc/${pid}`)) break;
}
const seconds = (performance.now() - t0) / 1000;
const used = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({ cycles: wakes, rateHz: Math.round(wakes / seconds), cpuUs: used.user + used.system }),
);
