/**
 * The command line and its promises: every -d form, -p and launch, Ctrl-C / SIGTERM / SIGKILL of
 * luaprof and death of the target mid-recording, and one-line errors with their exit codes.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readProfile } from '../report/read.js';
import { ExitCode } from '../sampler/errors.js';
import { CLI, luaprofAsync, type Running, luaprofSync, tempDir, waitFor } from './helpers/lua-process.js';
import { busyLua as busyLua_, lines, processesOfThisFile, untracedAndRunning } from './helpers/faults.js';

const started = processesOfThisFile();
const busyLua = () => busyLua_(started);

/** Waits for luaprof's "sampling pid …" line: attached, handlers installed. */
const sampling = (run: Running) =>
  waitFor(() => run.stderr().includes('luaprof: sampling pid'), 20_000, 'luaprof to start sampling');

const oneLine = lines;

describe('record -d accepts every duration form', () => {
  const target = busyLua();
  for (const [form, ms] of [
    ['500ms', 500],
    ['1s', 1000],
    ['1', 1000],
    ['0.02m', 1200],
  ] as const) {
    it(`-d ${form}`, async () => {
      const out = join(tempDir(), 'p.json');
      const t0 = Date.now();
      const r = luaprofSync(['record', '-p', String(target.pid), '-d', form, '-o', out]);
      const wall = Date.now() - t0;
      expect(r.status, r.stderr).toBe(0);
      const p = readProfile(out);
      expect(p.meta.durationMs).toBeGreaterThanOrEqual(ms * 0.95);
      expect(p.meta.durationMs).toBeLessThan(ms + 400);
      expect(wall).toBeGreaterThanOrEqual(ms);
      // A loaded machine drops off-CPU ticks; the point here is the duration, not the rate.
      expect(p.meta.samples).toBeGreaterThan((ms / 1000) * 100 * 0.1);
      expect(r.stderr).toMatch(
        /samples in .* errors, \d+ late, \d+ off-CPU, \d+ idle, \d+ without Lua; torn: \d+ read from a later pass, \d+ cut, \d+ dropped; luaprof CPU \d+\.\d µs per sample/,
      );
      expect(r.stderr).toContain(`wrote speedscope profile to ${out}`);
      await untracedAndRunning(target.pid!);
    });
  }
});

describe('record -- command', () => {
  it('passes the target output through and reports luaprof status, not the target status', () => {
    const dir = tempDir();
    const out = join(dir, 'run.folded');
    // Long enough (1.5 s of CPU) for luaprof to start and attach on a slow machine.
    const script =
      'local x, t = 0, os.clock() repeat for i = 1, 1e5 do x = x + i end until os.clock() - t > 1.5 print("target says " .. x) os.exit(3)';
    const r = luaprofSync(['record', '-o', out, '--', 'lua5.4', '-e', script]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('target says');
    expect(existsSync(out)).toBe(true);
  });

  it('a recording in which no sample had Lua frames: the profile is written, one line says why, exit 10', () => {
    const dir = tempDir();
    const out = join(dir, 'idle.json');
    // The Lua thread waits in the kernel the whole time (the child `sleep`): every sample is idle. It
    // is attached to once it waits: luaprof's first sample is taken at the attach, and a command
    // started by `record --` could still be running its chunk then (a sample with Lua frames). The
    // attach's own stop wakes the thread for a moment (Target.wokenByAttach): 1 recording in 2 counted
    // a sample of it as running (exit 0) before.
    const lua = spawn('lua5.4', ['-e', 'os.execute("sleep 3")'], { stdio: 'ignore' });
    execFileSync('sleep', ['0.4']);
    const r = luaprofSync(['record', '-p', String(lua.pid), '-d', '1s', '-o', out]);
    lua.kill();
    expect(r.status, r.stderr).toBe(ExitCode.noLuaFrames);
    expect(existsSync(out)).toBe(true);
    expect(r.stderr).toMatch(/^luaprof: no sample had Lua frames: \d+ blocked in the kernel \(idle/m);
    expect(r.stderr).toMatch(/\d+ idle, \d+ without Lua/);
  });

  it('a command that cannot start: one line, exit code for a target that exited', () => {
    const r = luaprofSync(['record', '-o', join(tempDir(), 'x.json'), '--', 'no-such-command-luaprof']);
    expect(r.status).toBe(ExitCode.targetExited);
    expect(oneLine(r.stderr).filter((l) => l.startsWith('luaprof:'))).toHaveLength(1);
  });
});

describe('ending a recording early', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to luaprof writes a valid profile and leaves the target running, untraced`, async () => {
      const target = busyLua();
      const out = join(tempDir(), 'early.json');
      const run = luaprofAsync(['record', '-p', String(target.pid), '-r', '1000', '-o', out]);
      await sampling(run);
      await new Promise((r) => setTimeout(r, 1000));
      run.child.kill(signal);
      const { code } = await run.exit;
      expect(code, run.stderr()).toBe(0);
      const p = readProfile(out);
      expect(p.meta.samples).toBeGreaterThan(100);
      await untracedAndRunning(target.pid!);
    });
  }

  it('SIGKILL of luaprof mid-recording leaves the target running and untraced', async () => {
    const target = busyLua();
    const run = luaprofAsync([
      'record',
      '-p',
      String(target.pid),
      '-r',
      '2000',
      '-o',
      join(tempDir(), 'k.json'),
    ]);
    await sampling(run);
    await new Promise((r) => setTimeout(r, 1000));
    run.child.kill('SIGKILL');
    await run.exit;
    await untracedAndRunning(target.pid!);
    // It keeps running: its CPU time grows.
    const cpu = () => Number(readFileSync(`/proc/${target.pid}/stat`, 'utf8').split(') ')[1].split(' ')[11]);
    const before = cpu();
    await new Promise((r) => setTimeout(r, 300));
    expect(cpu()).toBeGreaterThan(before);
  });

  it('the target killed mid-recording: profile written, one line, its own exit code', async () => {
    const target = busyLua();
    const out = join(tempDir(), 'gone.json');
    const run = luaprofAsync(['record', '-p', String(target.pid), '-d', '20s', '-o', out]);
    await sampling(run);
    await new Promise((r) => setTimeout(r, 1000));
    target.kill('SIGKILL');
    const { code } = await run.exit;
    expect(code, run.stderr()).toBe(ExitCode.targetExited);
    // Nothing recorded is lost: the file holds every sample the summary counted (how many there were in
    // that second depends on the machine's load: 14 in one CI run).
    const counted = Number(/luaprof: (\d+) samples in/.exec(run.stderr())?.[1]);
    expect(counted, run.stderr()).toBeGreaterThan(0);
    expect(readProfile(out).meta.samples).toBe(counted);
    expect(run.stderr()).toMatch(/exited after .* before the 20\.0s recording ended/);
  });
});

describe('errors: one line, distinct exit codes', () => {
  const cases: [string, () => { args: string[]; uid?: number }, number, RegExp][] = [
    [
      'no such process',
      () => ({ args: ['dump', '-p', '4194000'] }),
      ExitCode.noSuchProcess,
      /no process with pid 4194000/,
    ],
    [
      'no such process (record)',
      () => ({ args: ['record', '-p', '4194000', '-d', '1s'] }),
      ExitCode.noSuchProcess,
      /no process with pid/,
    ],
    [
      'not a Lua process',
      () => ({ args: ['dump', '-p', String(process.pid)] }),
      ExitCode.noLua,
      /no Lua found in process/,
    ],
    [
      'unsupported version',
      () => ({ args: ['dump', '-p', String(busyLua().pid), '--lua-version', '5.0.3'] }),
      ExitCode.unsupportedVersion,
      /runs Lua 5\.0\.3.*supported: /,
    ],
    [
      'permission denied',
      () => ({ args: ['dump', '-p', String(busyLua().pid)], uid: 65534 }),
      ExitCode.permissionDenied,
      /permission denied .*: it runs as uid 0 \(root\) and luaprof as uid 65534\b.*CAP_SYS_PTRACE/,
    ],
    [
      'record without a target',
      () => ({ args: ['record', '-d', '1s'] }),
      ExitCode.badArguments,
      /one of -p PID, --match REGEX or -- command/,
    ],
    [
      'bad duration',
      () => ({ args: ['record', '-p', '1', '-d', 'soon'] }),
      ExitCode.badArguments,
      /duration/,
    ],
    ['bad rate', () => ({ args: ['record', '-p', '1', '-r', '0'] }), ExitCode.badArguments, /rate/],
    ['bad pid', () => ({ args: ['dump', '-p', 'abc'] }), ExitCode.badArguments, /process id/],
    [
      'unknown format',
      () => ({ args: ['record', '-p', '1', '-f', 'svg'] }),
      ExitCode.badArguments,
      /expected one of/,
    ],
    [
      'unknown extension',
      () => ({ args: ['record', '-p', '1', '-o', 'out.xyz'] }),
      ExitCode.badArguments,
      /cannot tell the format/,
    ],
  ];
  for (const [what, make, code, message] of cases) {
    it(what, () => {
      const { args, uid } = make();
      const r = luaprofSync(args, { uid });
      expect(r.status, r.stderr).toBe(code);
      const lines = oneLine(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^luaprof: /);
      expect(lines[0]).toMatch(message);
    });
  }
});

describe('a reader that closes its end of the pipe (| head -1): quiet, exit 0', () => {
  /** Runs `luaprof args | reader` in bash; luaprof's status and stderr, and what the reader printed. */
  function piped(args: string[], reader: string): { status: number; stderr: string; stdout: string } {
    const dir = tempDir();
    const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const r = spawnSync(
      'bash',
      ['-c', `${quoted} 2>'${dir}/err' | ${reader}; echo "status=\${PIPESTATUS[0]}" >'${dir}/status'`],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const status = Number(/status=(\d+)/.exec(readFileSync(join(dir, 'status'), 'utf8'))![1]);
    return { status, stderr: readFileSync(join(dir, 'err'), 'utf8'), stdout: r.stdout };
  }
  // A reader gone before luaprof writes: the write fails with EPIPE every time.
  const closedAtOnce = '(exec 0<&-; sleep 2)';

  it('dump -p PID | head -1, and into a pipe already closed', () => {
    const pid = String(busyLua().pid);
    const head = piped(['dump', '-p', pid], 'head -1');
    expect(head).toEqual({ status: 0, stderr: '', stdout: expect.stringMatching(/^Thread \d+ \(Lua 5\.4/) });
    expect(piped(['dump', '-p', pid], closedAtOnce)).toEqual({ status: 0, stderr: '', stdout: '' });
  });

  it('report -o - | head -1, and -o a link to /proc/self/fd/1 (as /dev/stdout is), which stays a link', async () => {
    const dir = tempDir();
    const src = join(dir, 'p.json');
    expect(luaprofSync(['record', '-p', String(busyLua().pid), '-d', '300ms', '-o', src]).status).toBe(0);
    // The page is megabytes: head -1 closes the pipe long before luaprof has written it.
    expect(piped(['report', '-i', src, '-o', '-', '-f', 'html'], 'head -1')).toEqual({
      status: 0,
      stderr: '',
      stdout: '<!DOCTYPE html>\n',
    });
    const link = join(dir, 'stdout.html');
    symlinkSync('/proc/self/fd/1', link);
    expect(piped(['report', '-i', src, '-o', link], 'head -1')).toEqual({
      status: 0,
      stderr: '',
      stdout: '<!DOCTYPE html>\n',
    });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(piped(['report', '-i', src, '-o', '-', '-f', 'folded'], closedAtOnce)).toEqual({
      status: 0,
      stderr: '',
      stdout: '',
    });
  });
});
