/**
 * --subprocesses follows Lua below any process (issue: wrapper scripts, test runners, process
 * managers): every descendant is followed whether or not it or its parent runs Lua; each process that
 * runs Lua gets its own profile, named by its command line; short-lived interpreters are kept.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Profile } from '../aggregator/profile.js';
import { ExitCode } from '../sampler/errors.js';
import { readProfile } from '../report/read.js';
import { FIXTURES, ROOT, luaprof, tempDir } from './helpers/lua-process.js';
import { expectSharesMatchTruth } from './helpers/shares.js';

const TREE = join(ROOT, 'fixtures/lua/tree');
const JOB = join(TREE, 'job.lua');
const SHARES = join(FIXTURES, 'shares.lua');
/** From the moment a process starts running Lua to its first sample. */
const FIRST_SAMPLE_MS = 50;

/** The part of a profile that one process recorded. */
function onlyProcess(p: Profile, pid: number): Profile {
  return { ...p, threads: p.threads.filter((t) => t.pid === pid) };
}

/** The pid of the one process whose command line contains `text`. */
function pidOf(p: Profile, text: string): number {
  const pids = new Set(p.threads.filter((t) => t.name.includes(text)).map((t) => t.pid!));
  expect([...pids], `processes whose command line has ${text}`).toHaveLength(1);
  return [...pids][0];
}

/** Wall-clock ms from each mark (`date +%s%N` lines) to the first sample of the process started after it. */
function firstSampleDelays(p: Profile, marksFile: string, pids: number[]): number[] {
  const marks = readFileSync(marksFile, 'utf8')
    .trim()
    .split('\n')
    .map((l) => Number(BigInt(l) / 1000n) / 1000);
  const firsts = pids.map((pid) =>
    Math.min(...p.threads.filter((t) => t.pid === pid).map((t) => p.meta.startTime + t.times[0])),
  );
  firsts.sort((a, b) => a - b);
  expect(firsts).toHaveLength(marks.length);
  return firsts.map((f, i) => f - marks[i]);
}

/** Per process: its name (the command line) and the function names on its samples. */
function processes(p: Profile): Map<number, { name: string; samples: number; functions: Set<string> }> {
  const out = new Map<number, { name: string; samples: number; functions: Set<string> }>();
  for (const t of p.threads) {
    const pid = t.pid!;
    const e = out.get(pid) ?? { name: t.name, samples: 0, functions: new Set<string>() };
    e.samples += t.samples.length;
    for (const s of t.samples) for (const f of p.stacks[s]) e.functions.add(p.frames[f].name);
    out.set(pid, e);
  }
  return out;
}

async function recordTree(args: string[], command: string[]) {
  const out = join(tempDir(), 'tree.json');
  const r = await luaprof(['record', '--subprocesses', '-o', out, ...args, '--', ...command], 120_000);
  expect(r.status, r.stderr).toBe(0);
  return { profile: readProfile(out), stderr: r.stderr };
}

describe('--subprocesses follows every descendant', () => {
  it(
    'a shell running two interpreters in parallel, then one after the other',
    { timeout: 120_000 },
    async () => {
      for (const script of [
        `lua5.4 ${JOB} job_a 0.8 & lua5.1 ${JOB} job_b 0.8; wait`,
        `lua5.4 ${JOB} job_a 0.5; lua5.3 ${JOB} job_b 0.5`,
      ]) {
        const { profile, stderr } = await recordTree(['-r', '200'], ['bash', '-c', script]);
        const procs = [...processes(profile).values()];
        expect(procs, stderr).toHaveLength(2);
        const a = procs.find((p) => p.name.includes('job_a'));
        const b = procs.find((p) => p.name.includes('job_b'));
        expect(a?.functions.has('job_a'), stderr).toBe(true);
        expect(b?.functions.has('job_b'), stderr).toBe(true);
        expect(a!.functions.has('job_b')).toBe(false);
        expect(a!.samples).toBeGreaterThan(10);
        expect(b!.samples).toBeGreaterThan(10);
        // The summary lists each process with its samples and command line.
        expect(stderr).toMatch(/luaprof: {3}pid \d+: \d+ samples {2}lua5\.4 .*job_a/);
      }
    },
  );

  it(
    'shell → runner → 20 short-lived interpreters (~100 ms each): every one is profiled',
    { timeout: 120_000 },
    async () => {
      const marks = join(tempDir(), 'marks.txt');
      const { profile, stderr } = await recordTree(
        ['-r', '200'],
        ['sh', '-c', `${join(TREE, 'runner.sh')} lua5.4 20 0.1 ${marks}`],
      );
      const procs = [...processes(profile).values()];
      for (let i = 1; i <= 20; i++) {
        const p = procs.find((x) => x.name.endsWith(`test_${i} 0.1`));
        expect(p, `test_${i}: ${stderr}`).toBeDefined();
        expect(p!.functions.has(`test_${i}`), `test_${i}`).toBe(true);
      }
      expect(procs.every((p) => p.samples > 0)).toBe(true);
      // Interpreters started one after another are sampled soon after the runner starts them (their
      // fork, exec and the interpreter's own start included): the median within 50 ms. Each one is held
      // to 150 ms, not 50: a 100 ms process's attach competes with the runner's next fork on 2 vCPUs
      // (the one-process case below holds the 50 ms bound itself).
      const delays = firstSampleDelays(profile, marks, [...processes(profile).keys()]);
      const shown = delays.map((d) => d.toFixed(1)).join(' ');
      const sorted = [...delays].sort((a, b) => a - b);
      expect(sorted[Math.floor(sorted.length / 2)], shown).toBeLessThanOrEqual(FIRST_SAMPLE_MS);
      expect(sorted[sorted.length - 1], shown).toBeLessThanOrEqual(3 * FIRST_SAMPLE_MS);
    },
  );

  it(
    'two interpreters that measure their own split, in parallel under a shell: shares within 3 points each',
    { timeout: 120_000 },
    async () => {
      const dir = tempDir();
      const [t54, t51] = [join(dir, 'truth54.txt'), join(dir, 'truth51.txt')];
      // 300 Hz for 5 s: both vCPUs run a target, and a sampler that borrows one of them at 1000 Hz
      // skews the shares of the thread it preempts (see e2e-hosts' two-thread case).
      const { profile, stderr } = await recordTree(
        ['-r', '300'],
        ['bash', '-c', `lua5.4 ${SHARES} ${t54} 5 & lua5.1 ${SHARES} ${t51} 5; wait`],
      );
      for (const [truth, text] of [
        [t54, 'truth54'],
        [t51, 'truth51'],
      ]) {
        const one = onlyProcess(profile, pidOf(profile, text));
        expect(
          one.threads.reduce((n, t) => n + t.samples.length, 0),
          stderr,
        ).toBeGreaterThan(900);
        expectSharesMatchTruth(one, truth, 3);
      }
    },
  );

  it(
    'a root that sleeps, then execs a Lua program that measures its own split: sampled from the exec on, shares within 3 points',
    { timeout: 60_000 },
    async () => {
      const dir = tempDir();
      const [truth, marks] = [join(dir, 'truth.txt'), join(dir, 'marks.txt')];
      const { profile, stderr } = await recordTree(
        ['-r', '1000'],
        ['sh', '-c', `sleep 0.3; date +%s%N >${marks}; exec lua5.4 ${SHARES} ${truth} 3`],
      );
      const procs = [...processes(profile).keys()];
      expect(procs, stderr).toHaveLength(1);
      expectSharesMatchTruth(profile, truth, 3);
      const [delay] = firstSampleDelays(profile, marks, procs);
      expect(delay).toBeLessThanOrEqual(FIRST_SAMPLE_MS);
    },
  );

  it(
    'a root that sleeps, then execs a Lua program, is sampled from the exec on (same pid)',
    { timeout: 60_000 },
    async () => {
      for (const flags of [['--subprocesses'], []]) {
        const out = join(tempDir(), 'exec.json');
        const r = await luaprof(
          [
            'record',
            ...flags,
            '-r',
            '200',
            '-o',
            out,
            '--',
            'sh',
            '-c',
            `sleep 0.3; exec lua5.4 ${JOB} after_exec 0.8`,
          ],
          60_000,
        );
        expect(r.status, r.stderr).toBe(0);
        const procs = [...processes(readProfile(out)).values()];
        expect(procs, r.stderr).toHaveLength(1);
        expect(procs[0].functions.has('after_exec')).toBe(true);
        expect(procs[0].samples).toBeGreaterThan(40);
      }
    },
  );

  it('without --subprocesses, a root without Lua whose child runs Lua: the hint names the flag, exit 5', async () => {
    const out = join(tempDir(), 'hint.json');
    const r = await luaprof(
      ['record', '-o', out, '--', 'bash', '-c', `lua5.4 ${JOB} child_job 0.6; true`],
      60_000,
    );
    expect(r.status, r.stderr).toBe(ExitCode.noLua);
    expect(r.stderr).toMatch(
      /^luaprof: no Lua in bash \(pid \d+\); its child \d+ runs Lua 5\.4\.\d+ — add --subprocesses$/m,
    );
  }, 60_000);
});
