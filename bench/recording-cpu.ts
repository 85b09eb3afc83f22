/**
 * luaprof's CPU per sample as issue 9 measured it: the whole-life CPU (user + system) of recordings of
 * different lengths of one busy target, and for each pair of lengths (B − A) CPU / (B − A) samples.
 * The target is pinned to one CPU, so luaprof (which keeps all its threads off the target's CPU) runs
 * on the others; a probe (bench/cpu-speed.ts) times a fixed piece of work on the first of them
 * throughout, and pairs are also given over the rounds whose two recordings both ran while that CPU
 * ran at full speed: on this VM a CPU runs at about half speed for tens of seconds at a time, and a
 * pair whose recordings met different speeds reads 12 or 47 µs for the same code.
 * Every cost a recording pays once (Node's start, the attach, the write-out) cancels in the pair. V8's
 * compiling of luaprof's own code does not: at 1000 Hz it goes on for the first ~5 s of a recording,
 * so a pair whose shorter recording ends before it (the issue's 9 s − 1 s) counts it as per-sample
 * cost, and a pair past it (30 s − 10 s) does not. Both are printed; the lengths are run interleaved,
 * each round starting one length further on, under bench/rusage-exec.ts (CPU to the µs).
 *
 *   npm run build && node dist/bench/recording-cpu.js [--durations 1,9,10,30] [--pairs 1-9,10-30]
 *       [--rounds 5] [--rate 1000] [--depth 30] [--interpreter lua5.4] [--mode default] [--target-cpu 0]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  busyLua,
  CLI,
  cliCommand,
  median,
  modeOptionFlags,
  option,
  parseSummary,
  reportHeader,
  RUSAGE_EXEC,
} from './harness.js';
import { CpuSpeedProbe } from './cpu-speed.js';

const DURATIONS = option('durations', '1,9,10,30').split(',').map(Number);
const PAIRS = option('pairs', '1-9,10-30')
  .split(',')
  .map((p) => p.split('-').map(Number) as [number, number]);
const ROUNDS = Number(option('rounds', '5'));
const RATE = Number(option('rate', '1000'));
const DEPTH = option('depth', '30');
const INTERP = option('interpreter', 'lua5.4');
const { mode, flags } = modeOptionFlags('recording-cpu', CLI);
/** The CPU the target is pinned to; luaprof and the speed probe run on the next one. */
const TARGET_CPU = Number(option('target-cpu', '0'));
const PROBE_CPU = (TARGET_CPU + 1) % availableParallelism();

const known = new Set(DURATIONS);
if (
  !(ROUNDS > 0 && RATE > 0) ||
  DURATIONS.some((d) => !(d > 0)) ||
  PAIRS.some(([a, b]) => !known.has(a) || !known.has(b) || !(b > a))
) {
  process.stderr.write(
    'recording-cpu: --durations positive seconds; --pairs A-B of them with B > A; --rounds and --rate positive\n',
  );
  process.exit(2);
}

interface Recording {
  cpuUs: number;
  samples: number;
  /** The probe's unit, mean µs of CPU while the recording ran (undefined: no reading in it). */
  unitUs: number | undefined;
}

/** One `record -d seconds` of the target under rusage-exec: its whole-life CPU and its samples. */
async function record(pid: number, seconds: number, dir: string): Promise<Recording> {
  const usage = join(dir, 'rusage.json');
  const out = join(dir, 'profile.json');
  const argv = [RUSAGE_EXEC, usage, ...cliCommand(), 'record', '-p', String(pid), '-r', String(RATE)];
  argv.push('-d', `${seconds}s`, '-o', out, ...flags);
  const started = Date.now();
  const prof = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  prof.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => prof.on('close', r));
  const samples = parseSummary(err).samples;
  if (code !== 0 || samples === undefined)
    throw new Error(`record -d ${seconds}s exited ${code}: ${err.trim().split('\n').pop()}`);
  const u = JSON.parse(readFileSync(usage, 'utf8')) as { userUs: number; sysUs: number };
  return { cpuUs: u.userUs + u.sysUs, samples, unitUs: speed.meanUnitUs(started, Date.now()) };
}

const dir = mkdtempSync(join(tmpdir(), 'recording-cpu-'));
const target = busyLua(INTERP, DEPTH);
execFileSync('taskset', ['-pc', String(TARGET_CPU), String(target.pid)], { stdio: 'ignore' });
const speed = CpuSpeedProbe.start(PROBE_CPU);
const runs = new Map<number, Recording[]>(DURATIONS.map((d) => [d, []]));
try {
  // The target settles and the probe's first readings (V8 compiling its unit) pass.
  await new Promise((r) => setTimeout(r, 3000));
  for (let round = 0; round < ROUNDS; round++)
    for (let i = 0; i < DURATIONS.length; i++) {
      const d = DURATIONS[(round + i) % DURATIONS.length];
      runs.get(d)!.push(await record(target.pid!, d, dir));
    }
} finally {
  target.kill('SIGKILL');
  await speed.stop();
  rmSync(dir, { recursive: true, force: true });
}

// The CPU's fastest speed in this run: the lowest mean unit any recording met.
const units = [...runs.values()]
  .flat()
  .map((r) => r.unitUs)
  .filter((u): u is number => u !== undefined);
const fastestUnit = units.length ? Math.min(...units) : undefined;
/** How many times its fastest the probe's unit took while `r` ran (NaN: unknown). */
const slowdown = (r: Recording) =>
  r.unitUs !== undefined && fastestUnit !== undefined ? r.unitUs / fastestUnit : NaN;
/**
 * A recording during which the CPU ran at its full speed, give or take the probe's own noise: the
 * probe's unit costs differ by a few percent reading to reading, and a whole recording's mean by less.
 */
const FULL_SPEED = 1.1;
const atFullSpeed = (r: Recording) => slowdown(r) <= FULL_SPEED;
const slowdowns = (rs: Recording[]) => rs.map((r) => slowdown(r).toFixed(2)).join(', ');

const lines = reportHeader(
  `${INTERP} bench/cpu.lua at Lua depth ${DEPTH} on CPU ${TARGET_CPU}, luaprof ${mode} at ${RATE} Hz, ${ROUNDS} rounds`,
);
lines.push(
  `CPU ${PROBE_CPU}'s speed (bench/cpu-speed.ts): a fixed piece of work took ${fastestUnit?.toFixed(0) ?? '?'} µs at its fastest in this run; ` +
    `each recording's figure below is how many times that it took while the recording ran`,
  '',
  '| recording | luaprof CPU, median (range) | samples, median | CPU speed: unit × its fastest, each round |',
  '|---|---|---|---|',
);
for (const d of DURATIONS) {
  const rs = runs.get(d)!;
  const cpu = rs.map((r) => r.cpuUs / 1e6);
  lines.push(
    `| ${d} s | ${median(cpu).toFixed(3)} s (${Math.min(...cpu).toFixed(3)}-${Math.max(...cpu).toFixed(3)}) | ${median(rs.map((r) => r.samples))} | ${slowdowns(rs)} |`,
  );
}
lines.push(
  '',
  `| pair | CPU per sample between, each round (µs) | median | rounds whose two recordings ran at ≤ ${FULL_SPEED}× the fastest | median |`,
  '|---|---|---|---|---|',
);
const pairCosts = new Map<string, { raw: number; full: number | undefined }>();
for (const [a, b] of PAIRS) {
  const ra = runs.get(a)!;
  const rb = runs.get(b)!;
  const raw = ra.map((x, i) => (rb[i].cpuUs - x.cpuUs) / (rb[i].samples - x.samples));
  const full = raw.filter((_, i) => atFullSpeed(ra[i]) && atFullSpeed(rb[i]));
  const show = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ') || 'none';
  const fullMedian = full.length ? median(full) : undefined;
  pairCosts.set(`${a}-${b}`, { raw: median(raw), full: fullMedian });
  lines.push(
    `| ${b} s − ${a} s | ${show(raw)} | **${median(raw).toFixed(1)}** | ${show(full)} | **${fullMedian?.toFixed(1) ?? '-'}** |`,
  );
}
// The issue's target, judged on the pair that starts latest: the one past V8's warm-up, if any is.
const [a, b] = PAIRS.reduce((x, y) => (y[0] > x[0] ? y : x));
const limit = mode === 'native' ? 60 : 25;
const judged = pairCosts.get(`${a}-${b}`)!;
const verdict = (x: number | undefined) =>
  x === undefined ? 'no such round' : `${x.toFixed(1)} µs, ${x <= limit ? 'met' : 'NOT met'}`;
lines.push(
  '',
  `target: luaprof CPU ≤ ${limit} µs a sample at Lua depth ${DEPTH}, ${b} s − ${a} s: as measured ${verdict(judged.raw)}; ` +
    `in the rounds at the CPU's full speed ${verdict(judged.full)}`,
);
process.stdout.write(lines.join('\n') + '\n');
