/**
 * The floor under the default mode's kernel copies (sampler/copier/tick-copier.ts): the same timer on
 * the target thread's CPU time, at the same rate, its period drawn again as often, running a BPF program
 * that only counts its ticks. What that costs the target is what this kernel and hypervisor charge for
 * an interrupt of the thread at a moment of our choosing: the part of the default mode's cost no
 * sampler that copies in the thread's own context can go below. bench/run.ts runs it beside `luaprof
 * record` ("timer-floor").
 *
 * With `native`, the floor under `--native`'s ticks: each firing also writes the perf sample that
 * `--native` asks for (the user registers and 32 KB of the user stack) to a ring of the same size, which
 * is emptied as often as luaprof empties it (every COPIER_BATCH_MS), and the program returns 1 as
 * luaprof's does when it copies. That is the kernel's part of a `--native` tick, without luaprof's
 * reading, walking or unwinding ("native-floor").
 *
 *   node dist/bench/timer-floor.js PID RATE_HZ [native]   (prints "floor: attached", then one JSON line at the end)
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { openCountingTimer } from './counting-timer.js';

const pid = Number(process.argv[2]);
const rate = Number(process.argv[3]);
const native = process.argv[4] === 'native';
if (!Number.isInteger(pid) || !(rate > 0) || (process.argv[4] !== undefined && !native)) {
  process.stderr.write('usage: timer-floor PID RATE_HZ [native]\n');
  process.exit(2);
}

const counting = openCountingTimer(pid, rate, native);
if (typeof counting === 'string' || !counting.timer.enable()) {
  process.stderr.write(
    `timer-floor: needs BPF and perf events (run as root)${typeof counting === 'string' ? `: ${counting}` : ''}\n`,
  );
  process.exit(2);
}
const timer = counting.timer;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const t0 = performance.now();
const cpu0 = process.cpuUsage();
process.stderr.write('floor: attached\n');
while (existsSync(`/proc/${pid}`)) Atomics.wait(sleeper, 0, 0, counting.tend(performance.now()));
const seconds = (performance.now() - t0) / 1000;
const used = process.cpuUsage(cpu0);
const ticks = counting.ticks();
timer.close();
console.log(
  JSON.stringify({ cycles: ticks, rateHz: Math.round(ticks / seconds), cpuUs: used.user + used.system }),
);
