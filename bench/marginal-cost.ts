/**
 * What taking samples costs a running target, resolved finer than this host's drift: one target
 * (bench/chunks.lua: the same small chunk of work over and over at Lua depth 30, its CPU time printed
 * after each) runs throughout, and this process switches sampling on and off every --block ms:
 *   off       nothing ticks (the reference every other block is compared with)
 *   again     nothing ticks either: the noise band, what this run can resolve
 *   floor     the bare timer on the thread's CPU time with a BPF program that only counts
 *             (counting-timer.ts: what any copy taken in the thread's own context costs at least)
 *   default   the default mode's sampling: the kernel's copies at the timer's ticks, taken from the
 *             ring, walked, resolved and numbered by this process as the worker does (worker-ticks.ts)
 *   native-floor  the bare timer writing the perf sample `--native` asks for (registers, 32 KB of stack)
 *   native    `--native`'s sampling the same way (each copy with the tick's registers and stack, unwound)
 * Blocks go off, X, off, Y, off, Z, … with X, Y, Z drawn in a new order each cycle. Between blocks the
 * target's thread's CPU time and run-queue wait are read (/proc/PID/task/TID/schedstat, ns, the clock
 * os.clock() counts), and the target's chunk ends place its work on that same CPU clock. Per block: the
 * target's CPU time per unit of work, and its wall time (CPU + waiting for a CPU) per unit; each block
 * against the mean of the off blocks on either side. On this VM the target's pace drifts ±20% from one
 * 3-s window to the next (bench/RESULTS.md, session 28), which no comparison of whole recordings
 * resolves to 1%; blocks of 150 ms drift together.
 *
 * This is sampling's own cost once attached (a recording is mostly that); the attach and Node's start
 * are bench/run.ts's and bench/first-moments.ts's.
 *
 *   npm run build && node dist/bench/marginal-cost.js [--seconds 300] [--block 150] [--rate 1000]
 *       [--depth 30] [--chunk 250000] [--interpreter lua5.4]
 */
import { readFileSync } from 'node:fs';
import { Target } from '../sampler/target.js';
import { openCountingTimer } from './counting-timer.js';
import { chunksTarget, median, option, reportHeader, withBpfStats } from './harness.js';
import { WorkerTicks } from './worker-ticks.js';

const SECONDS = Number(option('seconds', '300'));
const BLOCK_MS = Number(option('block', '150'));
const RATE = Number(option('rate', '1000'));
const DEPTH = option('depth', '30');
const CHUNK = option('chunk', '250000');
const INTERP = option('interpreter', 'lua5.4');
const STATES = ['again', 'floor', 'default', 'native-floor', 'native'] as const;
type State = 'off' | (typeof STATES)[number];

if (!(SECONDS > 0 && BLOCK_MS >= 20 && RATE > 0)) {
  process.stderr.write('marginal-cost: --seconds and --rate positive, --block at least 20 (ms)\n');
  process.exit(2);
}

/** A block: its state, and the target thread's CPU time and wait (ns) at its start and end. */
interface Block {
  state: State;
  cpu0: number;
  wait0: number;
  cpu1: number;
  wait1: number;
  /** This process's CPU (µs), and the samples it took in the block (default) or the bare timer's ticks (floor). */
  ownCpuUs: number;
  samples: number;
}

/** The chunk ends, in the target's CPU ns (os.clock()), in order. */
const chunkEnds: number[] = [];
const target = chunksTarget(INTERP, DEPTH, CHUNK, (cpu) => chunkEnds.push(cpu * 1e9));
const pid = target.pid!;

function schedstat(): { cpu: number; wait: number } {
  const [cpu, wait] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ').map(Number);
  return { cpu, wait };
}

/** Chunks done by CPU time `ns`: whole chunks ended by then, and the running one's share. */
function workAt(ns: number): number {
  let lo = 0;
  let hi = chunkEnds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (chunkEnds[mid] <= ns) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0 || lo === chunkEnds.length) return NaN;
  return lo - 1 + (ns - chunkEnds[lo - 1]) / (chunkEnds[lo] - chunkEnds[lo - 1]);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleepUntil = (at: number) => {
  const ms = at - performance.now();
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
};
const turn = () => new Promise<void>((r) => setImmediate(r));

async function main(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000));
  const lua = Target.attach(pid, {});
  lua.warmUp();
  const ticks = new WorkerTicks(lua, 1000 / RATE);
  const native = new WorkerTicks(Target.attach(pid, { native: true, nativeTicks: true }), 1000 / RATE, true);
  const floor = openCountingTimer(pid, RATE);
  const nativeFloor = openCountingTimer(pid, RATE, true);
  if (typeof floor === 'string') throw new Error(`the bare timer: ${floor}`);
  if (typeof nativeFloor === 'string') throw new Error(`the bare timer with perf samples: ${nativeFloor}`);
  const blocks: Block[] = [];
  const runBlock = async (state: State): Promise<void> => {
    const at = schedstat();
    const own0 = process.cpuUsage();
    const end = performance.now() + BLOCK_MS;
    let samples = 0;
    if (state === 'default' || state === 'native') {
      const walker = state === 'native' ? native : ticks;
      while (performance.now() < end) {
        const tick = walker.next();
        if (tick === 'load') await walker.load();
        else if (tick) samples += tick.samples;
      }
      walker.pause();
    } else if (state === 'floor' || state === 'native-floor') {
      const bare = state === 'floor' ? floor : nativeFloor;
      const ticked = bare.ticks();
      bare.timer.enable();
      for (let t = performance.now(); t < end; t = performance.now())
        sleepUntil(Math.min(end, t + bare.tend(t)));
      bare.timer.disable();
      samples = bare.ticks() - ticked;
    } else sleepUntil(end);
    const to = schedstat();
    const own = process.cpuUsage(own0);
    blocks.push({
      state,
      cpu0: at.cpu,
      wait0: at.wait,
      cpu1: to.cpu,
      wait1: to.wait,
      ownCpuUs: own.user + own.system,
      samples,
    });
    await turn(); // the target's lines are read at turns of the event loop
  };
  // The tick programs loaded, and this process's walks warm (V8's compiler), before anything counts.
  const warmEnd = performance.now() + 6000;
  while (performance.now() < warmEnd) {
    await runBlock('default');
    await runBlock('native');
  }
  blocks.length = 0;
  const end = performance.now() + SECONDS * 1000;
  while (performance.now() < end) {
    const order = [...STATES].sort(() => Math.random() - 0.5);
    for (const s of order) {
      await runBlock('off');
      await runBlock(s);
    }
  }
  await runBlock('off');
  const programUs = ticks.programUsPerRun();
  const nativeProgramUs = native.programUsPerRun();
  ticks.stop();
  native.stop();
  floor.timer.close();
  nativeFloor.timer.close();
  await new Promise((r) => setTimeout(r, 200));
  target.kill('SIGKILL');
  report(blocks, programUs, nativeProgramUs);
}

interface Pace {
  cpu: number;
  wall: number;
}

/** CPU and wall (CPU + run-queue wait) ns per chunk in a block; null where its work is not known. */
function paceOf(b: Block): Pace | null {
  const work = workAt(b.cpu1) - workAt(b.cpu0);
  if (!(work > 0)) return null;
  const cpu = b.cpu1 - b.cpu0;
  return { cpu: cpu / work, wall: (cpu + b.wait1 - b.wait0) / work };
}

function report(blocks: Block[], programUs: number, nativeProgramUs: number): void {
  const paces = blocks.map(paceOf);
  const rows: string[] = [];
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(2)}%`;
  const meanSe = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
    return `${pct(m)} ± ${((100 * sd) / Math.sqrt(xs.length)).toFixed(2)}`;
  };
  for (const s of STATES) {
    const cpu: number[] = [];
    const wall: number[] = [];
    let ownUs = 0;
    let samples = 0;
    for (let i = 1; i + 1 < blocks.length; i++) {
      const p = paces[i];
      const before = paces[i - 1];
      const after = paces[i + 1];
      if (blocks[i].state !== s || !p || !before || !after) continue;
      cpu.push(p.cpu / ((before.cpu + after.cpu) / 2) - 1);
      wall.push(p.wall / ((before.wall + after.wall) / 2) - 1);
      ownUs += blocks[i].ownCpuUs;
      samples += blocks[i].samples;
    }
    const own = s === 'default' || s === 'native' ? `${(ownUs / samples).toFixed(1)} µs` : '-';
    const rate = samples > 0 ? `${Math.round(samples / ((cpu.length * BLOCK_MS) / 1000))} Hz` : '-';
    rows.push(
      `| ${s} | ${pct(median(wall))} (${meanSe(wall)}) | ${pct(median(cpu))} (${meanSe(cpu)}) | ${cpu.length} | ${own} | ${rate} |`,
    );
  }
  const us = (x: number) => (Number.isFinite(x) ? `${x.toFixed(1)} µs` : 'unknown');
  const off = paces.filter((p, i) => p && blocks[i].state === 'off') as Pace[];
  console.log(
    [
      ...reportHeader(
        `${INTERP} bench/chunks.lua ${DEPTH} ${CHUNK} (${(median(off.map((p) => p.cpu)) / 1e6).toFixed(2)} ms of CPU a chunk), ${RATE} Hz, blocks of ${BLOCK_MS} ms for ${SECONDS} s`,
      ),
      "| state | target wall per chunk against the off blocks beside it: median (mean ± s.e.) | target CPU per chunk | blocks | this process's CPU per sample | rate |",
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      `the tick program's time in the target's context per copy: ${us(programUs)} (default), ${us(nativeProgramUs)} (native)`,
    ].join('\n'),
  );
}

await withBpfStats(main);
