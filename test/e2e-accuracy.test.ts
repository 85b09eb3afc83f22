/**
 * Accuracy (issue 9), end to end through the built CLI on every runtime: Lua 5.1, 5.2, 5.3, the 5.4
 * builds, and Debian's and OpenResty's LuaJIT with the JIT off (-joff) and on.
 *
 * - system calls (fixtures/lua/accuracy/syscalls.lua): functions of ~3, ~9 and ~40 µs with os.clock()
 *   read around every call; each function's inclusive share within 3 points of the program's own
 *   clock (5 with the JIT on). A sampler whose sample lands late, at the next system call, gives the
 *   time of the code before it to the clock.
 * - C iterators and allocation (tokenizer.lua): a string.gmatch tokenizer that allocates, beside an
 *   arithmetic loop, clock read once per 50 calls; within 3 points (5 with the JIT on).
 * - coroutines resumed in turn (coroutines.lua): 200 coroutines a Lua loop resumes one after another
 *   (coroutine.resume, and coroutine.wrap functions), each for ~10-40 µs, half calling `heavy` and
 *   half `light`; within 3 points (5 with the JIT on).
 * - C functions in turn at one call site (same-site.lua): string.gsub and table.sort called from the
 *   same instruction, in phases; their call records are the same bytes, and only the function slot
 *   tells them apart (a sampler that reuses the frames of unchanged outer records must look at it):
 *   at most 0.5% of samples pair one with the other's callback (5.3 and 5.4: earlier releases name
 *   neither). Without that look, 3% did.
 * - torn reads (torn.lua): a fixed call graph with very short calls, recursion that reallocates the
 *   Lua stack, a coroutine and collector steps; at most 0.5% of samples may show a caller -> callee
 *   pair outside the graph.
 *
 * Each recording runs one target at a time at 1000 Hz, as long as its check needs (2-3 s); the
 * fixture ends by itself and writes its truth, so the recording and the truth cover the same run.
 *
 * LuaJIT is copied running too, with its registers from the switch-out the sampler's wake-up causes.
 * Its share checks found that a sample taken a fixed time after the sampler's move onto the thread's
 * CPU is tied to the thread's system calls (the move lands at the next one on this VM): hot +7 points.
 * Such a sample is given up now (SampleSchedule.redraw).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Profile } from '../aggregator/profile.js';
import { readProfile } from '../report/read.js';
import { CLI, FIXTURES, tempDir } from './helpers/lua-process.js';
import { availableRuntimes } from './helpers/runtimes.js';
import { inclusiveShare } from './helpers/shares.js';

const ACCURACY = join(FIXTURES, 'accuracy');

/** The issue's tolerances: percentage points of share, and the share of samples with a foreign edge. */
const SHARE_POINTS = 3;
const SHARE_POINTS_JIT = 5;
const FOREIGN_EDGES_MAX = 0.005;
/**
 * Samples torn.lua loses to tears found (cut or dropped, of all taken): a copy of one moment is whole,
 * so this bounds the copies that were not (5.1 cut 51-62% while its copier copies were cut short).
 * 5.2 and 5.3 lost 24-38% while a copy could only hold the CallInfos its plan had seen, which each
 * collection frees; the kernel's copies follow the list themselves now (0.8-7% lost): what is left is
 * mostly ticks inside a stack reallocation (the frames still point into the old stack), which those
 * releases cannot walk, and the live copies taken again after them.
 */
const DETECTED_TEARS_MAX = 0.05;
const DETECTED_TEARS_MAX_REALLOCATING = 0.15;
/**
 * LuaJIT with the JIT on is walked with the registers of the switch-out the sampler's wake-up on its
 * CPU causes; a sample whose walk misses its copy is dropped, not taken again. On a host 2.7 times
 * slower than a quiet one (bench/cpu.lua 30 4000: 9.1 s against 3.3 s) Debian's LuaJIT dropped
 * 5.0-5.6% of torn.lua's samples, at b8a460e and after it alike, the sampler late on 3,300-3,900 of
 * its ticks; 4.0-4.6% earlier the same day.
 */
const DETECTED_TEARS_MAX_JIT = 0.08;
const REALLOCATES_IN_PLACE = /^lua5\.[23]$/;

/** Sampling modes every check runs under (extra `record` flags): the default copies without stopping. */
const MODES: { name: string; flags: string[] }[] = [{ name: 'default', flags: [] }];

interface Variant {
  name: string;
  argv0: string;
  args: string[];
  jit: boolean;
  /** PUC Lua, which the kernel copies at its ticks (LuaJIT is read the usual way). */
  puc: boolean;
}

const VARIANTS: Variant[] = [
  ...availableRuntimes('puc').map((rt) => ({
    name: rt.name,
    argv0: rt.argv0,
    args: rt.args ?? [],
    jit: false,
    puc: true,
  })),
  ...availableRuntimes('luajit').flatMap((rt) => [
    {
      name: `${rt.name} -joff`,
      argv0: rt.argv0,
      args: [...(rt.args ?? []), '-joff'],
      jit: false,
      puc: false,
    },
    { name: `${rt.name} (JIT on)`, argv0: rt.argv0, args: rt.args ?? [], jit: true, puc: false },
  ]),
];

/** Runs the CLI without blocking the event loop. */
function luaprof(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Records `fixture args…` under a variant and mode until the fixture exits; the profile and luaprof's summary. */
async function record(
  v: Variant,
  mode: (typeof MODES)[number],
  fixture: string,
  args: string[],
): Promise<{ profile: Profile; summary: string }> {
  const out = join(tempDir('luaprof-accuracy-'), 'profile.json');
  const r = await luaprof([
    'record',
    '-r',
    '1000',
    '--no-progress',
    ...mode.flags,
    '-o',
    out,
    '--',
    v.argv0,
    ...v.args,
    join(ACCURACY, fixture),
    ...args,
  ]);
  expect(r.status, r.stderr).toBe(0);
  const summary = r.stderr.split('\n').find((l) => /samples in/.test(l)) ?? '';
  return { profile: readProfile(out), summary };
}

function readTruth(file: string): Record<string, number> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]),
  );
}

/** Compares each function's inclusive share with the truth; logs the figures, then asserts them. */
function expectShares(
  label: string,
  profile: Profile,
  truth: Record<string, number>,
  fns: string[],
  points: number,
  summary: string,
): void {
  const rows = fns.map((fn) => ({ fn, truth: truth[fn], got: inclusiveShare(profile, (n) => n === fn) }));
  const pct = (x: number) => (100 * x).toFixed(1);
  // Where the missing share went: the clock is ~0.2% of the CPU time by the program's own account.
  const clock = inclusiveShare(profile, (n) => n === 'os.clock' || n === 'clock');
  console.log(
    `[accuracy] ${label}: ${rows.map((r) => `${r.fn} truth ${pct(r.truth)}% luaprof ${pct(r.got)}% (${(100 * (r.got - r.truth)).toFixed(1)})`).join(', ')}, os.clock ${pct(clock)}% | ${summary.replace(/^luaprof: /, '')}`,
  );
  for (const r of rows) {
    expect(r.truth, `${r.fn} missing from the truth file`).toBeGreaterThan(0);
    expect(
      Math.abs(r.got - r.truth) * 100,
      `${label}: ${r.fn} recorded ${pct(r.got)}%, truth ${pct(r.truth)}%`,
    ).toBeLessThanOrEqual(points);
  }
}

/** A stack for a message: runs of one frame written once with a count (`deep ×250`). */
function collapse(names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < names.length;) {
    let j = i;
    while (j < names.length && names[j] === names[i]) j++;
    out.push(j - i > 1 ? `${names[i]} ×${j - i}` : names[i]);
    i = j;
  }
  return out;
}

/** torn.lua's call graph between its Lua functions (C functions in between are not part of it). */
const TORN_GRAPH: Record<string, string[]> = {
  'main chunk': ['driver'],
  driver: ['short', 'deep', 'cobody', 'alloc'],
  deep: ['deep', 'leaf'],
  cobody: ['costep'],
  costep: ['short'],
};

/** Function of torn.lua by the line it is defined on (0: the main chunk). */
function tornFunctions(): Map<number, string> {
  const src = readFileSync(join(ACCURACY, 'torn.lua'), 'utf8').split('\n');
  const byLine = new Map<number, string>([[0, 'main chunk']]);
  src.forEach((l, i) => {
    const m = /^local function (\w+)\(/.exec(l);
    if (m) byLine.set(i + 1, m[1]);
  });
  for (const fn of Object.values(TORN_GRAPH).flat())
    if (![...byLine.values()].includes(fn)) throw new Error(`torn.lua defines no ${fn}`);
  return byLine;
}

/**
 * Samples of torn.lua whose Lua frames leave the call graph: a Lua frame that is none of its
 * functions (C functions and states such as [GC] or LuaJIT's [trace exit] are passed over), an outermost Lua frame other than the main chunk, or a caller -> callee pair the graph
 * does not have. Frames are matched by the line their function is defined on, not by name (a
 * coroutine's body has no name; names differ between releases).
 */
function foreignSamples(p: Profile): { bad: number; total: number; examples: string[] } {
  const byLine = tornFunctions();
  let bad = 0;
  let total = 0;
  const examples: string[] = [];
  for (const t of p.threads) {
    for (const s of t.samples) {
      total++;
      const frames = p.stacks[s].map((f) => p.frames[f]);
      // Frames of Lua functions: kind 'jit' with file [C] is a state of the VM ([trace exit]), not a function.
      const lua = frames.filter((f) => (f.kind === 'lua' || f.kind === 'jit') && f.file !== '[C]');
      const names = lua.map(
        (f) => (f.lineDefined !== undefined ? byLine.get(f.lineDefined) : undefined) ?? `<${f.name}>`,
      );
      let ok = names.length === 0 || names[0] === 'main chunk';
      for (let i = 1; ok && i < names.length; i++) ok = TORN_GRAPH[names[i - 1]]?.includes(names[i]) ?? false;
      if (!ok) {
        bad++;
        if (examples.length < 5)
          examples.push(
            collapse(frames.map((f) => `${f.name}${f.kind === 'jit' ? ' [jit]' : ''}`)).join(' > '),
          );
      }
    }
  }
  return { bad, total, examples };
}

/**
 * same-site.lua's samples by the C function on their stack (string.gsub calls back `replace`,
 * table.sort `less`), and those that pair one with the other's callback: a C function's frame kept
 * from an earlier sample while its slot now holds the other. Callbacks by the line they are defined on.
 */
function sameSiteSamples(p: Profile): {
  mixed: number;
  byFunction: { gsub: number; sort: number };
  total: number;
  examples: string[];
} {
  const src = readFileSync(join(ACCURACY, 'same-site.lua'), 'utf8').split('\n');
  const lineOf = (fn: string) => src.findIndex((l) => l.startsWith(`local function ${fn}(`)) + 1;
  const callbackOf: Record<string, number> = {
    'string.gsub': lineOf('replace'),
    'table.sort': lineOf('less'),
  };
  const byFunction = { gsub: 0, sort: 0 };
  let mixed = 0;
  let total = 0;
  const examples: string[] = [];
  for (const t of p.threads)
    for (const s of t.samples) {
      total++;
      const frames = p.stacks[s].map((f) => p.frames[f]);
      const c = frames.findIndex((f) => f.name in callbackOf);
      if (c < 0) continue;
      if (frames[c].name === 'string.gsub') byFunction.gsub++;
      else byFunction.sort++;
      // Outermost first: the callback, if any, is the frame after the C function.
      const callback = frames[c + 1];
      if (callback?.kind === 'lua' && callback.lineDefined !== callbackOf[frames[c].name]) {
        mixed++;
        if (examples.length < 5)
          examples.push(collapse(frames.map((f) => `${f.name}:${f.lineDefined ?? ''}`)).join(' > '));
      }
    }
  return { mixed, byFunction, total, examples };
}

for (const mode of MODES) {
  // One target at a time: shares need the CPU to themselves (and still see the load of other suites).
  describe(`accuracy (${mode.name} sampling)`, () => {
    for (const v of VARIANTS) {
      const points = v.jit ? SHARE_POINTS_JIT : SHARE_POINTS;

      it(
        `${v.name}: system calls — tiny, hot, cold within ${points} points of os.clock`,
        { retry: 1 },
        async () => {
          const truthFile = join(tempDir('luaprof-accuracy-'), 'truth.txt');
          const { profile, summary } = await record(v, mode, 'syscalls.lua', [truthFile, '3']);
          expect(profile.meta.samples).toBeGreaterThan(1000);
          expectShares(
            `${mode.name} ${v.name} syscalls`,
            profile,
            readTruth(truthFile),
            ['tiny', 'hot', 'cold'],
            points,
            summary,
          );
        },
      );

      it(
        `${v.name}: C iterator and allocation — tokenize, arith within ${points} points of os.clock`,
        { retry: 1 },
        async () => {
          const truthFile = join(tempDir('luaprof-accuracy-'), 'truth.txt');
          const { profile, summary } = await record(v, mode, 'tokenizer.lua', [truthFile, '3']);
          expect(profile.meta.samples).toBeGreaterThan(1000);
          expectShares(
            `${mode.name} ${v.name} tokenizer`,
            profile,
            readTruth(truthFile),
            ['tokenize', 'arith'],
            points,
            summary,
          );
        },
      );

      // 5.1 and 5.2 name neither C function here (traceback's `?`).
      if (v.puc && !/^lua5\.[12]$/.test(v.name))
        it(`${v.name}: C functions in turn at one call site — each with its own callback, at most ${FOREIGN_EDGES_MAX * 100}% of samples not`, async () => {
          const truthFile = join(tempDir('luaprof-accuracy-'), 'truth.txt');
          const { profile, summary } = await record(v, mode, 'same-site.lua', [truthFile, '1.5']);
          const { mixed, byFunction, total, examples } = sameSiteSamples(profile);
          const truth = readTruth(truthFile);
          console.log(
            `[accuracy] ${mode.name} ${v.name} same call site: ${mixed} of ${total} samples pair a C function with the other's callback; string.gsub ${byFunction.gsub}, table.sort ${byFunction.sort} samples (truth ${(100 * truth['string.gsub']).toFixed(1)}% / ${(100 * truth['table.sort']).toFixed(1)}%) | ${summary.replace(/^luaprof: /, '')}`,
          );
          expect(total).toBeGreaterThan(1000);
          // Both ran (the fixture's phases take turns).
          expect(byFunction.gsub, summary).toBeGreaterThan(total / 5);
          expect(byFunction.sort, summary).toBeGreaterThan(total / 5);
          expect(mixed, examples.join('\n')).toBeLessThanOrEqual(FOREIGN_EDGES_MAX * total);
        });

      for (const how of ['resume', 'wrap'] as const) {
        it(
          `${v.name}: coroutines resumed in turn from Lua (coroutine.${how}) — heavy, light within ${points} points of os.clock`,
          { retry: 1 },
          async () => {
            const truthFile = join(tempDir('luaprof-accuracy-'), 'truth.txt');
            const { profile, summary } = await record(v, mode, 'coroutines.lua', [
              truthFile,
              '2',
              '200',
              how,
            ]);
            // ~2,000 ticks (1,441-1,864 samples kept): each copy must hold the coroutine of its tick;
            // when only plans held them (a few of the 200), 85 were kept.
            expect(profile.meta.samples, summary).toBeGreaterThan(1000);
            expectShares(
              `${mode.name} ${v.name} coroutines (${how})`,
              profile,
              readTruth(truthFile),
              ['heavy', 'light'],
              points,
              summary,
            );
          },
        );
      }

      const lostMax = REALLOCATES_IN_PLACE.test(v.name)
        ? DETECTED_TEARS_MAX_REALLOCATING
        : v.jit
          ? DETECTED_TEARS_MAX_JIT
          : DETECTED_TEARS_MAX;
      it(`${v.name}: torn reads — at most ${FOREIGN_EDGES_MAX * 100}% of samples leave the call graph, at most ${lostMax * 100}% cut or dropped as torn`, async () => {
        // Enough samples to resolve the bound (0.5% of 400 is 2), hence 5 s.
        const { profile, summary } = await record(v, mode, 'torn.lua', ['5']);
        expect(profile.meta.samples, summary).toBeGreaterThan(400);
        // A plan the tick program cannot take leaves every sample to the usual way, which tears
        // (lua5.2's deep stack once did, for the whole recording).
        if (v.puc) expect(profile.meta.tickCopies ?? 0, summary).toBeGreaterThan(0.8 * profile.meta.samples!);
        const { bad, total, examples } = foreignSamples(profile);
        console.log(
          `[accuracy] ${mode.name} ${v.name} torn: ${bad} of ${total} samples leave the graph (${((100 * bad) / total).toFixed(2)}%) | ${summary.replace(/^luaprof: /, '')}${examples.map((e) => `\n  e.g. ${e}`).join('')}`,
        );
        expect(bad / total, `${bad} of ${total} samples, e.g.\n${examples.join('\n')}`).toBeLessThanOrEqual(
          FOREIGN_EDGES_MAX,
        );
        const tears = /torn: \d+ read from a later pass, (\d+) cut, (\d+) dropped/.exec(summary);
        expect(tears, summary).not.toBeNull();
        const [cut, dropped] = [Number(tears![1]), Number(tears![2])];
        expect((cut + dropped) / (total + dropped), summary).toBeLessThanOrEqual(lostMax);
      });
    }
  });
}

/**
 * --native on a lone thread: the kernel copies it at its own ticks with its registers and the top of
 * its stack (no stop), so the mixed stacks keep the default's timing. Stops landed at the next system
 * call and gave the clock 96% of a loop that spends 14% in it.
 */
const NATIVE_VARIANTS = VARIANTS.filter((v) => v.name === 'lua5.1' || v.name === 'lua5.4');
const NATIVE = { name: 'native', flags: ['--native'] };
/** Stops a native recording may still take (its start, before a plan exists; a copy whose plan missed). */
const NATIVE_STOPS_MAX = 0.05;

describe('accuracy (--native sampling, by the kernel at ticks)', () => {
  for (const v of NATIVE_VARIANTS) {
    for (const [fixture, fns] of [
      ['syscalls.lua', ['tiny', 'hot', 'cold']],
      ['tokenizer.lua', ['tokenize', 'arith']],
    ] as const) {
      it(
        `${v.name} --native: ${fixture} within ${SHARE_POINTS} points of os.clock, without stops`,
        { retry: 1 },
        async () => {
          const truthFile = join(tempDir('luaprof-accuracy-'), 'truth.txt');
          const { profile, summary } = await record(v, NATIVE, fixture, [truthFile, '3']);
          expect(profile.meta.samples).toBeGreaterThan(1000);
          expectShares(
            `native ${v.name} ${fixture}`,
            profile,
            readTruth(truthFile),
            [...fns],
            SHARE_POINTS,
            summary,
          );
          expect((profile.meta.stops ?? 0) / profile.meta.samples, summary).toBeLessThanOrEqual(
            NATIVE_STOPS_MAX,
          );
          // The native frames are there: the interpreter's own C functions under the Lua ones.
          const native = profile.stacks.some((st) => st.some((i) => profile.frames[i].kind === 'native'));
          expect(native, 'no native frame in any sample').toBe(true);
        },
      );
    }
  }
});
