/**
 * End to end against programs that embed Lua (fixtures/hosts, compiled here with gcc/g++): every state
 * is found (globals, Lua API frames of each thread's native stack, heap scan), shares agree with the
 * host's own measurement (thread CPU time around batches), and `--native` stacks put the host's
 * functions, the Lua frames and the C functions called from Lua in true order.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Profile } from '../aggregator/profile.js';
import { readProfile } from '../report/read.js';
import { ROOT, luaprofSync, startLua, tempDir, waitFor } from './helpers/lua-process.js';

const HOSTS = join(ROOT, 'fixtures/hosts');
const STATIC_LUA = '/usr/lib/x86_64-linux-gnu/liblua5.4.a';
const HAVE =
  existsSync('/usr/bin/gcc') &&
  existsSync('/usr/bin/g++') &&
  existsSync(STATIC_LUA) &&
  existsSync('/usr/include/lua5.4/lua.h');
const dir = tempDir('luaprof-hosts-');
const bin = { embed: join(dir, 'embed'), engine: join(dir, 'engine'), engineSym: join(dir, 'engine-sym') };
const children: { kill(): void }[] = [];
/** embed.c built against each Lua that ships headers and a shared library here (the per-request host). */
const EMBED_BUILDS = [
  { lua: 'Lua 5.1', include: '/usr/include/lua5.1', lib: 'lua5.1' },
  { lua: 'Lua 5.2', include: '/usr/include/lua5.2', lib: 'lua5.2' },
  { lua: 'Lua 5.3', include: '/usr/include/lua5.3', lib: 'lua5.3' },
  { lua: 'Lua 5.4', include: '/usr/include/lua5.4', lib: 'lua5.4' },
  { lua: 'LuaJIT', include: '/usr/include/luajit-2.1', lib: 'luajit-5.1' },
].filter((b) => existsSync(join(b.include, 'lua.h')));
const embedFor = (lib: string) => join(dir, `embed-${lib}`);

beforeAll(() => {
  if (!HAVE) return;
  execFileSync('gcc', [
    '-O2',
    '-g',
    '-o',
    bin.embed,
    join(HOSTS, 'embed.c'),
    '-I/usr/include/lua5.4',
    '-llua5.4',
    '-lpthread',
  ]);
  for (const b of EMBED_BUILDS)
    execFileSync('gcc', [
      '-O2',
      '-g',
      '-o',
      embedFor(b.lib),
      join(HOSTS, 'embed.c'),
      `-I${b.include}`,
      `-l${b.lib}`,
      '-lpthread',
    ]);
  const cpp = ['-O2', '-I/usr/include/lua5.4', join(HOSTS, 'engine.cpp'), STATIC_LUA, '-ldl'];
  execFileSync('g++', ['-s', '-o', bin.engine, ...cpp]);
  execFileSync('g++', ['-g', '-o', bin.engineSym, ...cpp]);
}, 120_000);
afterAll(() => children.forEach((c) => c.kill()));

/** "TID NAME SHARE" lines of a host's truth file. */
function truth(file: string): Map<number, Record<string, number>> {
  const text = readFileSync(file, 'utf8');
  expect(text).toContain('done');
  const out = new Map<number, Record<string, number>>();
  for (const l of text.trim().split('\n')) {
    const [tid, name, share] = l.split(' ');
    if (share === undefined) continue;
    const t = out.get(Number(tid)) ?? {};
    t[name] = Number(share);
    out.set(Number(tid), t);
  }
  return out;
}

function stacksOf(p: Profile, tid: number): string[][] {
  const t = p.threads.find((x) => x.tid === tid);
  if (!t) return [];
  return t.samples.map((s) => p.stacks[s].map((f) => p.frames[f].name));
}

/**
 * Share of a thread's Lua samples (those with a Lua frame) whose stack contains fn (or a frame that
 * `alias` names: a function a host calls from C is named by where it is defined in Lua 5.1, 5.2 and
 * LuaJIT, as their own debug.traceback names it).
 */
function share(
  p: Profile,
  tid: number,
  fn: string,
  alias?: (name: string) => boolean,
): { share: number; n: number } {
  const t = p.threads.find((x) => x.tid === tid);
  if (!t) return { share: 0, n: 0 };
  let n = 0;
  let hit = 0;
  for (const s of t.samples) {
    const frames = p.stacks[s].map((f) => p.frames[f]);
    if (!frames.some((f) => f.kind === 'lua')) continue;
    n++;
    if (frames.some((f) => f.name === fn || alias?.(f.name))) hit++;
  }
  return { share: n ? hit / n : 0, n };
}

function record(args: string[], cmd: string[], timeout = 60_000): { profile: Profile; stderr: string } {
  const out = join(tempDir(), 'p.json');
  const r = luaprofSync(['record', ...args, '-o', out, '--', ...cmd], { timeout });
  expect(r.status, r.stderr).toBe(0);
  return { profile: readProfile(out), stderr: r.stderr };
}

/** Shares within `points` of the host's own measurement (clock_gettime per batch of calls). */
function expectShares(
  p: Profile,
  truths: Map<number, Record<string, number>>,
  points = 3,
  aliases: Record<string, (name: string) => boolean> = {},
): void {
  for (const [tid, fns] of truths) {
    for (const [fn, want] of Object.entries(fns)) {
      const got = share(p, tid, fn, aliases[fn]);
      expect(got.n, `thread ${tid}: Lua samples`).toBeGreaterThan(30);
      expect(
        Math.abs(got.share - want) * 100,
        `thread ${tid} ${fn}: recorded ${got.share.toFixed(3)}, host measured ${want.toFixed(3)}`,
      ).toBeLessThanOrEqual(points);
    }
  }
}

/** Every stack containing `leaf` has the names of `order` (prefix matches), root first, in order. */
function expectOrder(p: Profile, leaf: string, order: string[]): void {
  const stacks = p.threads
    .flatMap((t) => stacksOf(p, t.tid))
    .filter((s) => s.some((n) => n.startsWith(leaf)));
  expect(stacks.length, `stacks with ${leaf}`).toBeGreaterThan(5);
  let good = 0;
  for (const s of stacks) {
    let at = -1;
    let ok = true;
    for (const name of order) {
      const i = s.findIndex((n, k) => k > at && n.startsWith(name));
      if (i < 0) {
        ok = false;
        break;
      }
      at = i;
    }
    if (ok) good++;
    else if (good === 0 && stacks.indexOf(s) === stacks.length - 1) expect(s).toEqual(order);
  }
  // An unwind can miss now and then (a sample taken in a function prologue): nearly all must agree.
  expect(
    good / stacks.length,
    `${good}/${stacks.length} stacks in order ${order.join(' > ')}`,
  ).toBeGreaterThan(0.9);
}

describe.skipIf(!HAVE)('embedding hosts', () => {
  it('(a) C host, liblua5.4 shared: lua_pcall from a C loop, Lua calling a CPU-heavy C function', () => {
    const t = join(tempDir(), 'truth.txt');
    const { profile } = record(['-r', '1000'], [bin.embed, 'pcall', t, '3']);
    expectShares(profile, truth(t));

    const tn = join(tempDir(), 'truth.txt');
    const native = record(['-r', '300', '--native'], [bin.embed, 'pcall', tn, '1.5']).profile;
    expect(native.frames.some((f) => f.kind === 'native')).toBe(true);
    expectOrder(native, 'mix', [
      'main',
      'pcall_loop',
      'run_batch',
      'call_global',
      'lua_pcallk',
      'c_work',
      'host_heavy',
      'mix',
    ]);
    expectOrder(native, 'burn', [
      'main',
      'pcall_loop',
      'run_batch',
      'call_global',
      'lua_pcallk',
      'lua_work',
      'burn',
    ]);
  }, 90_000);

  it('(b) C++ host, Lua linked statically, stripped, lua_State only in heap objects: heap scan, then API frames', () => {
    const t = join(tempDir(), 'truth.txt');
    // It idles in C++ for a second first: no Lua on any stack, only the heap scan finds the state.
    const { profile, stderr } = record(['-r', '1000'], [bin.engine, t, '3', '1']);
    expect(stderr).toMatch(/heap scan for lua_State: 1 found in \d+ ms, [\d.]+ MB scanned/);
    expectShares(profile, truth(t));

    // While it runs Lua, `dump` finds the state (at the Lua API frames of the stack, or by a heap scan
    // when the dump lands outside Lua).
    const c = startLua(bin.engine, join(tempDir(), 'truth.txt'), ['30', '0'], dir);
    children.push(c);
    execFileSync('sleep', ['0.5']);
    let found = false;
    for (let i = 0; i < 10 && !found; i++) {
      const r = luaprofSync(['dump', '-p', String(c.pid), '--json']);
      expect(r.status, r.stderr).toBe(0);
      found = JSON.parse(r.stdout).threads[0].frames.some(
        (f: { name: string }) => f.name === 'update' || f.name === 'physics',
      );
    }
    expect(found).toBe(true);
    c.kill();

    // With symbols: demangled C++ names in true order around the Lua frames.
    const tn = join(tempDir(), 'truth.txt');
    const native = record(['-r', '300', '--native'], [bin.engineSym, tn, '1.5', '0']).profile;
    expectOrder(native, 'game::Physics::step', [
      'main',
      'game::Engine::run(',
      'game::Engine::runBatch(',
      'game::Script::call(',
      'lua_pcallk',
      'physics',
      'game::Physics::integrate(lua_State*)',
      'game::Physics::step(double, int)',
    ]);
  }, 120_000);

  it('--threads TID samples only the chosen thread', async () => {
    const t = join(tempDir(), 'truth.txt');
    const host = spawn(bin.embed, ['threads', t, '4'], { stdio: 'ignore' });
    try {
      const tasks = () =>
        readdirSync(`/proc/${host.pid}/task`)
          .map(Number)
          .sort((a, b) => a - b);
      await waitFor(() => tasks().length >= 3, 10_000, 'the host to start its two Lua threads');
      await new Promise((r) => setTimeout(r, 300)); // let both states run Lua
      const chosen = tasks().filter((tid) => tid !== host.pid)[0];
      const out = join(tempDir(), 'one.json');
      const r = luaprofSync([
        'record',
        '-p',
        String(host.pid),
        '--threads',
        String(chosen),
        '-d',
        '1s',
        '-r',
        '300',
        '-o',
        out,
      ]);
      expect(r.status, r.stderr).toBe(0);
      const p = readProfile(out);
      expect(p.threads.map((x) => x.tid)).toEqual([chosen]);
      expect(p.threads[0].samples.length).toBeGreaterThan(50);
    } finally {
      host.kill('SIGKILL');
    }
  }, 60_000);

  // One retry, as for every shares test: a burst of load elsewhere can skew a short recording.
  it('(d) coroutines resumed from C with lua_resume', { retry: 1, timeout: 90_000 }, () => {
    const t = join(tempDir(), 'truth.txt');
    const { profile } = record(['-r', '1000'], [bin.embed, 'resume', t, '3']);
    expectShares(profile, truth(t));
    const tn = join(tempDir(), 'truth.txt');
    const native = record(['-r', '300', '--native'], [bin.embed, 'resume', tn, '1.5']).profile;
    expectOrder(native, 'mix', ['main', 'resume_batch', 'lua_resume', 'gen_b', 'host_heavy', 'mix']);
    expectOrder(native, 'burn', ['main', 'resume_batch', 'lua_resume', 'gen_a', 'burn']);
  });
});

// Servers (HAProxy's Lua applets, game servers) run each request in a new coroutine resumed from C:
// the state itself runs nothing, and the coroutine is gone before any cache could learn it.
/** A function of embed.c's script as Lua 5.1, 5.2 and LuaJIT name it when a host calls it from C. */
const definedAt = (line: number) => (name: string) => name.endsWith(`:${line}>`);

// LuaJIT leaves G->cur_L on a coroutine that yielded back to the host's lua_resume until the next resume:
// the host's own code then ran under the coroutine's frames (about 10% of samples in coroutine.yield).
describe.skipIf(!HAVE || !EMBED_BUILDS.some((b) => b.lua === 'LuaJIT'))(
  'LuaJIT coroutines resumed from C',
  () => {
    it(
      'a coroutine suspended in coroutine.yield is not sampled as running; shares within 3 points',
      { retry: 1 },
      () => {
        const t = join(tempDir(), 'truth.txt');
        const { profile } = record(['-r', '1000'], [embedFor('luajit-5.1'), 'resume', t, '2']);
        const leaves = profile.threads.flatMap((x) =>
          x.samples.map((s) => profile.frames[profile.stacks[s].at(-1)!].name),
        );
        expect(leaves.filter((n) => n === 'coroutine.yield').length / leaves.length).toBeLessThan(0.01);
        expectShares(profile, truth(t), 3, { gen_a: definedAt(4), gen_b: definedAt(5) });
      },
    );
  },
);

// embed.c's script: lua_work is defined on line 2, c_work on line 3 (names of functions a host calls
// from C in Lua 5.1, 5.2 and LuaJIT, as their own debug.traceback gives them).
const PCALL_ALIASES = { lua_work: definedAt(2), c_work: definedAt(3) };

// Servers with a state per worker thread (sysbench, game servers) and master/worker servers that make
// the state before they fork (nginx): every runtime that builds embed.c, LuaJIT with its JIT on.
describe.skipIf(!HAVE)('a state per thread, a state per forked worker', () => {
  for (const b of EMBED_BUILDS) {
    // 300 Hz for 8 s: on this 2-vCPU VM the two CPU-bound threads keep both vCPUs busy, and the thread
    // whose vCPU the sampler borrows is preempted in a way that skews its shares (up to 5 points at
    // 1000 Hz in 4 s; 7 recordings of 8-12 s at 300 Hz stayed within 2.3, 3 of 30 s at 100 Hz within 1.3).
    it(
      `${b.lua}: two threads, each with its own lua_State: one profile per thread, shares within 3 points`,
      { retry: 1, timeout: 300_000 },
      () => {
        const t = join(tempDir(), 'truth.txt');
        const { profile, stderr } = record(['-r', '300'], [embedFor(b.lib), 'threads', t, '8'], 150_000);
        const truths = truth(t);
        expect(truths.size).toBe(2);
        expect(profile.threads.map((x) => x.tid).sort()).toEqual([...truths.keys()].sort());
        expectShares(profile, truths, 3, PCALL_ALIASES);
        // 5.2-5.4 as root: both threads are copied by the kernel, each at its own ticks (one program
        // and ring, a timer per thread: copier/tick-copier.ts). 5.1's host frames read as a host's
        // resumed coroutine, whose CallInfo array the program does not follow: copied from luaprof's side.
        if (b.lib !== 'luajit-5.1' && b.lib !== 'lua5.1' && process.getuid?.() === 0)
          expect(profile.meta.tickCopies ?? 0, stderr).toBeGreaterThan(0.8 * profile.meta.samples);
      },
    );

    it(
      `${b.lua}: a master that makes the state, then forks two workers: each worker's shares within 3 points`,
      { retry: 1, timeout: 300_000 },
      () => {
        const t = join(tempDir(), 'truth.txt');
        const { profile, stderr } = record(
          ['-r', '300', '--subprocesses'],
          [embedFor(b.lib), 'fork', t, '8'],
          150_000,
        );
        const truths = truth(t);
        expect(truths.size).toBe(2);
        // Each worker is its own process; the master runs no Lua after its setup (a sample or two of its
        // script's main chunk at most): its samples are idle, left out.
        const workers = profile.threads.filter((x) => truths.has(x.tid));
        expect(workers.map((x) => x.tid).sort(), stderr).toEqual([...truths.keys()].sort());
        expect(new Set(workers.map((x) => x.pid)).size).toBe(2);
        const master = profile.threads.filter((x) => !truths.has(x.tid));
        expect(
          master.reduce((n, x) => n + x.samples.length, 0),
          stderr,
        ).toBeLessThan(10);
        expectShares(profile, truths, 3, PCALL_ALIASES);
      },
    );
  }
});

describe.skipIf(!HAVE)('a new coroutine per request, resumed from C', () => {
  // embed.c's script: req_a is defined on line 6, req_b on line 7.
  // PUC: the request's coroutine is read with the copy of the running thread, through the stack words
  // where the host kept the coroutine of an earlier request (sampler/lua/host-resumed.ts). Before, each
  // sample stopped the thread to find it, and a stop lands late and at the next system call. The truth
  // is the thread CPU time inside each request's lua_resume (embed.c), less a clock reading's cost.
  // LuaJIT (JIT on): G->cur_L names the request's coroutine; registers come from the switch-out the
  // sampler's wake-up causes (os/switch-regs.ts), and a walk that misses the copy (a new coroutine)
  // walks the next samples while the thread stands still. Stopped for every sample before: +2.7..+4.3.
  for (const b of EMBED_BUILDS) {
    const points = 3;
    // Two retries: on a quiet machine 5.4 came within 3 points on ~7 attempts of 10 (-0.4 to -3.4).
    it(`${b.lua}: every request's coroutine is sampled, shares within ${points} points`, { retry: 2 }, () => {
      const t = join(tempDir(), 'truth.txt');
      const { profile, stderr } = record(['-r', '1000'], [embedFor(b.lib), 'requests', t, '4']);
      const rate = Number(/(\d+) requests\/s/.exec(stderr)?.[1]);
      expect(rate, stderr).toBeGreaterThan(1000);
      for (const [tid, fns] of truth(t)) {
        const got = share(profile, tid, 'req_a', definedAt(6)).share;
        console.log(
          `[requests] ${b.lua}: req_a ${got.toFixed(3)} against ${fns.req_a.toFixed(3)} (${((got - fns.req_a) * 100).toFixed(1)} points)`,
        );
      }
      expectShares(profile, truth(t), points, { req_a: definedAt(6), req_b: definedAt(7) });
      // 5.2-5.4 as root: the kernel's copies at the thread's ticks hold the request's coroutine (its
      // state, records and slots, read through the host's stack word: copier/tick-program.ts), so the
      // samples need neither a stop nor a walk while the thread is held.
      if (b.lib !== 'lua5.1' && b.lib !== 'luajit-5.1' && process.getuid?.() === 0) {
        const meta = profile.meta;
        expect(meta.tickCopies ?? 0, stderr).toBeGreaterThan(0.8 * meta.samples);
        expect(meta.stops ?? 0, stderr).toBeLessThan(0.01 * meta.samples);
        expect(meta.tornDropped ?? 0, stderr).toBeLessThan(0.05 * meta.samples);
      }
    });
  }
});

describe('collector and idle threads', () => {
  it('[GC] on top of the Lua frame that triggered the collector', () => {
    const c = startLua('lua5.4', join(HOSTS, 'garbage.lua'));
    children.push(c);
    execFileSync('sleep', ['0.3']);
    const out = join(tempDir(), 'gc.json');
    const r = luaprofSync(['record', '-p', String(c.pid), '-d', '1.5s', '-r', '300', '-o', out]);
    c.kill();
    expect(r.status, r.stderr).toBe(0);
    const p = readProfile(out);
    const stacks = p.threads.flatMap((t) => t.samples.map((s) => p.stacks[s].map((f) => p.frames[f])));
    const gc = stacks.filter((s) => s.some((f) => f.kind === 'gc'));
    expect(gc.length).toBeGreaterThan(5);
    for (const s of gc) {
      const i = s.findIndex((f) => f.kind === 'gc');
      expect(i).toBe(s.length - 1); // the leaf
      expect(s[i - 1].kind === 'lua' || s[i - 1].kind === 'c').toBe(true);
      expect(s.some((f) => f.name === 'churn')).toBe(true);
    }
  }, 60_000);

  it('threads blocked in the kernel are left out unless --idle; --subprocesses follows children', () => {
    const args = [join(HOSTS, 'parent.lua'), join(HOSTS, 'child.lua'), '2.5'];
    const plain = record(['-r', '200', '--subprocesses'], ['lua5.4', ...args]);
    const parentPid = plain.profile.meta.pid;
    const byPid = (p: Profile) => new Set(p.threads.map((t) => t.pid));
    // The parent waits in os.execute (blocked): left out (followed from its exec on, it may show a
    // sample or two of its own start and of os.execute forking); the child is its own process.
    const parentSamples = plain.profile.threads
      .filter((t) => t.pid === parentPid)
      .reduce((n, t) => n + t.samples.length, 0);
    expect(parentSamples).toBeLessThanOrEqual(3);
    const child = plain.profile.threads.find((t) => t.pid !== parentPid);
    expect(child, JSON.stringify([...byPid(plain.profile)])).toBeDefined();
    expect(
      stacksOf(plain.profile, child!.tid).filter((s) => s.includes('child_work')).length,
    ).toBeGreaterThan(20);
    expect(plain.stderr).toMatch(/\d+ idle/);

    const idle = record(['-r', '200', '--idle'], ['lua5.4', ...args]).profile;
    const parent = idle.threads.find((t) => t.pid === idle.meta.pid);
    expect(parent).toBeDefined();
    const st = stacksOf(idle, parent!.tid);
    expect(st.filter((s) => s[s.length - 1] === '[idle]' && s.includes('os.execute')).length).toBeGreaterThan(
      20,
    );
  }, 60_000);
});
