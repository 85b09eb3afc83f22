/**
 * luaprof's CPU per sample as issue 9 measured it: the whole-life CPU (user + system) of recordings of
 * different lengths of one busy target, and for each pair of lengths (B − A) CPU / (B − A) samples.
 * Every cost a recording pays once (Node's start, the attach, the write-out) cancels in the pair. V8's
 * compiling of luaprof's own code does not: at 1000 Hz it goes on for the first ~5 s of a recording,
 * so a pair whose shorter recording ends before it (the issue's 9 s − 1 s) counts it as per-sample
 * cost, and a pair past it (30 s − 10 s) does not. Both are printed; the lengths are run interleaved,
 * each round starting one length further on, under bench/rusage-exec.ts (CPU to the µs).
 *
 *   npm run build && node dist/bench/recording-cpu.js [--durations 1,9,10,30] [--pairs 1-9,10-30]
 *       [--rounds 5] [--rate 1000] [--depth 30] [--interpreter lua5.4] [--mode default]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

const DURATIONS = option('durations', '1,9,10,30').split(',').map(Number);
const PAIRS = option('pairs', '1-9,10-30')
  .split(',')
  .map((p) => p.split('-').map(Number) as [number, number]);
const ROUNDS = Number(option('rounds', '5'));
const RATE = Number(option('rate', '1000'));
const DEPTH = option('depth', '30');
const INTERP = option('interpreter', 'lua5.4');
const { mode, flags } = modeOptionFlags('recording-cpu', CLI);

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
}

/** One `record -d seconds` of the target under rusage-exec: its whole-life CPU and its samples. */
async function record(pid: number, seconds: number, dir: string): Promise<Recording> {
  const usage = join(dir, 'rusage.json');
  const out = join(dir, 'profile.json');
  const argv = [RUSAGE_EXEC, usage, ...cliCommand(), 'record', '-p', String(pid), '-r', String(RATE)];
  argv.push('-d', `${seconds}s`, '-o', out, ...flags);
  const prof = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  prof.stderr!.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => prof.on('close', r));
  const samples = parseSummary(err).samples;
  if (code !== 0 || samples === undefined)
    throw new Error(`record -d ${seconds}s exited ${code}: ${err.trim().split('\n').pop()}`);
  const u = JSON.parse(readFileSync(usage, 'utf8')) as { userUs: number; sysUs: number };
  return { cpuUs: u.userUs + u.sysUs, samples };
}

const dir = mkdtempSync(join(tmpdir(), 'recording-cpu-'));
const target = busyLua(INTERP, DEPTH);
const runs = new Map<number, Recording[]>(DURATIONS.map((d) => [d, []]));
try {
  await new Promise((r) => setTimeout(r, 300));
  for (let round = 0; round < ROUNDS; round++)
    for (let i = 0; i < DURATIONS.length; i++) {
      const d = DURATIONS[(round + i) % DURATIONS.length];
      runs.get(d)!.push(await record(target.pid!, d, dir));
    }
} finally {
  target.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

const lines = reportHeader(
  `${INTERP} bench/cpu.lua at Lua depth ${DEPTH}, luaprof ${mode} at ${RATE} Hz, ${ROUNDS} rounds`,
);
lines.push('| recording | luaprof CPU, median (range) | samples, median |', '|---|---|---|');
for (const d of DURATIONS) {
  const rs = runs.get(d)!;
  const cpu = rs.map((r) => r.cpuUs / 1e6);
  lines.push(
    `| ${d} s | ${median(cpu).toFixed(3)} s (${Math.min(...cpu).toFixed(3)}-${Math.max(...cpu).toFixed(3)}) | ${median(rs.map((r) => r.samples))} |`,
  );
}
lines.push('', '| pair | CPU per sample between, each round (µs) | median |', '|---|---|---|');
const pairCosts = new Map<string, number[]>();
for (const [a, b] of PAIRS) {
  const ra = runs.get(a)!;
  const rb = runs.get(b)!;
  const each = ra.map((x, i) => (rb[i].cpuUs - x.cpuUs) / (rb[i].samples - x.samples));
  pairCosts.set(`${a}-${b}`, each);
  lines.push(
    `| ${b} s − ${a} s | ${each.map((x) => x.toFixed(1)).join(', ')} | **${median(each).toFixed(1)}** |`,
  );
}
// The issue's target, judged on the pair that starts latest: the one past V8's warm-up, if any is.
const [a, b] = PAIRS.reduce((x, y) => (y[0] > x[0] ? y : x));
const limit = mode === 'native' ? 60 : 25;
const judged = median(pairCosts.get(`${a}-${b}`)!);
lines.push(
  '',
  `target: luaprof CPU ≤ ${limit} µs a sample at Lua depth ${DEPTH}, ${b} s − ${a} s: ${judged.toFixed(1)} µs, ${judged <= limit ? 'met' : 'NOT met'}`,
);
process.stdout.write(lines.join('\n') + '\n');
