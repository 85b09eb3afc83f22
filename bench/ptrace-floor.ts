/**
 * The platform's floor under a sampler: the same stop-and-release cycle luaprof's pause uses
 * (PTRACE_SEIZE, PTRACE_INTERRUPT, waitpid, PTRACE_DETACH) with nothing done while the target is
 * stopped, on the same Poisson schedule, until the target exits. bench/run.ts runs it beside
 * `luaprof record` so that what luaprof adds to the pause and to the slowdown can be told apart from
 * what this kernel and hypervisor charge for stopping a thread at all.
 *
 * With --threads every thread of the process but its main one is stopped in turn at each tick
 * (threads listed anew each tick, a thread that ended meanwhile skipped; a host's main thread, like
 * churn.c's, runs no Lua): the floor beside a per-thread recording of a
 * many-threaded host; rateHz is then stops per second, as luaprof's achieved rate counts samples.
 *
 *   node dist/bench/ptrace-floor.js PID RATE_HZ [--threads]   (prints "floor: attached", then one JSON line at the end)
 */
import { existsSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SampleSchedule } from '../sampler/schedule.js';
import { Reservoir } from '../sampler/stats.js';
import { pauseThread, TargetGoneError } from '../sampler/pause.js';

const pid = Number(process.argv[2]);
const rate = Number(process.argv[3]);
const everyThread = process.argv.includes('--threads');
if (!Number.isInteger(pid) || !(rate > 0)) {
  process.stderr.write('usage: ptrace-floor PID RATE_HZ [--threads]\n');
  process.exit(2);
}
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const pauses = new Reservoir();
const t0 = performance.now();
const schedule = new SampleSchedule(1000 / rate, t0);
const cpu0 = process.cpuUsage();
let cycles = 0;
process.stderr.write('floor: attached\n');
for (;;) {
  const wait = schedule.waitMs(performance.now());
  if (wait > 0) Atomics.wait(sleeper, 0, 0, wait);
  schedule.taken(performance.now());
  if (!everyThread) {
    try {
      pauses.add(pauseThread(pid, () => undefined).pauseUs);
      cycles++;
    } catch (e) {
      if (e instanceof TargetGoneError) break;
      throw e;
    }
    continue;
  }
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    break;
  }
  for (const tid of tids)
    try {
      if (tid === pid) continue;
      pauses.add(pauseThread(tid, () => undefined).pauseUs);
      cycles++;
    } catch (e) {
      if (!(e instanceof TargetGoneError)) throw e;
    }
  if (!existsSync(`/proc/${pid}`)) break;
}
const seconds = (performance.now() - t0) / 1000;
const used = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    cycles,
    cpuUs: used.user + used.system,
    rateHz: Math.round(cycles / seconds),
    p50: Math.round(pauses.percentile(50)),
    p99: Math.round(pauses.percentile(99)),
  }),
);
