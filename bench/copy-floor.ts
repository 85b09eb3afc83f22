/**
 * The default mode's kernel side alone: luaprof's tick program copying the target at each tick of its
 * CPU-time timer (sampler/copier/tick-copier.ts), as in `record`, while this process walks only the
 * first SETTLE_WALKS copies (the plan settles on them) and then empties the ring a batch at a time
 * without walking, resolving or recording anything. What the target loses here and not under the bare
 * timer (bench/timer-floor.ts) is the program's copy; what it loses under `record` and not here is
 * luaprof's walking on the other CPU. bench/run.ts runs it beside `luaprof record` ("copy-floor").
 *
 *   node dist/bench/copy-floor.js PID RATE_HZ   (prints "floor: attached", then one JSON line at the end)
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { CopierBatch } from '../sampler/copier/batch.js';
import { nextCopy } from '../sampler/copier/next-copy.js';
import { TickCopiers } from '../sampler/copier/tick-copier.js';
import { Target } from '../sampler/target.js';
import { withBpfStats } from './harness.js';

/** Copies walked as the sampler walks them before this process only empties the ring. */
const SETTLE_WALKS = 300;

const pid = Number(process.argv[2]);
const rate = Number(process.argv[3]);
if (!Number.isInteger(pid) || !(rate > 0)) {
  process.stderr.write('usage: copy-floor PID RATE_HZ\n');
  process.exit(2);
}

const intervalMs = 1000 / rate;
const target = Target.attach(pid, {});
target.warmUp();
const loaded = await TickCopiers.load(pid, intervalMs);
if (!loaded) {
  process.stderr.write('copy-floor: needs BPF and perf events (run as root)\n');
  process.exit(2);
}
const copier: TickCopiers = loaded;
const batch = new CopierBatch(intervalMs);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
process.stderr.write('floor: attached\n');
let walks = 0;
let copies = 0;
/** Copies only taken from the ring, and this process's CPU from the first of them on. */
let drained = 0;
let drainCpu0 = process.cpuUsage();
// The program's own time in the target is counted meanwhile.
await withBpfStats(async () => {
  try {
    await loop();
  } catch (e) {
    // The target exits under us: the last walk may find it gone.
    if (existsSync(`/proc/${pid}`)) throw e;
  }
});

async function loop(): Promise<void> {
  let checkedAt = 0;
  for (;;) {
    // Whether the target is still there, every 100 ms (a path lookup each copy is CPU this floor would count).
    const now = performance.now();
    if (now - checkedAt > 100) {
      if (!existsSync(`/proc/${pid}`)) break;
      checkedAt = now;
    }
    const threads = target.copierThreads(true);
    if (!copier.copyOnly(threads)) throw new Error("a thread's tick timer was refused");
    const copy = threads.length > 0 ? nextCopy(copier, threads, 50, batch) : null;
    if (copy === 'none') continue;
    if (copy === null) {
      // Not copied yet: a sample the usual way learns the thread and plans its copy.
      target.sampleAll();
      await new Promise((r) => setTimeout(r, intervalMs));
      continue;
    }
    copies++;
    if (walks >= SETTLE_WALKS) {
      if (drained++ === 0) drainCpu0 = process.cpuUsage();
      copier.done();
      continue;
    }
    const lone = threads.find((t) => t.tid === copy.tid)!;
    lone.supply(copy);
    target.sampleAll(copy.dueNs);
    lone.takeCopierUsed();
    lone.supply(null);
    walks++;
  }
}
const seconds = (performance.now() - t0) / 1000;
const used = process.cpuUsage(cpu0);
const programUs = copier.programUsPerRun();
const drainUsed = process.cpuUsage(drainCpu0);
copier.stop();
console.log(
  JSON.stringify({
    cycles: copies,
    rateHz: Math.round(copies / seconds),
    cpuUs: used.user + used.system,
    programUs,
    drainUsPerCopy: drained > 0 ? (drainUsed.user + drainUsed.system) / drained : null,
  }),
);
