/**
 * The CPU of one sample's own work, without the sleep and the CPU moves around it: the copy (one
 * process_vm_readv of the planned spans), the Lua walk on it, the resolve (closures and Proto headers
 * read, names and lines) and the frame ids, as the sampling worker does them, on a stock lua5.4 at
 * Lua depth 30 held still (SIGSTOP) so every iteration walks the same stack. CPU time of this process
 * per iteration (nothing else runs in it), repeated; the part of luaprof's CPU per tick that its own
 * code decides (bench/sample-cost.ts has the rest: sleeps, moves, the threads around it).
 *
 *   npm run build && node dist/bench/walk-cost.js [--iterations 20000] [--repeat 3] [--depth 30]
 */
import { loadavg } from 'node:os';
import { FrameTable } from '../aggregator/profile.js';
import type { LuaRuntime } from '../sampler/lua/runtime.js';
import { PrefetchMemory, RemoteMemory } from '../sampler/os/remote-memory.js';
import { Target } from '../sampler/target.js';
import { busyLua, commandLine, median, option } from './harness.js';

const ITERATIONS = Number(option('iterations', '20000'));
const REPEAT = Number(option('repeat', '3'));
const DEPTH = option('depth', '30');
const INTERP = option('interpreter', 'lua5.4');

const child = busyLua(INTERP, DEPTH);
await new Promise((r) => setTimeout(r, 300));
const pid = child.pid!;
let result: string[];
try {
  const target = Target.attach(pid, {});
  process.kill(pid, 'SIGSTOP');
  await new Promise((r) => setTimeout(r, 50));
  // The runtime the sampler walks (the state found at attach).
  const rt = (target as unknown as { primary: LuaRuntime }).primary;
  const pm = new PrefetchMemory(new RemoteMemory(pid), undefined, undefined, 64, 3);
  const frames = new FrameTable();
  let depth = 0;
  const once = () => {
    pm.begin(null, 1);
    pm.detached();
    const raw = rt.capture(pm);
    // As the sampler does: closures and function headers come from the copy.
    const resolved = rt.resolve(raw, pm);
    pm.end();
    depth = resolved.frames.length;
    for (const f of resolved.frames) frames.intern(f);
  };
  // Plan the copy, then let V8 optimise the path before it is timed.
  pm.begin(null, 1);
  rt.resolve(rt.capture(pm), pm);
  pm.end();
  for (let i = 0; i < 2000; i++) once();
  const perIteration: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < ITERATIONS; i++) once();
    const c = process.cpuUsage(c0);
    perIteration.push((c.user + c.system) / ITERATIONS);
  }
  result = [
    `    ${commandLine()}`,
    '',
    `${new Date().toISOString()}, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; ${INTERP} bench/cpu.lua held at Lua depth ${DEPTH} (${depth} frames walked)`,
    '',
    `copy + walk + resolve + frame ids: ${median(perIteration).toFixed(1)} µs CPU per sample (median of ${REPEAT}×${ITERATIONS}: ${perIteration.map((x) => x.toFixed(1)).join(', ')})`,
  ];
} finally {
  process.kill(pid, 'SIGKILL');
}
console.log(result.join('\n'));
