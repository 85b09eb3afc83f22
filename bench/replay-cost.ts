/**
 * The CPU of the default mode's per-sample code alone, measured on the same copies again and again:
 * the kernel copies a stock lua5.4 at Lua depth 30 (bench/cpu.lua) at its own ticks, as in a
 * recording, and this process keeps --copies of those copies (their bytes its own). It then walks
 * and resolves them in their order, --passes times, as the sampling worker does (ThreadSampler.supply,
 * Target.sampleAll, StackIds), with no sleep, no ring and no wake-up between them, the target held
 * still meanwhile. The copies are the same in every run and every build, so two builds' figures
 * differ by their code, within a few percent, where tick-cost.ts and sample-cost.ts (the whole
 * sampler, cold caches after each sleep included) spread 10-30% on this VM. The figure is lower
 * than theirs: caches stay warm from one sample to the next.
 *
 *   npm run build && node dist/bench/replay-cost.js [--copies 2000] [--passes 20] [--repeat 5]
 *       [--depth 30] [--interpreter lua5.4]
 */
import type { CopierCopy } from '../sampler/copier/copier.js';
import { threadOf } from '../sampler/copier/next-copy.js';
import { StackIds } from '../sampler/stack-ids.js';
import { Target } from '../sampler/target.js';
import { busyLua, median, option, reportHeader } from './harness.js';
import { WorkerTicks } from './worker-ticks.js';

const COPIES = Number(option('copies', '2000'));
const PASSES = Number(option('passes', '20'));
const REPEAT = Number(option('repeat', '5'));
const DEPTH = option('depth', '30');
const INTERP = option('interpreter', 'lua5.4');
/** Copies taken first and left out: the plan settles, and V8 compiles the path. */
const SETTLE_COPIES = 3000;
/** Runs left out: V8 compiles the walk again with these copies' feedback (the first 3 ran ~10% slower). */
const WARM_RUNS = 3;

const child = busyLua(INTERP, DEPTH);
await new Promise((r) => setTimeout(r, 300));
try {
  const target = Target.attach(child.pid!, {});
  target.warmUp();
  const ticks = new WorkerTicks(target, 1, false, (copy) => {
    if (kept.length < SETTLE_COPIES + COPIES) kept.push(ownCopy(copy));
  });
  const kept: CopierCopy[] = [];
  while (kept.length < SETTLE_COPIES + COPIES) {
    const tick = ticks.next();
    if (tick === 'load') await ticks.load();
  }
  ticks.stop();
  // Held still while its copies are walked: a busy target beside this process (on the other half of
  // the core, on this VM) spread the figure 6-9 µs from run to run. The walk reads the copies, and
  // what it caches (bytecode, names); a thread copied at a tick is known to run (Target.sampleAll).
  process.kill(child.pid!, 'SIGSTOP');
  const copies = kept.slice(SETTLE_COPIES);
  const threads = target.copierThreads(true);
  const ids = new StackIds();
  const runs: number[] = [];
  let samples = 0;
  for (let r = 0; r < WARM_RUNS + REPEAT; r++) {
    const cpu0 = process.cpuUsage();
    let n = 0;
    for (let p = 0; p < PASSES; p++)
      for (const copy of copies) {
        const lone = threadOf(threads, copy)!;
        lone.supply(copy);
        for (const s of target.sampleAll(copy.dueNs)) {
          if (s.frames.length === 0) continue;
          ids.idOf(s.frames);
          ids.takeNew();
          n++;
        }
        lone.takeCopierUsed();
        lone.supply(null);
      }
    const used = process.cpuUsage(cpu0);
    if (r >= WARM_RUNS) runs.push((used.user + used.system) / (PASSES * copies.length));
    samples = n;
  }
  console.log(
    [
      ...reportHeader(
        `${INTERP} bench/cpu.lua at Lua depth ${DEPTH}: ${copies.length} of the kernel's copies, walked ${PASSES} times a run, ${REPEAT} runs (${samples} samples with frames in the last)`,
      ),
      `CPU per copy walked (this process, every thread): ${median(runs).toFixed(2)} µs (${runs.map((x) => x.toFixed(2)).join(', ')})`,
    ].join('\n'),
  );
} finally {
  child.kill('SIGKILL');
}

/** A copy whose bytes are its own (the ring's are given back once it is walked). */
function ownCopy(c: CopierCopy): CopierCopy {
  // Its fields set in place: a copy of another shape would make the walk's property loads miss.
  const own = { ...c };
  own.bytes = Buffer.from(c.bytes);
  if (c.chain) own.chain = Buffer.from(c.chain);
  return own;
}
