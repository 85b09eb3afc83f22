/**
 * luaprof's own CPU per sample (issue 9: ≤ 25 µs in the default mode, ≤ 60 µs with --native, at Lua
 * depth 30 and 1000 Hz): `luaprof record -p PID -r RATE -d SECONDS` on a busy stock lua5.4
 * (bench/cpu.lua at Lua depth 30), each mode repeated, the modes interleaved run by run.
 *
 *   npm run build && node dist/bench/sample-cost.js [--modes default,native] [--rate 1000] [--seconds 5]
 *       [--warm SECONDS] [--repeat 3] [--depth 30] [--interpreter lua5.4] [--cli FILE] [--pin 0,1]
 *
 * --pin: each mode's runs put the target on each of these CPUs in turn (taskset), a row per CPU
 * (luaprof keeps off the target's CPU, so this places luaprof too).
 *
 * Per run: the CPU of every luaprof thread per tick from --warm seconds after its start (default the
 * smaller of 5 s and a third of the run) to the end of sampling: the steady cost, once V8 has compiled
 * the sampling path (in a 5 s run its compiler threads take ~0.8 s); then the CLI's own figure
 * ("luaprof CPU X µs per sample": its process CPU from the first tick to the last, every thread, over
 * every tick that looked at the target), and where that CPU went, from
 * /proc/PID/task/*\/schedstat polled while it runs (the last value seen of each thread, so threads that
 * end early still count; Node start-up is included here, not in the CLI's figure): the main thread
 * (recorder, aggregation, output), the sampler (the busiest other thread: the worker), and the rest
 * (V8's compiler and GC threads, libuv). CPU time, not wall time: the machine may be shared.
 * Then the same CPU second by second from luaprof's start, per tick of the rate asked (median of the
 * runs): Node's start, the attach and the JIT's first seconds, and when the steady state begins; and
 * those seconds by thread (the sampler, the others but main, main), which says whose they are.
 *
 * The floor beside it, in the same run and this process: what one tick of the default mode costs in
 * system calls alone, with no sampling: a timed sleep (Atomics.wait, as the worker sleeps until a
 * sample is due), and the same sleep with the move onto a CPU before it and off after it
 * (sched_setaffinity twice, as the worker does to wake on the target thread's CPU).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { samplerAffinity } from '../sampler/os/affinity.js';
import {
  CLI,
  ROOT,
  commandLine,
  detectModes,
  median,
  modeFlags,
  option,
  type LuaprofMode,
  spawnCli,
} from './harness.js';

const RATE = Number(option('rate', '1000'));
const SECONDS = Number(option('seconds', '5'));
/** Seconds after luaprof's start from which the steady figure counts (V8 compiles the sampling path before). */
const WARM = Number(option('warm', String(Math.min(5, SECONDS / 3))));
const REPEAT = Number(option('repeat', '3'));
const DEPTH = option('depth', '30');
const INTERP = option('interpreter', 'lua5.4');
/** Taken now: the floor below leaves this thread on fewer CPUs than it started with. */
const CPUS = availableParallelism();
const MODES = option('modes', 'default,native').split(',').filter(Boolean) as LuaprofMode[];
const PINS = option('pin', '').split(',').filter(Boolean).map(Number);
const cli = detectModes(CLI);
for (const m of MODES) {
  const flags = modeFlags(cli, m);
  if (!['default', 'blocking', 'native'].includes(m) || typeof flags === 'string') {
    process.stderr.write(
      `sample-cost: cannot run mode "${m}"${typeof flags === 'string' ? `: ${flags}` : ''}\n`,
    );
    process.exit(2);
  }
}
if (!(RATE > 0 && SECONDS > 0 && REPEAT >= 1)) {
  process.stderr.write('sample-cost: --rate, --seconds and --repeat must be positive\n');
  process.exit(2);
}

interface Run {
  /** The CLI's "luaprof CPU X µs per sample". */
  perTickUs?: number;
  ticks?: number;
  samples?: number;
  /** CPU of every thread of luaprof per tick from WARM s after its start to the end of sampling, µs. */
  steadyUs?: number;
  /** CPU of the whole life of luaprof's threads, ms: main thread, sampler worker, the others. */
  mainMs: number;
  workerMs: number;
  otherMs: number;
  /** CPU of every thread per tick of RATE in each second from luaprof's spawn, µs. */
  perSecondUs: number[];
  /** The same seconds' CPU by thread, ms: the sampler worker, the other threads but main (V8's, libuv's), main. */
  perSecondMs: Record<ThreadKind, number[]>;
}

const THREAD_KINDS = ['worker', 'helpers', 'main'] as const;
type ThreadKind = (typeof THREAD_KINDS)[number];

/** CPU (ns) of each thread of `pid` now; threads already gone keep their last value in `last`. */
function pollThreads(pid: number, last: Map<number, number>): void {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    try {
      last.set(Number(tid), Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      /* the thread ended between the listing and the read */
    }
  }
}

async function runOnce(mode: LuaprofMode, cpu?: number): Promise<Run> {
  // Work large enough to outlast the recording; the target is killed afterwards.
  const command = [INTERP, join(ROOT, 'bench/cpu.lua'), DEPTH, '1000000'];
  if (cpu !== undefined) command.unshift('taskset', '-c', String(cpu));
  const target = spawn(command[0], command.slice(1), {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  target.stdin!.write('go\n');
  await new Promise((r) => setTimeout(r, 200));
  const dir = mkdtempSync(join(tmpdir(), 'luaprof-cost-'));
  const flags = modeFlags(cli, mode) as string[];
  const args = ['record', '-p', String(target.pid), '-r', String(RATE), '-d', `${SECONDS}s`];
  const prof = spawnCli([...args, '-o', join(dir, 'p.folded'), '-f', 'folded', '--no-progress', ...flags]);
  let err = '';
  prof.stderr!.on('data', (d) => (err += d));
  const last = new Map<number, number>();
  const spawnedAt = performance.now();
  const sumNs = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  /** Each thread's CPU (ns) at each second from the spawn. */
  const atSecond: Map<number, number>[] = [new Map()];
  const poll = setInterval(() => {
    pollThreads(prof.pid!, last);
    const second = Math.floor((performance.now() - spawnedAt) / 1000);
    if (second >= atSecond.length && second <= SECONDS) atSecond.push(new Map(last));
  }, 50);
  // Every thread's CPU at WARM s and at SECONDS s after the spawn (sampling starts a little after
  // the spawn, so the second is still inside it, before the profile is written).
  const cpuAt: { ms: number; ns: number }[] = [];
  const snapshot = () => {
    pollThreads(prof.pid!, last);
    cpuAt.push({ ms: performance.now(), ns: sumNs(last) });
  };
  const warmTimer = setTimeout(snapshot, WARM * 1000);
  const endTimer = setTimeout(snapshot, SECONDS * 1000);
  const code = await new Promise<number | null>((r) => prof.on('close', r));
  clearInterval(poll);
  clearTimeout(warmTimer);
  clearTimeout(endTimer);
  target.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) {
    process.stderr.write(`sample-cost: luaprof exited ${code}: ${err}\n`);
    process.exit(1);
  }
  const mainNs = last.get(prof.pid!) ?? 0;
  const others = [...last].filter(([tid]) => tid !== prof.pid).map(([, ns]) => ns);
  const workerNs = others.length ? Math.max(...others) : 0;
  const workerTid = [...last].find(([tid, ns]) => tid !== prof.pid && ns === workerNs)?.[0];
  const kindOf = (tid: number): ThreadKind =>
    tid === prof.pid ? 'main' : tid === workerTid ? 'worker' : 'helpers';
  const perSecondMs: Record<ThreadKind, number[]> = { worker: [], helpers: [], main: [] };
  for (let s = 1; s < atSecond.length; s++) {
    for (const kind of THREAD_KINDS) perSecondMs[kind].push(0);
    for (const [tid, ns] of atSecond[s])
      perSecondMs[kindOf(tid)][s - 1] += (ns - (atSecond[s - 1].get(tid) ?? 0)) / 1e6;
  }
  const otherNs = others.reduce((a, b) => a + b, 0) - workerNs;
  const line = err.split('\n').find((l) => l.includes('Hz achieved')) ?? '';
  process.stderr.write(`${mode}: ${line}\n`);
  const perTick = /luaprof CPU (\d+(?:\.\d+)?) µs per sample/.exec(line);
  const samples = /luaprof: (\d+) samples in/.exec(line);
  const counts = /(\d+) errors, \d+ late, (\d+) off-CPU, (\d+) idle, (\d+) without Lua/.exec(line);
  const dropped = /(\d+) dropped/.exec(line);
  const ticks =
    samples && counts
      ? Number(samples[1]) +
        Number(counts[1]) +
        Number(counts[2]) +
        Number(counts[3]) +
        Number(counts[4]) +
        Number(dropped?.[1] ?? 0)
      : undefined;
  const steadyTicks =
    ticks !== undefined && cpuAt.length === 2 ? (ticks / SECONDS) * ((cpuAt[1].ms - cpuAt[0].ms) / 1000) : 0;
  return {
    perTickUs: perTick ? Number(perTick[1]) : undefined,
    steadyUs: steadyTicks > 0 ? (cpuAt[1].ns - cpuAt[0].ns) / 1e3 / steadyTicks : undefined,
    ticks,
    samples: samples ? Number(samples[1]) : undefined,
    mainMs: mainNs / 1e6,
    workerMs: workerNs / 1e6,
    otherMs: otherNs / 1e6,
    perSecondUs: atSecond.slice(1).map((m, i) => (sumNs(m) - sumNs(atSecond[i])) / 1e3 / RATE),
    perSecondMs,
  };
}

/** CPU µs per tick of `tick`, over `n` ticks at RATE (this process does nothing else meanwhile). */
function floorPerTick(n: number, tick: (waitMs: number) => void): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) tick((1000 / RATE) * -Math.log(1 - Math.random()));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}
const ctrl = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(ctrl, 0, 0, ms);
function floors(): { sleepUs: number; moveUs: number } {
  const n = Math.min(3000, RATE * 2);
  const sleepUs = floorPerTick(n, sleep);
  let cpu = 0;
  const moveUs = samplerAffinity.useful
    ? floorPerTick(n, (ms) => {
        cpu = (cpu + 1) % CPUS;
        samplerAffinity.pin(cpu);
        sleep(ms);
        samplerAffinity.release();
      })
    : NaN;
  // release() leaves this thread off the CPU it was last on: a luaprof spawned after it would inherit
  // one CPU, and sample without the kernel's copies or a CPU of its own (off-CPU samples, 2-3x the CPU).
  spawnSync('taskset', ['-p', '-c', `0-${CPUS - 1}`, String(process.pid)], { stdio: 'ignore' });
  return { sleepUs, moveUs };
}

const placements: (number | undefined)[] = PINS.length ? PINS : [undefined];
const rowOf = (m: LuaprofMode, cpu: number | undefined) =>
  cpu === undefined ? m : `${m}, target on CPU ${cpu}`;
const runs = new Map<string, Run[]>();
for (const m of MODES) for (const cpu of placements) runs.set(rowOf(m, cpu), []);
const floorRuns: { sleepUs: number; moveUs: number }[] = [];
const load0 = loadavg();
for (let i = 0; i < REPEAT; i++) {
  for (const cpu of placements) for (const m of MODES) runs.get(rowOf(m, cpu))!.push(await runOnce(m, cpu));
  floorRuns.push(floors());
}

const fmt = (x: number | undefined, d = 1) => (x === undefined || !Number.isFinite(x) ? '?' : x.toFixed(d));
const spread = (xs: number[]) => (xs.length ? `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}` : '?');
const out = [
  `    ${commandLine()}`,
  '',
  `${new Date().toISOString()}, ${CPUS} CPUs, load average ${load0.map((x) => x.toFixed(2)).join(' ')} → ${loadavg()
    .map((x) => x.toFixed(2))
    .join(
      ' ',
    )}; ${INTERP} bench/cpu.lua at Lua depth ${DEPTH}, ${RATE} Hz, ${SECONDS} s, ${REPEAT} runs per mode`,
  '',
  `| mode | luaprof CPU per tick (median, spread) | from ${WARM} s on | ticks | samples kept | main thread | sampler worker | other threads |`,
  '|---|---|---|---|---|---|---|---|',
];
for (const [m, rs] of runs) {
  const per = rs.map((r) => r.perTickUs).filter((x): x is number => x !== undefined);
  const steady = rs.map((r) => r.steadyUs).filter((x): x is number => x !== undefined);
  const ms = (f: (r: Run) => number) => `${fmt(median(rs.map(f)), 0)} ms`;
  out.push(
    `| ${m} | ${fmt(median(per))} µs (${spread(per)}) | ${fmt(median(steady))} µs (${spread(steady)}) | ${fmt(median(rs.map((r) => r.ticks ?? NaN)), 0)} | ${fmt(median(rs.map((r) => r.samples ?? NaN)), 0)} | ${ms((r) => r.mainMs)} | ${ms((r) => r.workerMs)} | ${ms((r) => r.otherMs)} |`,
  );
}
const seconds = Math.max(0, ...[...runs.values()].flat().map((r) => r.perSecondUs.length));
out.push(
  '',
  `luaprof CPU per tick of ${RATE} Hz, second by second from its start (median of the runs):`,
  '',
  `| mode | ${Array.from({ length: seconds }, (_, i) => `${i}-${i + 1} s`).join(' | ')} |`,
  `|---|${'---|'.repeat(seconds)}`,
);
for (const [m, rs] of runs) {
  const cells = Array.from({ length: seconds }, (_, i) => {
    const xs = rs.map((r) => r.perSecondUs[i]).filter((x): x is number => x !== undefined);
    return xs.length ? `${fmt(median(xs), 0)} µs` : '';
  });
  out.push(`| ${m} | ${cells.join(' | ')} |`);
}
out.push(
  '',
  "The same seconds by thread, ms of CPU (median of the runs): the sampler worker, the other threads but the main one (V8's compiler and GC, libuv), the main thread:",
  '',
  `| mode: threads | ${Array.from({ length: seconds }, (_, i) => `${i}-${i + 1} s`).join(' | ')} |`,
  `|---|${'---|'.repeat(seconds)}`,
);
for (const [m, rs] of runs)
  for (const kind of THREAD_KINDS) {
    const cells = Array.from({ length: seconds }, (_, i) => {
      const xs = rs.map((r) => r.perSecondMs[kind][i]).filter((x): x is number => x !== undefined);
      return xs.length ? fmt(median(xs), 0) : '';
    });
    out.push(`| ${m}: ${kind} | ${cells.join(' | ')} |`);
  }
const sl = floorRuns.map((f) => f.sleepUs);
const mv = floorRuns.map((f) => f.moveUs).filter(Number.isFinite);
out.push(
  '',
  `floor per tick, no sampling (this process, CPU): timed sleep ${fmt(median(sl))} µs (${spread(sl)}); ` +
    `sleep with the move onto a CPU and off it ${mv.length ? `${fmt(median(mv))} µs (${spread(mv)})` : 'n/a (one CPU)'}`,
  'thread CPU is each thread\'s whole life (Node start-up and attach in "main thread"); the CLI figure counts the sampling only',
);
console.log(out.join('\n'));
