/**
 * `--native` names only what it knows (issue 10, item 5):
 * - the symbolizer never names an address with a symbol that does not cover it (readelf's symbol sizes
 *   and FDEs as the oracle), over Debian's Lua libraries and interpreters, OpenResty's LuaJIT and a
 *   statically linked host, stripped or not;
 * - LuaJIT's VM, named from the dispatch table in a live process, agrees with the lj_BC_* symbols of a
 *   build that keeps them (OpenResty's luajit);
 * - mixed stacks of real hosts (fixtures/native/host.c, busy.lua on the stock interpreters,
 *   fixtures/hosts/embed.c resuming coroutines) on Lua 5.1–5.4 and LuaJIT: the exact ordered names,
 *   Lua frames spliced at every lua_pcall/lua_resume and under LuaJIT traces, and every native frame of
 *   a Lua object or of the host named by one of its own symbols, the VM's names, or module+0x<FDE start>.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Profile } from '../aggregator/profile.js';
import { readProfile } from '../report/read.js';
import { detectLua, luaBinaries } from '../sampler/lua/detect.js';
import { attachLuaJit } from '../sampler/lua/luajit/attach.js';
import { readVmCode } from '../sampler/lua/luajit/vm-code.js';
import { InterpreterNames } from '../sampler/native/interpreter-code.js';
import { KNOWN_FUNCTIONS } from '../sampler/native/known-functions.js';
import { NativeUnwinder, ProcessModules, Symbolizer } from '../sampler/native/index.js';
import { readMaps } from '../sampler/os/maps.js';
import { getRegs } from '../sampler/os/ptrace.js';
import { RemoteMemory } from '../sampler/os/remote-memory.js';
import { pauseThread } from '../sampler/pause.js';
import { fdeAt, fdeRanges, functionSymbols, symbolCovers, type FuncSymbol } from './helpers/elf-facts.js';
import { ROOT, luaprofSync } from './helpers/lua-process.js';
import { fakeMaps } from './helpers/maps.js';
import { FIXTURES, gdbCapture, haveTool, startTarget, stopTarget, tempDir } from './helpers/native.js';
import { ProcMemMemory } from '../sampler/os/procmem.js';

const LIB = '/usr/lib/x86_64-linux-gnu';
const OPENRESTY = path.join(ROOT, '.cache/runtimes/openresty-luajit');
const HOSTS = path.join(ROOT, 'fixtures/hosts');
const real = (p: string) => (fs.existsSync(p) ? fs.realpathSync(p) : p);

const buildIds = new Map<string, string | null>();
function buildId(file: string): string | null {
  if (!buildIds.has(file)) {
    const m = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', file], { encoding: 'utf8' }));
    buildIds.set(file, m ? m[1] : null);
  }
  return buildIds.get(file)!;
}

/** A name known for this build (known-functions.ts) whose FDE, as readelf lists it, is exactly the entry. */
function knownCovers(
  file: string,
  fdes: readonly { start: number; end: number }[],
  name: string,
  v: number,
): boolean {
  const fde = fdeAt(fdes, v);
  const id = buildId(file);
  return (
    !!fde &&
    !!id &&
    (KNOWN_FUNCTIONS[id] ?? []).some(
      (k) => k.name === name && k.start === fde.start && k.start + k.size === fde.end,
    )
  );
}

/** Lua flavours with headers and a shared library here: what host.c and embed.c build against. */
const BUILDS = [
  {
    id: 'lua5.1',
    include: '/usr/include/lua5.1',
    lib: 'lua5.1',
    interp: '/usr/bin/lua5.1',
    pcall: 'lua_pcall',
  },
  {
    id: 'lua5.2',
    include: '/usr/include/lua5.2',
    lib: 'lua5.2',
    interp: '/usr/bin/lua5.2',
    pcall: 'lua_pcallk',
  },
  {
    id: 'lua5.3',
    include: '/usr/include/lua5.3',
    lib: 'lua5.3',
    interp: '/usr/bin/lua5.3',
    pcall: 'lua_pcallk',
  },
  {
    id: 'lua5.4',
    include: '/usr/include/lua5.4',
    lib: 'lua5.4',
    interp: '/usr/bin/lua5.4',
    pcall: 'lua_pcallk',
  },
  {
    id: 'luajit',
    include: '/usr/include/luajit-2.1',
    lib: 'luajit-5.1',
    interp: '/usr/bin/luajit',
    pcall: 'lua_pcall',
  },
];
for (const b of BUILDS)
  if (!fs.existsSync(path.join(b.include, 'lua.h')))
    throw new Error(`${b.include}/lua.h: run scripts/setup.sh`);

const dir = tempDir('luaprof-names-');
const hostOf = (id: string) => path.join(dir, `host-${id}`);
const embedOf = (id: string) => path.join(dir, `embed-${id}`);
const STATIC = path.join(dir, 'host-static');
const STATIC_STRIPPED = path.join(dir, 'host-static-stripped');

beforeAll(() => {
  for (const b of BUILDS) {
    const flags = [`-I${b.include}`, `-l${b.lib}`, '-lpthread'];
    execFileSync('gcc', ['-O2', '-g', '-o', hostOf(b.id), path.join(FIXTURES, 'host.c'), ...flags]);
    execFileSync('gcc', ['-O2', '-g', '-o', embedOf(b.id), path.join(HOSTS, 'embed.c'), ...flags]);
  }
  const stat = [
    '-O2',
    '-I/usr/include/lua5.4',
    path.join(FIXTURES, 'host.c'),
    `${LIB}/liblua5.4.a`,
    '-lm',
    '-ldl',
  ];
  execFileSync('gcc', [...stat, '-o', STATIC]);
  execFileSync('gcc', [...stat, '-s', '-o', STATIC_STRIPPED]);
}, 120_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('symbolizer: a name only where its symbol covers the address', () => {
  const objects = () => [
    ...['5.1', '5.2', '5.3', '5.4'].map((v) => real(`${LIB}/liblua${v}.so.0`)),
    real(`${LIB}/libluajit-5.1.so.2`),
    ...BUILDS.map((b) => real(b.interp)),
    real(`${OPENRESTY}/bin/luajit`),
    real(`${OPENRESTY}/lib/libluajit-5.1.so.2`),
    STATIC,
    STATIC_STRIPPED,
  ];

  it('every FDE start, middle and end, and every symbol edge, of each Lua object and static host', () => {
    const base = 0x5500_0000_0000;
    for (const file of objects()) {
      const syms = functionSymbols(file);
      const fdes = fdeRanges(file);
      expect(fdes.length, `${file}: FDEs`).toBeGreaterThan(100);
      const sym = new Symbolizer(0, { read: () => null }, { maps: fakeMaps(file, base) });
      const probes = new Set<number>();
      for (const f of fdes) [f.start, (f.start + f.end) >>> 1, f.end - 1].forEach((v) => probes.add(v));
      for (const s of syms)
        [s.value, s.value + Math.max(0, s.size - 1), s.value + s.size].forEach((v) => probes.add(v));
      let named = 0;
      let unnamed = 0;
      const wrong: string[] = [];
      for (const v of probes) {
        const r = sym.symbolize(base + v);
        if (r.name !== undefined) {
          named++;
          if (!symbolCovers(syms, fdes, r.name, v) && !knownCovers(file, fdes, r.name, v))
            wrong.push(`0x${v.toString(16)} named ${r.name}`);
          continue;
        }
        unnamed++;
        const fde = fdeAt(fdes, v);
        const want = `${path.basename(file)}+0x${(fde ? fde.start : v).toString(16)}`;
        if (r.label !== want) wrong.push(`0x${v.toString(16)} labelled ${r.label}, want ${want}`);
        const cover = syms.find((s) => s.size > 0 && s.value <= v && v < s.value + s.size);
        if (cover) wrong.push(`0x${v.toString(16)} unnamed, but ${cover.name} covers it`);
      }
      expect(wrong.slice(0, 5), `${file}: ${wrong.length} wrong of ${probes.size}`).toEqual([]);
      if (file === STATIC_STRIPPED) expect(named, file).toBe(0);
      else expect(named, `${file}: named probes`).toBeGreaterThan(100);
      if (syms.length > 0 && file !== STATIC) expect(unnamed, `${file}: unnamed probes`).toBeGreaterThan(0);
    }
  });
});

describe.skipIf(!haveTool('gdb'))('live stacks: each frame named only by what covers its pc', () => {
  it.each(BUILDS)('host.c on $id, stopped by gdb twice', async (b) => {
    const child = await startTarget(hostOf(b.id), ['burn']);
    try {
      for (let k = 0; k < 2; k++) {
        const cap = gdbCapture(child.pid!);
        const mem = new ProcMemMemory(cap.pid);
        const u = new NativeUnwinder(cap.pid, mem, { maps: cap.maps });
        const sym = new Symbolizer(cap.pid, mem, { modules: u.modules });
        const frames = u.unwind(cap.regs as never, cap.stack);
        const infos = sym.symbolizeFrames(frames);
        mem.close();
        const files = new Set([...luaFiles(b), hostOf(b.id)].map(real));
        let checked = 0;
        frames.forEach((f, i) => {
          const at = i > 0 && !frames[i - 1].signal ? f.pc - 1 : f.pc;
          const l = u.modules.lookup(at);
          if (!l || !files.has(real(l.mod.path))) return;
          checked++;
          const file = real(l.mod.path);
          const v = at - l.bias;
          const { syms, fdes } = factsOf(file);
          const r = infos[i];
          const where = `${file} pc 0x${v.toString(16)} (frame ${i}): ${r.label}`;
          if (r.name !== undefined) {
            expect(symbolCovers(syms, fdes, r.name, v) || knownCovers(file, fdes, r.name, v), where).toBe(
              true,
            );
          } else {
            const fde = fdeAt(fdes, v);
            expect(r.label, where).toBe(
              `${path.basename(l.mod.path)}+0x${(fde ? fde.start : v).toString(16)}`,
            );
          }
        });
        expect(checked, `frames in ${[...files].join(', ')}`).toBeGreaterThan(4);
        await new Promise((res) => setTimeout(res, 50));
      }
    } finally {
      stopTarget(child);
    }
  });
});

describe('hidden functions known by build-id', () => {
  it("names luaV_execute in Debian's stripped liblua5.2-5.4 and lua5.2-5.4, and nothing else by that name", () => {
    const base = 0x5500_0000_0000;
    const files = ['5.2', '5.3', '5.4'].flatMap((v) => [
      real(`${LIB}/liblua${v}.so.0`),
      real(`/usr/bin/lua${v}`),
    ]);
    for (const file of files) {
      const known = KNOWN_FUNCTIONS[buildId(file) ?? ''];
      expect(known, `${file} (build-id ${buildId(file)}): run scripts/known-functions/find.sh`).toBeDefined();
      const sym = new Symbolizer(0, { read: () => null }, { maps: fakeMaps(file, base) });
      for (const k of known!) {
        for (const v of [k.start, k.start + (k.size >>> 1), k.start + k.size - 1])
          expect(sym.symbolize(base + v).label, `${file} 0x${v.toString(16)}`).toBe(k.name);
        expect(sym.symbolize(base + k.start - 1).name, `${file}: before ${k.name}`).not.toBe(k.name);
        expect(sym.symbolize(base + k.start + k.size).name, `${file}: after ${k.name}`).not.toBe(k.name);
      }
    }
  });
});

describe('LuaJIT VM names from the dispatch table', () => {
  it("agree with OpenResty luajit's lj_BC_* symbols (a live process)", async () => {
    const exe = real(`${OPENRESTY}/bin/luajit`);
    const child = await startTarget(exe, [path.join(FIXTURES, 'busy.lua')]);
    try {
      const pid = child.pid!;
      const mem = new RemoteMemory(pid);
      const rt = attachLuaJit({
        pid,
        mem,
        maps: readMaps(pid)!,
        binaries: luaBinaries(pid),
        detection: detectLua(pid)!,
        withMainStopped: (fn) => pauseThread(pid, () => fn(getRegs(pid))).value,
      });
      const code = readVmCode(mem, rt.layout, rt.G);
      expect(code).not.toBeNull();
      const modules = new ProcessModules(pid, mem);
      const l = modules.lookup(code!.entries[0].start)!;
      expect(l.mod.path).toBe(exe);
      expect(InterpreterNames.check(code!, l.mod, l.bias)).not.toBeNull();
      const syms = functionSymbols(exe);
      const all = execFileSync('nm', [exe], { encoding: 'utf8' })
        .split('\n')
        .map((x) => x.split(' '))
        .filter((x) => x.length === 3 && /^lj_(BC|vm|ff|fff|cont)_/.test(x[2]))
        .map(([a, , n]) => ({ value: parseInt(a, 16), name: n }));
      const byValue = new Map(all.filter((s) => s.name.startsWith('lj_BC_')).map((s) => [s.value, s.name]));
      expect(byValue.get(code!.entries[0].start - l.bias)).toBe('lj_BC_ISLT');
      expect(code!.entries.length).toBeGreaterThan(85);
      for (const e of code!.entries) {
        expect(byValue.get(e.start - l.bias), e.name).toBe(e.name);
        // The next handler's symbol ends the range (labels inside a handler, like lj_vm_IITERN, aside).
        const next = all.filter((s) => s.value > e.start - l.bias && s.name.startsWith('lj_BC_'));
        expect(Math.min(...next.map((s) => s.value)), e.name).toBe(e.end - l.bias);
      }
      expect(syms.length).toBeGreaterThan(0);
    } finally {
      stopTarget(child);
    }
  });
});

/** Stacks (root first) of every thread. */
function stacks(p: Profile): { names: string[]; files: (string | undefined)[]; kinds: string[] }[] {
  return p.threads.flatMap((t) =>
    t.samples.map((s) => {
      const fs_ = p.stacks[s].map((f) => p.frames[f]);
      return { names: fs_.map((f) => f.name), files: fs_.map((f) => f.file), kinds: fs_.map((f) => f.kind) };
    }),
  );
}

function recordNative(cmd: string[], seconds = 3): Profile {
  const out = path.join(tempDir(), 'p.json');
  const r = luaprofSync(
    ['record', '--native', '-r', '300', '-d', String(seconds), '--no-progress', '-o', out, '--', ...cmd],
    {
      timeout: 60_000,
    },
  );
  expect(r.status, r.stderr).toBe(0);
  return readProfile(out);
}

/** Nearly all stacks that hold a frame matching `having` hold `run` exactly (contiguous names). */
function expectRun(p: Profile, having: RegExp, run: (string | RegExp)[]): void {
  const all = stacks(p).filter((s) => s.names.some((n) => having.test(n)));
  expect(all.length, `stacks with ${having}`).toBeGreaterThan(5);
  const match = (n: string | undefined, w: string | RegExp) =>
    n !== undefined && (typeof w === 'string' ? n === w : w.test(n));
  let good = 0;
  let bad: string[] | null = null;
  for (const s of all) {
    if (s.names.some((_, i) => run.every((w, k) => match(s.names[i + k], w)))) good++;
    else bad ??= s.names;
  }
  // An unwind can miss now and then (a sample taken in a function prologue).
  expect(
    good / all.length,
    `${good}/${all.length} hold the run; one that does not: ${bad?.join(' > ')}`,
  ).toBeGreaterThan(0.9);
}

/** Symbols and FDEs per file, read once. */
const facts = new Map<
  string,
  { syms: FuncSymbol[]; fdes: { start: number; end: number }[]; fdeStarts: Set<number> }
>();
function factsOf(file: string) {
  let f = facts.get(file);
  if (!f) {
    const fdes = fdeRanges(file);
    f = { syms: functionSymbols(file), fdes, fdeStarts: new Set(fdes.map((r) => r.start)) };
    facts.set(file, f);
  }
  return f;
}

const VM_NAME = /^(lj_BC_[A-Z]+|lj_vm \(interpreter\)|lj_vm_ffi_call)$/;

/** Every native frame of a Lua object or of the host: its own symbol, the VM's name, or module+0x<FDE start>. */
function expectHonestNames(p: Profile, files: string[]): void {
  const checked = new Set(files.map(real));
  let n = 0;
  for (const s of stacks(p)) {
    s.names.forEach((name, i) => {
      const file = s.files[i];
      if (s.kinds[i] !== 'native' || !file || !checked.has(real(file))) return;
      n++;
      const f = factsOf(real(file));
      const off = /^(.+)\+0x([0-9a-f]+)$/.exec(name);
      if (off && off[1] === path.basename(file)) {
        expect(f.fdeStarts.has(parseInt(off[2], 16)), `${name}: an FDE start of ${file}`).toBe(true);
      } else if (VM_NAME.test(name)) {
        expect(path.basename(file), name).toMatch(/luajit/);
      } else {
        const known = (KNOWN_FUNCTIONS[buildId(real(file)) ?? ''] ?? []).some((k) => k.name === name);
        expect(known || f.syms.some((x) => x.name === name), `${name}: a symbol of ${file}`).toBe(true);
      }
    });
  }
  expect(n, 'native frames checked').toBeGreaterThan(20);
}

const STEP = `[string "local function work(n) return host_burn(n) + ..."]`;
const luaFiles = (b: (typeof BUILDS)[number]) =>
  b.id === 'luajit' ? [`${LIB}/libluajit-5.1.so.2`, b.interp] : [`${LIB}/lib${b.lib}.so.0`, b.interp];

describe.each(BUILDS)('--native on $id', (b) => {
  it('host.c: main > run_step > lua_pcall > Lua > the C function Lua calls, exactly', () => {
    const p = recordNative([hostOf(b.id), 'burn']);
    // Lua 5.1, 5.2 and LuaJIT name a function a host calls by where it is defined.
    const step = b.id === 'lua5.3' || b.id === 'lua5.4' ? 'step' : `function <${STEP}:2>`;
    expectRun(p, /^mix$/, ['main', 'run_step', b.pcall, step, 'work', 'host_burn', 'mix']);
    expectHonestNames(p, [...luaFiles(b), hostOf(b.id)]);
  });

  it('busy.lua on the stock interpreter: Lua frames spliced at every lua_pcall (and under traces)', () => {
    const p = recordNative([b.interp, path.join(FIXTURES, 'busy.lua')]);
    const fn = (line: number) => `function <${path.join(FIXTURES, 'busy.lua')}:${line}>`;
    if (b.id === 'luajit') {
      // pcall is a fast function (no C frame); compiled loops run as traces, the VM's callers under them.
      const traced = stacks(p).filter((s) => s.names.includes('[LuaJIT trace]'));
      expect(traced.length).toBeGreaterThan(5);
      expectRun(p, /busy\.lua:13>$/, [b.pcall, 'main chunk', 'pcall', fn(13)]);
      for (const s of traced) expect(s.names.slice(0, s.names.indexOf('main chunk'))).toContain(b.pcall);
    } else {
      expectRun(p, /busy\.lua:3>$/, [
        b.pcall,
        'main chunk',
        'pcall',
        b.pcall,
        fn(13),
        'middle',
        'pcall',
        b.pcall,
        fn(3),
      ]);
    }
    expectHonestNames(p, luaFiles(b));
  });

  it('embed.c resume: main > resume_batch > lua_resume > the coroutine, exactly', () => {
    const truth = path.join(tempDir(), 'truth.txt');
    const p = recordNative([embedOf(b.id), 'resume', truth, '3']);
    const gen = (name: string, line: number) =>
      b.id === 'lua5.3' || b.id === 'lua5.4'
        ? name
        : `function <[string "local function burn(n) local x = 0 for i = 1,..."]:${line}>`;
    // LuaJIT's lua_resume tail-calls lj_vm_resume: no frame of its own is left on the stack.
    const resume = b.id === 'luajit' ? [] : ['lua_resume'];
    expectRun(p, /^mix$/, ['main', /^resume_batch/, ...resume, gen('gen_b', 5), 'host_heavy', 'mix']);
    expectRun(p, /^burn$/, ['main', /^resume_batch/, ...resume, gen('gen_a', 4), 'burn']);
    expectHonestNames(p, [...luaFiles(b), embedOf(b.id)]);
  });
});
