/**
 * The layout check at attach on real processes (sampler/lua/puc/layout-guard.ts): a release newer than
 * luaprof knows (5.4.9 whose version strings say 5.4.10) is read with the nearest layout after the
 * check and dumps the program's own traceback; a layout luaprof derived but never ran (5.4.5's, on
 * Debian's 5.4.4 whose structures it shares) says so in one line; a build whose TString differs from
 * its release's headers is refused (exit 8) with the failing invariant named. The check runs on every
 * PUC attach, so every oracle of test/e2e-versions.test.ts passes with it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../sampler/errors.js';
import {
  FIXTURES,
  luaprof,
  ptraceState,
  tempDir,
  tracebackLines,
  waitForFile,
} from './helpers/lua-process.js';
import { LAYOUT_VARIANTS } from './helpers/runtimes.js';

const MATRIX = join(FIXTURES, 'matrix');
const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.kill()));

/** Starts the matrix oracle (pcall mode) and waits for its own traceback. */
async function oracle(argv0: string): Promise<{ pid: number; expected: string[] }> {
  const tbFile = join(tempDir(), 'traceback.txt');
  const child = spawn(argv0, ['oracle.lua', 'pcall', tbFile], { cwd: MATRIX, stdio: 'ignore' });
  children.push(child);
  return { pid: child.pid!, expected: tracebackLines(await waitForFile(tbFile)) };
}

/** Dumps until the leaf is Lua code (the spin calls math.abs briefly); the frames below the leaf. */
async function dumpBelowLeaf(pid: number, extra: string[] = []) {
  let r = await luaprof(['dump', '-p', String(pid), ...extra]);
  for (let i = 0; i < 40 && r.status === 0 && tracebackLines(r.stdout)[0]?.startsWith('[C]'); i++)
    r = await luaprof(['dump', '-p', String(pid), ...extra]);
  return { ...r, frames: tracebackLines(r.stdout).slice(1) };
}

it('the altered builds are present (run scripts/setup.sh)', () => {
  const missing = [LAYOUT_VARIANTS.newer, LAYOUT_VARIANTS.shifted].filter((v) => !existsSync(v.argv0));
  expect(missing.map((v) => `${v.argv0} (${LAYOUT_VARIANTS.builtBy})`)).toEqual([]);
});

describe.concurrent('layout check at attach', () => {
  it("Lua 5.4.10 (newer than luaprof knows): read with 5.4.9's layout after the check, its traceback dumped", async () => {
    const { pid, expected } = await oracle(LAYOUT_VARIANTS.newer.argv0);
    const r = await dumpBelowLeaf(pid);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'luaprof: Lua 5.4.10 is newer than luaprof knows: layout of Lua 5.4.9 (the nearest it knows), checked on this process',
    );
    expect(r.stdout.split('\n')[0]).toContain(`(Lua 5.4.10, pid ${pid})`);
    expect(r.frames).toEqual(expected.slice(1));
    expect(ptraceState(pid).tracer).toBe(0);
  });

  it("a layout derived from its headers (5.4.5 on Debian's 5.4.4, same structures): one line, then the traceback", async () => {
    const { pid, expected } = await oracle('/usr/bin/lua5.4');
    const r = await dumpBelowLeaf(pid, ['--lua-version', '5.4.5']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      'luaprof: layout of Lua 5.4.5 derived from its headers, checked on this process (the binary says Lua 5.4.4; read as Lua 5.4.5)',
    );
    expect(r.frames).toEqual(expected.slice(1));
  });

  it('a build whose TString differs from its headers: refused (exit 8), the invariant named, the target left running', async () => {
    const { pid } = await oracle(LAYOUT_VARIANTS.shifted.argv0);
    const r = await luaprof(['dump', '-p', String(pid)]);
    expect(r.status, r.stderr).toBe(ExitCode.unsupportedVersion);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toMatch(
      new RegExp(
        `^luaprof: process ${pid} runs Lua 5\\.4\\.9 \\(.*lua5\\.4\\.9-shifted\\): the layout of Lua 5\\.4\\.9 \\(verified on a real interpreter\\) does not fit it: ` +
          'the string table is a power of two and its strings hash to their buckets: no \\(.*\\)$',
      ),
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const st = ptraceState(pid);
    expect(st.tracer).toBe(0);
    expect(st.state).not.toMatch(/[tT]/);
  });
});
