/**
 * End to end against LuaJIT 2.1 (Debian's luajit and OpenResty's, built by
 * scripts/runtimes/openresty-luajit.sh), with the JIT on (default) and off (-joff): what luaprof reads
 * from outside must match what the program says about itself (debug.traceback, os.clock).
 */
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readProfile } from '../report/read.js';
import {
  FIXTURES,
  luaprofSync,
  ptraceState,
  tempDir,
  tracebackLines,
  waitForFile,
} from './helpers/lua-process.js';
import { availableRuntimes } from './helpers/runtimes.js';
import { expectSharesMatchTruth, sampleStacks } from './helpers/shares.js';

const LJ_FIXTURES = join(FIXTURES, 'luajit');
const children: { kill(): void }[] = [];
afterAll(() => children.forEach((c) => c.kill()));

const spinLine =
  readFileSync(join(LJ_FIXTURES, 'scenarios.lua'), 'utf8')
    .split('\n')
    .findIndex((l) => l.includes('-- SPIN')) + 1;

function start(argv0: string, jit: boolean, script: string, args: string[], cwd: string) {
  const child = spawn(argv0, [...(jit ? [] : ['-joff']), script, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

interface JsonFrame {
  name: string;
  namewhat: string;
  file: string | null;
  line: number | null;
  kind: string;
}

/** Dumps until the leaf is the spinning Lua function (not math.abs): its traceback lines, and optionally the JSON frames. */
function dumpAtSpin(pid: number, json = false): { frames: JsonFrame[]; lines: string[] } {
  for (let i = 0; i < 40; i++) {
    const r = luaprofSync(['dump', '-p', String(pid)]);
    if (r.status !== 0) continue; // e.g. a torn sample: try again
    const lines = tracebackLines(r.stdout);
    if (!lines[0]?.includes(`:${spinLine}: in function`)) continue;
    if (!json) return { frames: [], lines };
    const j = luaprofSync(['dump', '-p', String(pid), '--json']);
    if (j.status !== 0) continue;
    const thread = JSON.parse(j.stdout).threads[0];
    if (!thread) continue; // a dropped (torn) sample: try again
    const frames: JsonFrame[] = thread.frames;
    if (frames[0].line === spinLine) return { frames, lines };
  }
  throw new Error('no dump with the spin line at the leaf');
}

/** Traceback lines below the leaf, without the final "[C]: at 0x…" (the C entry luaL_traceback prints by address). */
const callers = (lines: string[]) =>
  lines.slice(1).filter((l, i, a) => !(i === a.length - 1 && l.startsWith('[C]:')));

const available = availableRuntimes('luajit');

for (const rt of available) {
  for (const jit of [false, true]) {
    const mode = jit ? 'JIT on' : 'JIT off';
    describe(`${rt.name} (${mode})`, () => {
      it('oracle: every frame name and line agree with debug.traceback; the leaf is the spinning function', async () => {
        const dir = tempDir();
        const scenarios = ['plain', 'pcall', 'string', 'stripped', 'coroutine'];
        // One spinning interpreter at a time: on 2 cores, several would slow every dump down.
        for (const scenario of scenarios) {
          const tb = join(dir, `${scenario}.txt`);
          const child = start(rt.argv0, jit, 'scenarios.lua', [scenario, tb], LJ_FIXTURES);
          const expected = tracebackLines(await waitForFile(tb));
          const { frames, lines } = dumpAtSpin(child.pid!, scenario === 'plain');
          if (scenario === 'plain') {
            expect(frames[0].name).toBe('spin');
            // With the JIT on the spin loop is a trace: still attributed to spin, marked as JIT code.
            expect(frames[0].kind).toBe(jit ? 'jit' : 'lua');
          }
          expect(lines[0], scenario).toBe(expected[0].replace(/:\d+: /, `:${spinLine}: `));
          const exp = callers(expected);
          const got = callers(lines);
          if (scenario === 'coroutine') {
            // The coroutine's own traceback ends where it was resumed; the dump goes on into its resumer.
            expect(got.slice(0, exp.length), scenario).toEqual(exp);
            expect(
              got.slice(exp.length).some((l) => l.includes("function 'resumer'")),
              scenario,
            ).toBe(true);
          } else {
            expect(got, scenario).toEqual(exp);
          }
          expect(ptraceState(child.pid!).tracer).toBe(0);
          child.kill();
        }
      });

      it('recursion 200 deep: every level, in order', async () => {
        const tb = join(tempDir(), 'rec.txt');
        const child = start(rt.argv0, jit, 'scenarios.lua', ['recursion', tb], LJ_FIXTURES);
        const expected = tracebackLines(await waitForFile(tb));
        const { frames, lines } = dumpAtSpin(child.pid!, true);
        expect(frames.filter((f) => f.name === 'recurse').length).toBe(201);
        // luaL_traceback prints 11 levels below the leaf, "...", then the last ones.
        const cut = expected.indexOf('...');
        expect(cut).toBeGreaterThan(0);
        const head = expected.slice(1, cut);
        const tail = callers(expected.slice(cut));
        expect(lines.slice(1, cut)).toEqual(head);
        expect(callers(lines).slice(-tail.length)).toEqual(tail);
        child.kill();
      });

      // One retry: a burst of load elsewhere on a 2-core VM can skew a recording by a few points.
      it(`shares: inclusive shares within ${jit ? 5 : 3} points of os.clock truth`, { retry: 1 }, () => {
        const dir = tempDir();
        const truthFile = join(dir, 'truth.txt');
        const out = join(dir, 'shares.json');
        const args = [...(jit ? [] : ['-joff']), join(FIXTURES, 'shares.lua'), truthFile, '4'];
        const r = luaprofSync(['record', '-r', '1000', '-o', out, '--', rt.argv0, ...args], {
          timeout: 60_000,
        });
        expect(r.status, r.stderr).toBe(0);
        const profile = readProfile(out);
        expect(profile.meta.samples).toBeGreaterThan(500);
        expectSharesMatchTruth(profile, truthFile, jit ? 5 : 3);
      });

      if (jit) {
        it('--native: compiled code is a [LuaJIT trace] frame on top of the Lua frames that run it', () => {
          const dir = tempDir();
          const out = join(dir, 'native.json');
          const r = luaprofSync([
            'record',
            '--native',
            '-r',
            '300',
            '-o',
            out,
            '--',
            rt.argv0,
            join(FIXTURES, 'shares.lua'),
            join(dir, 'truth.txt'),
            '2',
          ]);
          expect(r.status, r.stderr).toBe(0);
          const stacks = sampleStacks(readProfile(out));
          // Root first. Machine code has no CFI: the unwind goes on from the VM's C frame (L->cframe),
          // so the interpreter's lua_pcall lies under the Lua frames, which lie under the trace.
          const traced = stacks.filter((s) => s.includes('[LuaJIT trace]'));
          expect(traced.length, `${traced.length} of ${stacks.length} stacks in a trace`).toBeGreaterThan(
            stacks.length * 0.5,
          );
          for (const s of traced) {
            const at = s.indexOf('[LuaJIT trace]');
            expect(s.slice(0, at), s.join(' > ')).toEqual(expect.arrayContaining(['main chunk']));
            expect(s.indexOf('lua_pcall'), s.join(' > ')).toBeGreaterThanOrEqual(0);
            expect(s.indexOf('lua_pcall'), s.join(' > ')).toBeLessThan(s.indexOf('main chunk'));
            expect(
              s.slice(at + 1).some((n) => ['alpha', 'beta', 'gamma', 'burn', 'main chunk'].includes(n)),
              s.join(' > '),
            ).toBe(false);
          }
        });
      }

      it('coroutines: the running coroutine on top of its resumer', () => {
        const out = join(tempDir(), 'co.json');
        const args = [...(jit ? [] : ['-joff']), join(FIXTURES, 'coroutines.lua'), '2'];
        const r = luaprofSync(['record', '-r', '300', '-o', out, '--', rt.argv0, ...args]);
        expect(r.status, r.stderr).toBe(0);
        const stacks = sampleStacks(readProfile(out));
        const src = readFileSync(join(FIXTURES, 'coroutines.lua'), 'utf8').split('\n');
        const file = join(FIXTURES, 'coroutines.lua');
        const short = file.length >= 60 ? '...' + file.slice(file.length - 56) : file;
        const defined = (fn: string) =>
          `function <${short}:${src.findIndex((l) => l.startsWith(`local function ${fn}()`)) + 1}>`;
        const withProducer = stacks.filter((s) => s.includes(defined('producer')));
        const withWorker = stacks.filter((s) => s.includes(defined('worker')));
        expect(withProducer.length).toBeGreaterThan(stacks.length * 0.25);
        expect(withWorker.length).toBeGreaterThan(stacks.length * 0.25);
        // consume_wrap tail-calls gen: LuaJIT keeps no frame for it, the wrap function bears its call-site name.
        for (const s of withProducer)
          expect(s.slice(0, s.indexOf(defined('producer')))).toEqual(
            expect.arrayContaining(['main chunk', 'consume_wrap']),
          );
        for (const s of withWorker)
          expect(s.slice(0, s.indexOf(defined('worker')))).toEqual(
            expect.arrayContaining(['main chunk', 'coroutine.resume']),
          );
      });
    });
  }
}

describe('LuaJIT runtimes', () => {
  it('are available (scripts/setup.sh installs Debian luajit and builds OpenResty luajit)', () => {
    expect(available.map((r) => r.name)).toContain('luajit');
  });
});
