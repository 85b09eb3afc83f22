/**
 * Faults (issue 13): nothing recorded is lost (the output path is checked before the first sample; a
 * write that fails at the end goes to a fallback file), a target already traced is refused with the
 * tracer named, a target stopped by its user stays stopped and its stopped time is idle.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProfile } from '../report/read.js';
import { ExitCode } from '../sampler/errors.js';
import { luaprof, luaprofAsync, ptraceState, startLua, tempDir, waitFor } from './helpers/lua-process.js';
import {
  busyLua as busyLua_,
  lines,
  processesOfThisFile,
  traced as tracedBy,
  untracedAndRunning,
} from './helpers/faults.js';

const started = processesOfThisFile();
const busyLua = () => busyLua_(started);

describe('nothing recorded is lost', () => {
  const target = busyLua();

  it('a path that cannot be written fails before the first sample: one line, exit 12', async () => {
    const t0 = Date.now();
    const r = await luaprof(['record', '-p', String(target.pid), '-d', '30s', '-o', '/proc/p.json']);
    expect(r.status).toBe(ExitCode.outputNotWritable);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^luaprof: cannot write \/proc\/p\.json: /)]);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('a command that fails while the prewarmed sampling worker still loads: one line and its code, every time', async () => {
    // The worker starts before the command line; ending the process while it loads koffi aborted Node.
    const runs = await Promise.all(
      Array.from({ length: 8 }, () =>
        luaprof(['record', '-p', String(target.pid), '-d', '30s', '-o', '/proc/p.json']),
      ),
    );
    for (const r of runs) {
      expect(r.status).toBe(ExitCode.outputNotWritable);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^luaprof: cannot write \/proc\/p\.json: /)]);
    }
  });

  it('the output directory removed mid-recording: the profile goes to the temp directory, exit 12', async () => {
    const dir = join(tempDir(), 'out');
    mkdirSync(dir);
    const run = luaprofAsync(['record', '-p', String(target.pid), '-d', '1500ms', '-o', join(dir, 'p.json')]);
    await waitFor(() => run.stderr().includes('luaprof: sampling pid'), 20_000, 'sampling');
    rmSync(dir, { recursive: true });
    const { code } = await run.exit;
    expect(code).toBe(ExitCode.outputNotWritable);
    const m =
      /cannot write .*out\/p\.json: no such file or directory; wrote the speedscope profile to (\S+) instead/.exec(
        run.stderr(),
      );
    expect(m, run.stderr()).not.toBeNull();
    expect(existsSync(m![1])).toBe(true);
    expect(readProfile(m![1]).threads.length).toBeGreaterThan(0);
    expect(run.stderr()).not.toContain('internal error');
    rmSync(m![1]);
  });

  it('report to a path that cannot be written: one line, exit 12, never an internal error', async () => {
    const src = join(tempDir(), 'p.json');
    const rec = await luaprof(['record', '-p', String(target.pid), '-d', '300ms', '-o', src]);
    expect(rec.status).toBe(0);
    for (const args of [
      ['report', '-i', src, '-o', '/proc/x.html'],
      ['view', src, '--no-open', '-o', '/proc/x.html'],
      ['diff', src, src, '-o', '/proc/x.html'],
    ]) {
      const r = await luaprof(args);
      expect(r.status, args.join(' ')).toBe(ExitCode.outputNotWritable);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^luaprof: cannot write \/proc\/x\.html: /)]);
    }
  });
});

const traced = (cmd: string, args: string[], pid: number) => tracedBy(started, cmd, args, pid);
const untraced = (pid: number) => untracedAndRunning(pid);

/** strace and gdb can attach (and leave) after luaprof is done with the target. */
async function othersCanAttach(pid: number): Promise<void> {
  const strace = await traced('strace', ['-p', String(pid), '-o', '/dev/null'], pid);
  strace.kill('SIGINT'); // strace detaches on SIGINT
  await untraced(pid);
  const gdb = spawnSync('gdb', ['-p', String(pid), '-batch', '-nx', '-ex', 'info threads'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(gdb.status, gdb.stderr).toBe(0);
  expect(gdb.stdout).toMatch(/Thread|process/);
  await untraced(pid);
}

describe('a target already traced (strace, gdb): one line naming the tracer, exit 11', () => {
  const target = busyLua();

  it('strace -p: dump and record refuse, naming strace; strace and gdb attach afterwards', async () => {
    const pid = target.pid!;
    const strace = await traced('strace', ['-p', String(pid), '-o', '/dev/null'], pid);
    for (const args of [
      ['dump', '-p', String(pid)],
      ['record', '-p', String(pid), '-d', '1s', '-o', join(tempDir(), 'p.json')],
      ['record', '-p', String(pid), '-d', '1s', '--blocking', '-o', join(tempDir(), 'p.json')],
    ]) {
      const r = await luaprof(args);
      expect(r.status, args.join(' ')).toBe(ExitCode.alreadyTraced);
      expect(lines(r.stderr)).toEqual([
        `luaprof: process ${pid} is already traced by pid ${strace.pid} (strace): detach it first (a process has one tracer at most)`,
      ]);
    }
    strace.kill('SIGINT');
    await untraced(pid);
    await othersCanAttach(pid);
  });

  it('gdb -p: record refuses, naming gdb; gdb and strace attach after luaprof ends', async () => {
    const pid = target.pid!;
    const gdb = await traced('gdb', ['-p', String(pid), '-batch', '-nx', '-ex', 'shell sleep 600'], pid);
    const r = await luaprof(['record', '-p', String(pid), '-d', '1s', '-o', join(tempDir(), 'p.json')]);
    expect(r.status).toBe(ExitCode.alreadyTraced);
    expect(lines(r.stderr)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^luaprof: (process|thread \\d+ of process) ${pid} is already traced by pid ${gdb.pid} \\(gdb\\)`,
        ),
      ),
    ]);
    // gdb stopped the target when it attached; killing gdb lets the kernel detach and resume it.
    gdb.kill('SIGKILL');
    await untraced(pid);
    const ok = await luaprof([
      'record',
      '-p',
      String(pid),
      '-d',
      '500ms',
      '--blocking',
      '-o',
      join(tempDir(), 'p.json'),
    ]);
    expect(ok.status, ok.stderr).toBe(0);
    await othersCanAttach(pid);
  });
});

describe('a target stopped by its user (SIGSTOP) stays stopped; its stopped time is idle', () => {
  const target = busyLua();
  const stateOf = (pid: number) => ptraceState(pid);

  it('default and --blocking: nothing sampled from the frozen stack, the summary says it was stopped, it stays T', async () => {
    const pid = target.pid!;
    process.kill(pid, 'SIGSTOP');
    await waitFor(() => stateOf(pid).state === 'T', 5000, 'the target to stop');
    for (const mode of [[], ['--blocking']]) {
      const out = join(tempDir(), 'p.json');
      const r = await luaprof(['record', '-p', String(pid), '-d', '700ms', ...mode, '-o', out]);
      expect(r.status, r.stderr).toBe(ExitCode.noLuaFrames);
      expect(r.stderr).toMatch(
        new RegExp(
          `process ${pid} was stopped \\(SIGSTOP\\) during \\d+ samples .*left out \\(--idle keeps it\\)`,
        ),
      );
      expect(r.stderr).toMatch(/no sample had Lua frames: \d+ of a stopped process/);
      expect(readProfile(out).threads.every((t) => t.samples.length === 0)).toBe(true);
      expect(stateOf(pid)).toEqual({ tracer: 0, state: 'T' });
    }
    process.kill(pid, 'SIGCONT');
  });

  it('--idle keeps the stopped time, each sample marked [idle]', async () => {
    const pid = target.pid!;
    process.kill(pid, 'SIGSTOP');
    await waitFor(() => stateOf(pid).state === 'T', 5000, 'the target to stop');
    const out = join(tempDir(), 'p.json');
    const r = await luaprof(['record', '-p', String(pid), '-d', '700ms', '--idle', '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/was stopped \(SIGSTOP\) during \d+ samples .*kept as idle, marked \[idle\]/);
    const p = readProfile(out);
    const samples = p.threads.flatMap((t) => t.samples);
    expect(samples.length).toBeGreaterThan(10);
    for (const s of samples) expect(p.frames[p.stacks[s][p.stacks[s].length - 1]].name).toBe('[idle]');
    expect(stateOf(pid)).toEqual({ tracer: 0, state: 'T' });
    process.kill(pid, 'SIGCONT');
    await waitFor(() => ['R', 'S'].includes(stateOf(pid).state), 5000, 'the target to run again');
  });
});

describe('a tracer that attaches mid-recording (luaprof holds no attachment between samples)', () => {
  const target = busyLua();

  for (const mode of [[], ['--blocking']]) {
    it(`strace -p during record ${mode.join(' ') || '(default)'}: the profile is kept; the target is fine after`, async () => {
      const pid = target.pid!;
      const out = join(tempDir(), 'p.json');
      const run = luaprofAsync(['record', '-p', String(pid), '-d', '3s', ...mode, '-o', out]);
      await waitFor(() => run.stderr().includes('luaprof: sampling pid'), 20_000, 'sampling');
      await new Promise((r) => setTimeout(r, 700));
      const strace = spawn('strace', ['-p', String(pid), '-o', '/dev/null'], { stdio: 'ignore' });
      started.push(strace);
      const { code } = await run.exit;
      strace.kill('SIGINT');
      // Copies of a running thread need no stop and go on (exit 0); a sample that needs a stop finds
      // the tracer and ends the recording with what it has (exit 11), naming it.
      if (code === ExitCode.alreadyTraced)
        expect(run.stderr()).toMatch(
          new RegExp(`already traced by pid ${strace.pid} \\(strace\\).*; the recording ended after \\d`),
        );
      else expect(code, run.stderr()).toBe(0);
      expect(run.stderr()).not.toContain('internal error');
      expect(readProfile(out).meta.samples).toBeGreaterThan(0);
      await untraced(pid);
    });
  }
});

describe.skipIf(!existsSync('/usr/bin/luajit'))(
  'the target execs a program without Lua mid-recording',
  () => {
    it('without --subprocesses: luaprof notices, writes the profile, says so, exit 9', async () => {
      const target = startLua('luajit', 'exec-sleep.lua', ['1.5']);
      started.push(target);
      const out = join(tempDir(), 'p.json');
      const r = await luaprof(['record', '-p', String(target.pid), '-d', '10s', '-o', out]);
      expect(r.status, r.stderr).toBe(ExitCode.targetExited);
      expect(r.stderr).toMatch(
        new RegExp(
          `process ${target.pid} exec'd /usr/bin/sleep after [\\d.]+s: it no longer runs the Lua program`,
        ),
      );
      expect(readProfile(out).meta.samples).toBeGreaterThan(0);
      expect(readProfile(out).meta.durationMs).toBeLessThan(8000);
    });
  },
);
