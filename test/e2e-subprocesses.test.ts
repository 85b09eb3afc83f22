/**
 * --subprocesses follows Lua below any process (issue: wrapper scripts, test runners, process
 * managers): every descendant is followed whether or not it or its parent runs Lua; each process that
 * runs Lua gets its own profile, named by its command line; short-lived interpreters are kept.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Profile } from '../aggregator/profile.js';
import { ExitCode } from '../sampler/errors.js';
import { readProfile } from '../report/read.js';
import { ROOT, luaprof, tempDir } from './helpers/lua-process.js';

const TREE = join(ROOT, 'fixtures/lua/tree');
const JOB = join(TREE, 'job.lua');

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
      const { profile, stderr } = await recordTree(
        ['-r', '200'],
        ['sh', '-c', `${join(TREE, 'runner.sh')} lua5.4 20 0.1`],
      );
      const procs = [...processes(profile).values()];
      for (let i = 1; i <= 20; i++) {
        const p = procs.find((x) => x.name.endsWith(`test_${i} 0.1`));
        expect(p, `test_${i}: ${stderr}`).toBeDefined();
        expect(p!.functions.has(`test_${i}`), `test_${i}`).toBe(true);
      }
      expect(procs.every((p) => p.samples > 0)).toBe(true);
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
