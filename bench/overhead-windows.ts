/**
 * What sampling costs a running target, measured inside one run of one target: bench/chunks.lua burns
 * the same chunk of work again and again at Lua depth 30 and prints its CPU time after each chunk; this
 * script takes the wall time of each line as it comes. Windows with nothing attached alternate with
 * windows under one configuration at a time:
 *   alone-again   nothing attached either: the noise band, what this run can resolve
 *   timer-floor   the bare timer on the thread's CPU time with a BPF program that only counts
 *                 (bench/timer-floor.ts: the floor under the default mode's kernel copies)
 *   default       `luaprof record -p PID`
 *   native        `luaprof record -p PID --native`
 *   blocking      `luaprof record -p PID --blocking`
 *   baseline      `luaprof record -p PID` of the build in another checkout (`--baseline DIR`): an A/B of
 *                 two builds in the same run
 * A configuration's window is measured from `--settle` seconds after it is attached (luaprof: after it
 * prints "sampling pid"; the first seconds of a recording are its JIT's, see bench/RESULTS.md) for
 * `--window` seconds; then it is stopped (SIGINT, as Ctrl-C) and the next window with nothing attached
 * begins once it has exited. The pace of a window is its mean wall time and CPU time per chunk; each
 * configuration window is compared with the mean of the windows with nothing attached on either side of
 * it (a machine whose speed drifts slowly moves both alike). Medians over the rounds; each round starts
 * one configuration further on.
 *
 * This is the steady state of a recording (a 30-s recording is mostly that); bench/run.ts measures a
 * fixed amount of work from luaprof's start to the target's end, start-up and attach included.
 *
 *   npm run build && node dist/bench/overhead-windows.js [--rounds 9] [--rate 1000] [--window 3]
 *       [--settle 5] [--modes alone-again,timer-floor,default,native] [--interpreter lua5.4]
 *       [--depth 30] [--chunk 2000000] [--baseline OTHER_CHECKOUT]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  CLI,
  cliCommand,
  chunksTarget,
  ROOT,
  detectModes,
  median,
  modeFlags,
  option,
  parseSummary,
  reportHeader,
  threadsCpuUs,
  type LuaprofMode,
} from './harness.js';

const ROUNDS = Number(option('rounds', '9'));
const RATE = Number(option('rate', '1000'));
const WINDOW_S = Number(option('window', '3'));
const SETTLE_S = Number(option('settle', '5'));
const INTERP = option('interpreter', 'lua5.4');
const DEPTH = option('depth', '30');
const CHUNK = option('chunk', '2000000');
const BASELINE = option('baseline', '');
const MODES = [
  ...option('modes', 'alone-again,timer-floor,default,native').split(','),
  ...(BASELINE ? ['baseline'] : []),
];
const KNOWN = ['alone-again', 'timer-floor', 'default', 'native', 'blocking', 'baseline'];
const TIMER_FLOOR = join(ROOT, 'dist/bench/timer-floor.js');

if (!(ROUNDS >= 1 && RATE > 0 && WINDOW_S > 0 && SETTLE_S >= 0) || MODES.some((m) => !KNOWN.includes(m))) {
  process.stderr.write(`overhead-windows: modes are ${KNOWN.join(', ')}; rounds, rate and window positive\n`);
  process.exit(2);
}
const cliModes = detectModes(CLI);

/** One line of the target: when it came (ms, this process's clock) and the target's CPU then (ms). */
interface Pace {
  wallMs: number;
  cpuMs: number;
}
const paces: Pace[] = [];
const target = chunksTarget(INTERP, DEPTH, CHUNK, (cpu) =>
  paces.push({ wallMs: performance.now(), cpuMs: cpu * 1000 }),
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wall and CPU ms per chunk between two moments (null when fewer than two chunks ended in it). */
function paceBetween(from: number, to: number): { wall: number; cpu: number } | null {
  const inside = paces.filter((p) => p.wallMs > from && p.wallMs <= to);
  if (inside.length < 2) return null;
  const a = inside[0];
  const b = inside[inside.length - 1];
  const n = inside.length - 1;
  return { wall: (b.wallMs - a.wallMs) / n, cpu: (b.cpuMs - a.cpuMs) / n };
}

/** A window `WINDOW_S` long from now: the target's pace in it. */
async function measure(): Promise<{ wall: number; cpu: number } | null> {
  const from = performance.now();
  await sleep(WINDOW_S * 1000);
  return paceBetween(from, performance.now());
}

/** Starts a sampler and resolves once it says it is attached (its stderr matches `ready`). */
function attach(
  cmd: string[],
  ready: RegExp,
): { proc: ChildProcess; attached: Promise<void>; err: () => string } {
  const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const attached = new Promise<void>((resolve, reject) => {
    proc.stderr!.on('data', (d) => {
      err += d;
      if (ready.test(err)) resolve();
    });
    proc.on('exit', (code) => reject(new Error(`${cmd.join(' ')} exited ${code} before attaching: ${err}`)));
  });
  return { proc, attached, err: () => err };
}

interface Window {
  config: string;
  pace: { wall: number; cpu: number } | null;
  /** luaprof's threads' CPU per tick over the window, µs (its rate × the window's length). */
  cpuPerTickUs?: number;
  rateHz?: number;
}

async function configWindow(config: string, dir: string): Promise<Window> {
  if (config === 'alone-again') {
    await sleep(SETTLE_S * 1000);
    return { config, pace: await measure() };
  }
  let cmd: string[];
  let ready: RegExp;
  if (config === 'timer-floor') {
    cmd = [process.execPath, TIMER_FLOOR, String(target.pid), String(RATE)];
    ready = /floor: attached/;
  } else {
    const baseline = config === 'baseline';
    const flags = baseline ? [] : modeFlags(cliModes, config as LuaprofMode);
    if (typeof flags === 'string') throw new Error(flags);
    const out = join(dir, `${config}.folded`);
    const args = [
      'record',
      '-p',
      String(target.pid),
      '-r',
      String(RATE),
      '-d',
      '10m',
      '-o',
      out,
      '-f',
      'folded',
    ];
    const cli = baseline ? join(BASELINE, 'dist/cli/main.js') : CLI;
    cmd = [...cliCommand(cli), ...args, '--no-progress', ...flags];
    ready = /sampling pid/;
  }
  const s = attach(cmd, ready);
  await s.attached;
  await sleep(SETTLE_S * 1000);
  const cpu0 = threadsCpuUs(s.proc.pid!);
  const t0 = performance.now();
  const pace = await measure();
  const cpu1 = threadsCpuUs(s.proc.pid!);
  const seconds = (performance.now() - t0) / 1000;
  const exited = new Promise((r) => s.proc.on('close', r));
  s.proc.kill(config === 'timer-floor' ? 'SIGKILL' : 'SIGINT');
  await exited;
  const summary = parseSummary(s.err());
  const ticks = (summary.rateHz ?? RATE) * seconds;
  return {
    config,
    pace,
    rateHz: summary.rateHz,
    cpuPerTickUs:
      cpu0 !== undefined && cpu1 !== undefined && config !== 'timer-floor'
        ? (cpu1 - cpu0) / ticks
        : undefined,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'luaprof-windows-'));
  // The target's first chunks: the recursion made, its pace settled.
  await sleep(1000);
  const windows: Window[] = [];
  const alone = async () => windows.push({ config: 'alone', pace: await measure() });
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < MODES.length; k++) {
      const config = MODES[(k + round) % MODES.length];
      await alone();
      windows.push(await configWindow(config, dir));
      process.stderr.write(`round ${round + 1}/${ROUNDS}: ${config}\n`);
    }
  }
  await alone();
  target.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });

  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}%`;
  const lines = [
    ...reportHeader(
      `${INTERP} bench/chunks.lua ${DEPTH} ${CHUNK}, ${RATE} Hz, windows of ${WINDOW_S} s from ${SETTLE_S} s after attach, ${ROUNDS} rounds`,
    ),
    '| configuration | wall per chunk against nothing attached (median, spread) | CPU per chunk (median, spread) | windows | luaprof CPU per tick in the window | rate achieved |',
    '|---|---|---|---|---|---|',
  ];
  for (const config of MODES) {
    const wall: number[] = [];
    const cpu: number[] = [];
    const perTick: number[] = [];
    const rates: number[] = [];
    windows.forEach((w, i) => {
      if (w.config !== config || !w.pace) return;
      const before = windows[i - 1]?.pace;
      const after = windows[i + 1]?.pace;
      if (!before || !after) return;
      wall.push(w.pace.wall / ((before.wall + after.wall) / 2) - 1);
      cpu.push(w.pace.cpu / ((before.cpu + after.cpu) / 2) - 1);
      if (w.cpuPerTickUs !== undefined) perTick.push(w.cpuPerTickUs);
      if (w.rateHz !== undefined) rates.push(w.rateHz);
    });
    const spread = (xs: number[]) => (xs.length ? `${pct(Math.min(...xs))} to ${pct(Math.max(...xs))}` : '');
    lines.push(
      `| ${config} | ${wall.length ? pct(median(wall)) : '-'} (${spread(wall)}) | ${cpu.length ? pct(median(cpu)) : '-'} (${spread(cpu)}) | ${wall.length} | ${perTick.length ? `${median(perTick).toFixed(1)} µs` : '-'} | ${rates.length ? `${median(rates).toFixed(0)} Hz` : '-'} |`,
    );
  }
  const aloneWall = median(windows.filter((w) => w.config === 'alone' && w.pace).map((w) => w.pace!.wall));
  lines.push('', `nothing attached: ${aloneWall.toFixed(2)} ms of wall per chunk (median of the windows)`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => {
  target.kill('SIGKILL');
  process.stderr.write(`overhead-windows: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
