/**
 * End to end against Debian's lua5.4: what luaprof reads from outside must match what the program
 * says about itself (debug.traceback, os.clock).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readProfile } from '../report/read.js';
import { chunkId } from '../sampler/lua/strings.js';
import {
  FIXTURES,
  alive,
  luaprofSync,
  ptraceState,
  startLua,
  tempDir,
  tracebackLines,
  waitForFile,
} from './helpers/lua-process.js';
import { expectSharesMatchTruth, sampleStacks } from './helpers/shares.js';

const children: { kill(): void }[] = [];
afterAll(() => children.forEach((c) => c.kill()));

describe('lua5.4 oracle: dump agrees with debug.traceback', () => {
  it('names and lines of every frame, and the spin line at the leaf', async () => {
    const dir = tempDir();
    const tbFile = join(dir, 'traceback.txt');
    const child = startLua('lua5.4', 'oracle.lua', [tbFile]);
    children.push(child);
    const expected = tracebackLines(await waitForFile(tbFile));
    const spinLine =
      readFileSync(join(FIXTURES, 'oracle.lua'), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes('-- SPIN')) + 1;

    // The leaf spins in Lua with a brief call to math.abs: take dumps until one catches the Lua leaf.
    let frames: { name: string; namewhat: string; file: string | null; line: number | null; kind: string }[] =
      [];
    for (let i = 0; i < 50; i++) {
      const r = luaprofSync(['dump', '-p', String(child.pid), '--json']);
      expect(r.status, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout);
      expect(doc.pid).toBe(child.pid);
      if (doc.threads.length === 0) continue; // a dropped (torn) sample: try again
      expect(doc.threads[0].tid).toBe(child.pid);
      frames = doc.threads[0].frames;
      if (frames[0].kind === 'lua') break;
    }
    expect(frames[0].kind).toBe('lua');
    expect(frames.length).toBe(expected.length);
    // Leaf: the same function as the traceback's first line, at the spin line.
    expect(frames[0].name).toBe('spin');
    expect(frames[0].line).toBe(spinLine);
    expect(expected[0]).toMatch(/^oracle\.lua:\d+: in upvalue 'spin'$/);
    // Callers: exactly the traceback's lines.
    const text = luaprofSync(['dump', '-p', String(child.pid)]);
    const dumped = tracebackLines(text.stdout);
    const callerLines = (lines: string[]) =>
      lines.slice(lines.findIndex((l) => l.includes("in upvalue 'spin'")) + 1);
    expect(callerLines(dumped)).toEqual(callerLines(expected));
    expect(dumped[dumped.findIndex((l) => l.includes("in upvalue 'spin'"))]).toBe(
      `oracle.lua:${spinLine}: in upvalue 'spin'`,
    );
    for (let i = 1; i < frames.length; i++) {
      const m = /^(.*?):(\d+)?:? in (.*)$/.exec(expected[i])!;
      expect(frames[i].file).toBe(m[1].replace(/:$/, ''));
    }
    expect(ptraceState(child.pid!).tracer).toBe(0);
    child.kill();
  });
});

describe('lua5.4 shares: recorded inclusive shares match os.clock within 3 points', () => {
  // One retry: a burst of load elsewhere on a 2-core VM can skew a 4 s recording by a few points.
  it('alpha/beta/gamma', { retry: 1 }, async () => {
    const dir = tempDir();
    const truthFile = join(dir, 'truth.txt');
    const out = join(dir, 'shares.json');
    const r = luaprofSync(
      ['record', '-r', '1000', '-o', out, '--', 'lua5.4', join(FIXTURES, 'shares.lua'), truthFile, '4'],
      { timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const profile = readProfile(out);
    expect(profile.meta.samples).toBeGreaterThan(1000);
    expectSharesMatchTruth(profile, truthFile, 3);
    // A lone thread is copied on its own CPU at its instant (where there is a second CPU): as root,
    // by the kernel at the thread's own timer ticks (sampler/copier/tick-copier.ts).
    if (availableParallelism() > 1)
      expect(profile.meta.copierCopies ?? 0).toBeGreaterThan(0.8 * profile.meta.samples!);
    if (availableParallelism() > 1 && process.getuid?.() === 0)
      expect(profile.meta.tickCopies ?? 0).toBeGreaterThan(0.8 * profile.meta.samples!);
  });
});

describe('lua5.4 coroutines: stacked on their resumer', () => {
  it('coroutine.wrap and coroutine.resume', async () => {
    const dir = tempDir();
    const out = join(dir, 'co.json');
    const r = luaprofSync([
      'record',
      '-r',
      '300',
      '-o',
      out,
      '--',
      'lua5.4',
      join(FIXTURES, 'coroutines.lua'),
      '2',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const stacks = sampleStacks(readProfile(out));
    // A coroutine's body is called from C (resume), so Lua itself names it by where it is defined.
    const src = readFileSync(join(FIXTURES, 'coroutines.lua'), 'utf8').split('\n');
    const defined = (fn: string) =>
      `function <${chunkId('@' + join(FIXTURES, 'coroutines.lua'))}:${src.findIndex((l) => l.startsWith(`local function ${fn}()`)) + 1}>`;
    const producer = defined('producer');
    const worker = defined('worker');
    const withProducer = stacks.filter((s) => s.includes(producer));
    const withWorker = stacks.filter((s) => s.includes(worker));
    expect(withProducer.length).toBeGreaterThan(stacks.length * 0.3);
    expect(withWorker.length).toBeGreaterThan(stacks.length * 0.3);
    for (const s of withProducer) {
      const i = s.indexOf(producer);
      expect(s.slice(0, i)).toEqual(expect.arrayContaining(['main chunk', 'consume_wrap', 'gen']));
      expect(s.indexOf('consume_wrap')).toBeLessThan(s.indexOf('gen'));
    }
    for (const s of withWorker) {
      const i = s.indexOf(worker);
      expect(s.slice(0, i)).toEqual(
        expect.arrayContaining(['main chunk', 'consume_resume', 'coroutine.resume']),
      );
    }
  });
});

export { alive };

describe('lua5.4 --lines: frames keyed by current line', () => {
  it('the main chunk splits into the lines that call alpha, beta and gamma', () => {
    const dir = tempDir();
    const out = join(dir, 'lines.json');
    const r = luaprofSync([
      'record',
      '--lines',
      '-r',
      '300',
      '-o',
      out,
      '--',
      'lua5.4',
      join(FIXTURES, 'shares.lua'),
      join(dir, 't.txt'),
      '1',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const p = readProfile(out);
    const src = readFileSync(join(FIXTURES, 'shares.lua'), 'utf8').split('\n');
    const callLine = (fn: string) => src.findIndex((l) => l.includes(`do ${fn}() end`)) + 1;
    const mainLines = new Set(p.frames.filter((f) => f.name === 'main chunk').map((f) => f.line));
    for (const fn of ['alpha', 'beta', 'gamma']) expect(mainLines).toContain(callLine(fn));
    // Without --lines the same function is one frame.
    const r2 = luaprofSync([
      'record',
      '-r',
      '300',
      '-o',
      join(dir, 'fn.json'),
      '--',
      'lua5.4',
      join(FIXTURES, 'shares.lua'),
      join(dir, 't2.txt'),
      '1',
    ]);
    expect(r2.status, r2.stderr).toBe(0);
    expect(readProfile(join(dir, 'fn.json')).frames.filter((f) => f.name === 'main chunk')).toHaveLength(1);
  });
});

describe('lua5.4 calling a C function in a loop (its stack looks driven by a host)', () => {
  it('is stopped a few times to search for states, less often while searches find nothing new', () => {
    const dir = tempDir();
    const out = join(dir, 'c-loop.json');
    const loop = 'local c = os.clock while true do c() end';
    const r = luaprofSync(
      ['record', '-r', '1000', '-d', '3s', '-o', out, '--no-progress', '--', 'lua5.4', '-e', loop],
      { timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const meta = readProfile(out).meta;
    // os.clock on top: searched (a C function may resume a coroutine from C)...
    expect(meta.searchStops ?? 0).toBeGreaterThanOrEqual(1);
    // ...200, 400, 800 and 1,600 ms apart: 4 or 5 in 3 s (every 200 ms, ~15, when each search was
    // as soon as the last); the samples themselves stop nothing.
    expect(meta.searchStops).toBeLessThanOrEqual(7);
    expect(meta.stops ?? 0).toBe(0);
    expect(r.stderr).toContain(`; ${meta.searchStops} stops to find states`);
  });
});
