/**
 * Permissions as a user who is not root (issue 13, item 5): a user created for the test (removed
 * afterwards) runs luaprof against root's process (the permission code and the hint that fits:
 * another user's process), against its own process (works; under kernel.yama.ptrace_scope=1 the hint
 * names ptrace_scope and `record -- cmd`, which works) and records a command it starts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readProfile } from '../report/read.js';
import { ExitCode } from '../sampler/errors.js';
import { busyLua, lines, processesOfThisFile } from './helpers/faults.js';
import { CLI, FIXTURES, tempDir } from './helpers/lua-process.js';

const started = processesOfThisFile();
const isRoot = process.getuid?.() === 0;
const user = `lpe2e${process.pid % 100_000}`;
let uid = -1;
let gid = -1;
/** A directory the user can write its profiles to. */
let outDir = '';

const SCOPE = '/proc/sys/kernel/yama/ptrace_scope';
const scopeNow = existsSync(SCOPE) ? Number(readFileSync(SCOPE, 'utf8').trim()) : null;
// ptrace_scope=3 cannot be lowered until the next boot: that case cannot be set up either.
const yamaSkip =
  scopeNow === null
    ? ' (skipped: this kernel has no Yama, /proc/sys/kernel/yama is missing)'
    : scopeNow === 3
      ? ' (skipped: ptrace_scope is 3, which cannot be lowered until the next boot)'
      : '';

/** luaprof run as the test user; resolves once it has exited and its output is closed. */
function asUser(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    uid,
    gid,
    cwd: outDir,
    env: { ...process.env, HOME: outDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
}

function usersLua(): ChildProcess {
  const c = spawn('lua5.4', ['idle.lua'], { cwd: FIXTURES, uid, gid, stdio: 'ignore' });
  started.push(c);
  return c;
}

describe.skipIf(!isRoot)('as a user who is not root', () => {
  beforeAll(() => {
    const add = spawnSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', user], {
      encoding: 'utf8',
    });
    if (add.status !== 0) throw new Error(`useradd ${user}: ${add.stderr}`);
    uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout);
    gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout);
    const parent = tempDir();
    chmodSync(parent, 0o711); // mkdtemp's 0700 would keep the user out
    outDir = join(parent, 'out');
    mkdirSync(outDir);
    chownSync(outDir, uid, gid);
    // The checkout (dist/, node_modules/, fixtures/) must be readable by other users.
    const probe = spawnSync(process.execPath, [CLI, '--version'], { uid, gid, encoding: 'utf8' });
    if (probe.status !== 0)
      throw new Error(`${user} cannot run ${CLI} (is the checkout readable by others?): ${probe.stderr}`);
  });
  afterAll(async () => {
    // userdel refuses while the user has processes: end them and wait for them to be gone.
    const exits = started
      .filter((c) => c.exitCode === null && c.signalCode === null)
      .map((c) => new Promise((r) => c.once('exit', r)));
    started.forEach((c) => c.kill('SIGKILL'));
    await Promise.all(exits);
    const del = spawnSync('userdel', [user], { encoding: 'utf8' });
    if (del.status !== 0) throw new Error(`userdel ${user}: ${del.stderr}`);
  });

  it("root's process: exit 4 before the first sample, one line naming both users and what to do", async () => {
    const pid = busyLua(started).pid!;
    for (const args of [
      ['dump', '-p', String(pid)],
      ['record', '-p', String(pid), '-d', '2s', '-o', join(outDir, 'root.json')],
      ['record', '-p', String(pid), '-d', '2s', '--blocking', '-o', join(outDir, 'root.json')],
    ]) {
      const r = await asUser(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(ExitCode.permissionDenied);
      expect(lines(r.stderr)).toEqual([
        `luaprof: permission denied attaching to process ${pid}: it runs as uid 0 (root) and luaprof as ` +
          `uid ${uid} (${user}): run luaprof as root or as that user, or grant CAP_SYS_PTRACE ` +
          '(sudo setcap cap_sys_ptrace+ep $(which node))',
      ]);
      expect(existsSync(join(outDir, 'root.json'))).toBe(false);
    }
  });

  it('record -- cmd: a command it starts is recorded', async () => {
    const out = join(outDir, 'cmd.json');
    const r = await asUser(['record', '-d', '1s', '-o', out, '--', 'lua5.4', join(FIXTURES, 'idle.lua')]);
    expect(r.status, r.stderr).toBe(0);
    expect(readProfile(out).meta.samples).toBeGreaterThan(0);
  });

  it.runIf(scopeNow === null || scopeNow === 0)(
    'its own process by pid (no Yama, or ptrace_scope=0)',
    async () => {
      const pid = usersLua().pid!;
      const r = await asUser(['dump', '-p', String(pid)]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('idle.lua');
    },
  );

  it.skipIf(yamaSkip !== '')(
    `its own process under kernel.yama.ptrace_scope=1: exit 4, the hint names ptrace_scope and -- cmd, which works${yamaSkip}`,
    async () => {
      const before = readFileSync(SCOPE, 'utf8').trim();
      try {
        writeFileSync(SCOPE, '1');
        const pid = usersLua().pid!;
        const r = await asUser(['dump', '-p', String(pid)]);
        expect(r.status, r.stderr).toBe(ExitCode.permissionDenied);
        expect(lines(r.stderr)).toEqual([
          expect.stringMatching(
            new RegExp(
              `^luaprof: permission denied attaching to process ${pid}: kernel\\.yama\\.ptrace_scope=1 lets a process ` +
                'trace only its own descendants: start the program under luaprof \\(luaprof record -- cmd args\\.\\.\\.\\)',
            ),
          ),
        ]);
        const out = join(outDir, 'scope1.json');
        const rec = await asUser([
          'record',
          '-d',
          '1s',
          '-o',
          out,
          '--',
          'lua5.4',
          join(FIXTURES, 'idle.lua'),
        ]);
        expect(rec.status, rec.stderr).toBe(0);
        expect(readProfile(out).meta.samples).toBeGreaterThan(0);
      } finally {
        writeFileSync(SCOPE, before);
      }
    },
  );
});
