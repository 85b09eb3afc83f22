/**
 * What the default mode's per-sample path allocates: a stock lua5.4 at Lua depth 30 (bench/cpu.lua)
 * is copied by the kernel at its own ticks (as root), and this process takes each copy from the ring,
 * walks and resolves it (Target.sampleAll) and numbers its frames (StackIds), as the sampling worker
 * does. From --warm seconds on, V8's sampling heap profiler runs with the objects later collected kept
 * in its figures (young and old): bytes allocated per sample, in all and by the function that
 * allocated. Allocation is what the young collector and the cache pay for at every sample;
 * `tick-cost.js` has the CPU.
 *
 *   npm run build && node dist/bench/sample-alloc.js [--seconds 6] [--warm 3] [--depth 30] [--top 20]
 */
import { Session } from 'node:inspector/promises';
import { Target } from '../sampler/target.js';
import { busyLua, option, reportHeader } from './harness.js';
import { WorkerTicks } from './worker-ticks.js';

const SECONDS = Number(option('seconds', '6'));
const WARM = Number(option('warm', '3'));
const DEPTH = option('depth', '30');
const TOP = Number(option('top', '20'));
/** Bytes between two of the profiler's samples (V8's default is 32 KB: too coarse for ~10 KB a tick). */
const SAMPLING_BYTES = 256;

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** Bytes by allocating function ("name file:line"), over the whole profile. */
function bytesByFunction(head: ProfileNode): Map<string, number> {
  const out = new Map<string, number>();
  const pending = [head];
  for (let node = pending.pop(); node; node = pending.pop()) {
    const cf = node.callFrame;
    const where = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber + 1}`;
    out.set(where, (out.get(where) ?? 0) + node.selfSize);
    pending.push(...node.children);
  }
  return out;
}

const child = busyLua('lua5.4', DEPTH);
await new Promise((r) => setTimeout(r, 300));
const session = new Session();
session.connect();
let samples = 0;
let profile: ProfileNode;
try {
  const target = Target.attach(child.pid!, {});
  target.warmUp();
  const ticks = new WorkerTicks(target, 1);
  let profiling = false;
  const t0 = performance.now();
  for (;;) {
    const now = performance.now();
    if (now - t0 > (WARM + SECONDS) * 1000) break;
    if (!profiling && now - t0 > WARM * 1000) {
      profiling = true;
      samples = 0;
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: SAMPLING_BYTES,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
    }
    const tick = ticks.next();
    if (tick === 'load') await ticks.load();
    else if (tick) samples += tick.samples;
  }
  ticks.stop();
  profile = ((await session.post('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } }).profile
    .head;
} finally {
  child.kill('SIGKILL');
  session.disconnect();
}
const byFunction = bytesByFunction(profile);
const total = [...byFunction.values()].reduce((a, b) => a + b, 0);
console.log(
  [
    ...reportHeader(
      `lua5.4 bench/cpu.lua at Lua depth ${DEPTH}, the kernel's copies at 1000 Hz, ${SECONDS} s after ${WARM} s, ${samples} samples`,
    ),
    `bytes allocated per sample: ${(total / samples).toFixed(0)}`,
    '',
    ...[...byFunction.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP)
      .map(([where, bytes]) => `${(bytes / samples).toFixed(0).padStart(6)}  ${where}`),
  ].join('\n'),
);
