/**
 * Kill trials (issue 13): luaprof SIGKILLed at random moments (while it attaches, between samples,
 * inside a pause: at 5000 Hz with --blocking and --native most of its time is spent around pauses),
 * and the target SIGKILLed mid-recording. After each trial the target must be neither stopped
 * (state T/t) nor traced (TracerPid 0); when the target died, luaprof must have written its profile
 * and exited with its documented code (9). The test suite runs a short series; bench/kill-trials.ts
 * the long one. Both start luaprof from this checkout's dist/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseProfile } from '../report/read.js';
import { ROOT, tempDir } from './root.js';
import { rng } from './rng.js';

const CLI = join(ROOT, 'dist/cli/main.js');
const TARGET = join(ROOT, 'fixtures/lua/idle.lua');

/** The modes luaprof is killed in: rate and flags. */
export const KILL_MODES: readonly { rate: number; flags: string[] }[] = [
  { rate: 100, flags: [] },
  { rate: 5000, flags: [] },
  { rate: 5000, flags: ['--blocking'] },
  { rate: 5000, flags: ['--native'] },
  { rate: 1000, flags: ['--blocking'] },
];

export interface TrialResult {
  mode: string;
  /** luaprof was killed (or the target) after luaprof said it samples, not while it attached. */
  whileSampling: boolean;
  /** The target left stopped (T/t) or traced: must never happen. */
  leftStopped: boolean;
  leftTraced: boolean;
  /** Target kills: luaprof's exit code and whether its profile was written and readable. */
  exitCode?: number | null;
  profileWritten?: boolean;
  /** Exit 10: the target died before any sample with Lua frames, and luaprof said so. */
  noLuaSample?: boolean;
  detail?: string;
}

function status(pid: number): { state: string; tracer: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { state: /State:\s*(\S)/.exec(s)![1], tracer: Number(/TracerPid:\s*(\d+)/.exec(s)![1]) };
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a busy Lua target. */
export function startTarget(): ChildProcess {
  return spawn('lua5.4', [TARGET], { stdio: 'ignore' });
}

interface Luaprof {
  child: ChildProcess;
  sampling: Promise<boolean>;
  exit: Promise<number | null>;
  stderr: () => string;
}

function startLuaprof(args: string[]): Luaprof {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  let onSampling: (v: boolean) => void = () => {};
  const sampling = new Promise<boolean>((r) => (onSampling = r));
  child.stderr!.on('data', (d) => {
    err += d;
    if (err.includes('luaprof: sampling pid')) onSampling(true);
  });
  const exit = new Promise<number | null>((r) =>
    child.on('close', (code) => {
      onSampling(false);
      r(code);
    }),
  );
  return { child, sampling, exit, stderr: () => err };
}

/**
 * After luaprof is gone the kernel releases its tracees (asynchronously): waits up to `ms` for the
 * target to be untraced and running; what it finds then is the verdict.
 */
async function released(pid: number, ms = 3000): Promise<{ stopped: boolean; traced: boolean }> {
  const end = Date.now() + ms;
  for (;;) {
    const s = status(pid);
    if (!s) return { stopped: false, traced: false }; // gone: nothing left to hold
    const stopped = s.state === 'T' || s.state === 't';
    const traced = s.tracer !== 0;
    if ((!stopped && !traced) || Date.now() > end) return { stopped, traced };
    await sleep(20);
  }
}

/**
 * One luaprof kill: record `target` in `mode`, SIGKILL luaprof at a random moment: one trial in five
 * 0–`attachMs` after its start (while it starts and attaches), the others 0–`samplingMs` after it
 * says it samples; then check the target.
 */
export async function killLuaprofOnce(
  target: number,
  mode: { rate: number; flags: string[] },
  rand: () => number,
  attachMs = 1500,
  samplingMs = 400,
): Promise<TrialResult> {
  const dir = tempDir('luaprof-kill-');
  const run = startLuaprof(recordArgs(target, mode, join(dir, 'p.json')));
  const early = rand() < 0.2;
  const delay = rand() * (early ? attachMs : samplingMs);
  if (!early) await run.sampling;
  await Promise.race([sleep(delay), run.exit]);
  const whileSampling = run.stderr().includes('luaprof: sampling pid');
  run.child.kill('SIGKILL');
  await run.exit;
  const r = await released(target);
  rmSync(dir, { recursive: true, force: true });
  if (r.stopped) process.kill(target, 'SIGCONT'); // a failed trial must not spoil the next ones
  return {
    mode: `${mode.rate} Hz ${mode.flags.join(' ') || 'default'}`,
    whileSampling,
    leftStopped: r.stopped,
    leftTraced: r.traced,
    detail:
      r.stopped || r.traced
        ? `target ${target} after a kill ${delay.toFixed(0)} ms after ${early ? 'start' : 'sampling began'}`
        : undefined,
  };
}

/** The recording every trial kills into: up to 30 s of `pid` in `mode`, to `out`. */
function recordArgs(pid: number, mode: { rate: number; flags: string[] }, out: string): string[] {
  return [
    'record',
    '-p',
    String(pid),
    '-d',
    '30s',
    '-r',
    String(mode.rate),
    ...mode.flags,
    '--no-progress',
    '-o',
    out,
  ];
}

/**
 * One target kill: a fresh target, recorded for up to 30 s in `mode`; once luaprof samples, the target
 * is SIGKILLed after a random 0–`maxDelayMs`. luaprof must write its profile and exit 9 (the target
 * exited before the recording ended), or 10 when it says no sample had Lua frames (killed before one).
 */
export async function killTargetOnce(
  mode: { rate: number; flags: string[] },
  rand: () => number,
  maxDelayMs = 500,
): Promise<TrialResult> {
  const target = startTarget();
  const pid = target.pid!;
  const dir = tempDir('luaprof-kill-');
  const out = join(dir, 'p.json');
  await sleep(100); // the interpreter loaded
  const run = startLuaprof(recordArgs(pid, mode, out));
  const whileSampling = await run.sampling;
  await sleep(rand() * maxDelayMs);
  target.kill('SIGKILL');
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 30_000);
  const exitCode = await run.exit;
  clearTimeout(timer);
  let profileWritten: boolean;
  try {
    profileWritten = existsSync(out) && Array.isArray(parseProfile(readFileSync(out), 'p.json').threads);
  } catch {
    profileWritten = false;
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    mode: `${mode.rate} Hz ${mode.flags.join(' ') || 'default'}`,
    whileSampling,
    leftStopped: false,
    leftTraced: false,
    exitCode,
    profileWritten,
    noLuaSample: exitCode === 10 && run.stderr().includes('luaprof: no sample had Lua frames'),
    detail:
      exitCode !== 9 || !profileWritten ? run.stderr().trim().split('\n').slice(-2).join(' | ') : undefined,
  };
}

export interface TrialSummary {
  luaprofKills: number;
  luaprofKillsWhileSampling: number;
  targetKills: number;
  stopped: number;
  traced: number;
  /** Target kills after which luaprof did not exit 9 (or 10, saying why) with its profile written. */
  lostOrWrongCode: number;
  /** Target kills that ended with exit 10 (no Lua sample yet). */
  noLuaSample: number;
  failures: string[];
  seconds: number;
}

/**
 * Runs `luaprofKills` luaprof kills and `targetKills` target kills, `parallel` at a time (each slot
 * with a target of its own for the luaprof kills), modes in turn.
 */
export async function runKillTrials(opts: {
  luaprofKills: number;
  targetKills: number;
  parallel: number;
  seed: number;
  onProgress?: (line: string) => void;
}): Promise<TrialSummary> {
  const t0 = Date.now();
  const rand = rng(opts.seed);
  const results: TrialResult[] = [];
  const targets = Array.from({ length: opts.parallel }, () => startTarget());
  try {
    await sleep(200);
    for (let done = 0; done < opts.luaprofKills;) {
      const batch = Math.min(opts.parallel, opts.luaprofKills - done);
      const runs = Array.from({ length: batch }, (_, k) =>
        killLuaprofOnce(targets[k].pid!, KILL_MODES[(done + k) % KILL_MODES.length], rand),
      );
      results.push(...(await Promise.all(runs)));
      done += batch;
      opts.onProgress?.(
        `luaprof kills: ${done}/${opts.luaprofKills} (${results.filter((r) => r.whileSampling).length} while sampling), ` +
          `left stopped ${results.filter((r) => r.leftStopped).length}, traced ${results.filter((r) => r.leftTraced).length}`,
      );
    }
  } finally {
    for (const t of targets) t.kill('SIGKILL');
  }
  const targetResults: TrialResult[] = [];
  for (let done = 0; done < opts.targetKills;) {
    const batch = Math.min(opts.parallel, opts.targetKills - done);
    const runs = Array.from({ length: batch }, (_, k) =>
      killTargetOnce(KILL_MODES[(done + k) % KILL_MODES.length], rand),
    );
    targetResults.push(...(await Promise.all(runs)));
    done += batch;
    opts.onProgress?.(
      `target kills: ${done}/${opts.targetKills}, without a written profile and exit 9/10 ` +
        `${targetResults.filter((r) => !((r.exitCode === 9 || r.noLuaSample) && r.profileWritten)).length}`,
    );
  }
  const all = [...results, ...targetResults];
  const bad = targetResults.filter((r) => !((r.exitCode === 9 || r.noLuaSample) && r.profileWritten));
  return {
    luaprofKills: results.length,
    luaprofKillsWhileSampling: results.filter((r) => r.whileSampling).length,
    targetKills: targetResults.length,
    stopped: all.filter((r) => r.leftStopped).length,
    traced: all.filter((r) => r.leftTraced).length,
    lostOrWrongCode: bad.length,
    noLuaSample: targetResults.filter((r) => r.noLuaSample).length,
    failures: [...all.filter((r) => r.leftStopped || r.leftTraced), ...bad].map(
      (r) =>
        `${r.mode}: ${r.leftStopped ? 'left stopped ' : ''}${r.leftTraced ? 'left traced ' : ''}${r.exitCode !== undefined ? `exit ${r.exitCode}, profile ${r.profileWritten ? 'written' : 'missing'} ` : ''}${r.detail ?? ''}`,
    ),
    seconds: (Date.now() - t0) / 1000,
  };
}
