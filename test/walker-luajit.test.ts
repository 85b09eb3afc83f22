/**
 * The LuaJIT walker replayed on recorded memory (fixtures/snapshots/luajit-*.json, recorded by
 * scripts/layouts/luajit/record-snapshot.mjs from Debian's and OpenResty's luajit): the same frames as
 * the live run, and hostile input (flipped bytes, random bytes, missing regions) never throws anything
 * but CaptureError, never hangs, and reads a bounded amount.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnapshotMemory, type Memory } from '../sampler/os/memory.js';
import { tracebackLine } from '../sampler/lua/frames.js';
import { CaptureError, NeedsRegistersError } from '../sampler/lua/runtime.js';
import { candidateLayouts, layoutFromProbe } from '../sampler/lua/luajit/layout.js';
import { LUAJIT_BUILDS } from '../sampler/lua/luajit/layouts.js';
import { LuaJitRuntime } from '../sampler/lua/luajit/runtime.js';
import { shortName } from '../sampler/lua/luajit/strings.js';
import { validateThread } from '../sampler/lua/luajit/attach.js';
import { rng } from './helpers/fuzz.js';

const DIR = new URL('../fixtures/snapshots/', import.meta.url).pathname;
const files = readdirSync(DIR).filter((f) => f.startsWith('luajit-') && f.endsWith('.json'));

interface Snap {
  version: string;
  layout: string;
  L: number;
  G: number;
  regs: { rdx: number; rbx: number; r14: number; rbp?: number };
  baseFrom?: string;
  vmstate: number;
  traceback: string[];
  dumped: string[];
  kinds: string[];
  regions: { addr: number; hex: string }[];
}

const load = (f: string): Snap => JSON.parse(readFileSync(join(DIR, f), 'utf8'));
const layoutOf = (id: string) => {
  const b = LUAJIT_BUILDS.find((x) => x.id === id)!;
  return layoutFromProbe(b.id, b.probe);
};

function run(s: Snap, mem: Memory, regs = s.regs) {
  const rt = new LuaJitRuntime(`LuaJIT ${s.version}`, layoutOf(s.layout), s.L, s.G, mem, () => 0);
  const raw = rt.capture(mem, regs);
  return rt.resolve(raw).frames;
}

/** Runs the walker on hostile memory: only CaptureError may escape; reads stay bounded. */
function hostile(s: Snap, mem: SnapshotMemory, regs = s.regs): void {
  const t0 = performance.now();
  try {
    const frames = run(s, mem, regs);
    expect(frames.length).toBeLessThanOrEqual(4 * 1024 + 8);
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
  }
  expect(performance.now() - t0).toBeLessThan(2000);
  expect(mem.reads).toBeLessThan(50_000);
  expect(mem.bytesRead).toBeLessThan(64 << 20);
}

describe('LuaJIT walker on recorded snapshots', () => {
  it('has snapshots for Debian and OpenResty, each under 300 KB', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) expect(readFileSync(join(DIR, f)).length).toBeLessThan(300 * 1024);
    expect(files.some((f) => f.includes('openresty'))).toBe(true);
  });

  for (const f of files) {
    it(`${f}: replay gives the recorded frames, and they agree with debug.traceback`, () => {
      const s = load(f);
      const frames = run(s, SnapshotMemory.fromJSON(s.regions));
      expect(frames.map(tracebackLine)).toEqual(s.dumped);
      expect(frames.map((x) => x.kind)).toEqual(s.kinds);
      // Callers as the program printed them (its leaf line is where it wrote the traceback, not the spin).
      const n = s.traceback.length - 1; // last line: "[C]: at 0x…"
      expect(s.dumped.slice(1, n)).toEqual(s.traceback.slice(1, n));
      expect(frames[0].name).toBe('spin');
      if (s.vmstate >= 0) expect(frames[0].kind).toBe('jit');
    });

    it(`${f}: without registers: nothing but CaptureError escapes, time and reads stay bounded`, () => {
      const s = load(f);
      hostile(s, SnapshotMemory.fromJSON(s.regions), { rdx: 0, rbx: 0, r14: 0 });
    });

    it(`${f}: flipped bytes, truncated regions and random bytes`, () => {
      const s = load(f);
      const rand = rng(0x5eed ^ f.length);
      for (let round = 0; round < 150; round++) {
        const regions = s.regions.map((r) => ({ addr: r.addr, bytes: Buffer.from(r.hex, 'hex') }));
        const mode = round % 3;
        for (const r of regions) {
          if (mode === 0) {
            const flips = 1 + Math.floor(rand() * 4);
            for (let i = 0; i < flips && r.bytes.length > 0; i++)
              r.bytes[Math.floor(rand() * r.bytes.length)] ^= 1 << Math.floor(rand() * 8);
          } else if (mode === 1) {
            if (rand() < 0.3) r.bytes = r.bytes.subarray(0, Math.floor(rand() * r.bytes.length));
          } else if (rand() < 0.5) {
            for (let i = 0; i < r.bytes.length; i++) r.bytes[i] = Math.floor(rand() * 256);
          }
        }
        hostile(s, new SnapshotMemory(regions));
      }
    });
  }

  it('BC_LEN in the interpreter: BASE is found in rbp while lj_tab_len runs (rdx clobbered, L->base stale)', () => {
    const lens = files.filter((f) => f.includes('-len'));
    expect(lens.length).toBeGreaterThanOrEqual(2);
    for (const f of lens) {
      const s = load(f);
      expect(s.baseFrom).toBe('rbp');
      const mem = SnapshotMemory.fromJSON(s.regions);
      const rt = new LuaJitRuntime(`LuaJIT ${s.version}`, layoutOf(s.layout), s.L, s.G, mem, () => 0);
      const raw = rt.capture(mem, s.regs);
      expect(raw.baseFrom).toBe('rbp');
      // rdx holds a small integer of lj_tab_len's, not a stack address.
      expect(s.regs.rdx).toBeLessThan(1 << 20);
      const frames = rt.resolve(raw).frames;
      expect(frames[0].name).toBe('spin');
      expect(tracebackLine(frames[0])).toMatch(/^scenarios\.lua:\d+: in function 'spin'$/);
      expect(frames.map(tracebackLine).slice(1)).toEqual(s.dumped.slice(1));
      // Without rbp the walker falls back to L->base, left at the gmatch iterator's frame whose function
      // slot now holds its result: the sample was dropped ("frame slot is not a function").
      expect(() =>
        run(s, SnapshotMemory.fromJSON(s.regions), { rdx: s.regs.rdx, rbx: s.regs.rbx, r14: s.regs.r14 }),
      ).toThrow(CaptureError);
    }
  });

  it('captureRunning: the same frames as with registers inside a trace; refused in the interpreter (NeedsRegistersError); a copy whose second pass moved on is dropped', () => {
    for (const f of files) {
      const s = load(f);
      const mem = SnapshotMemory.fromJSON(s.regions);
      const rt = new LuaJitRuntime(`LuaJIT ${s.version}`, layoutOf(s.layout), s.L, s.G, mem, () => 0);
      if (s.vmstate >= 0) {
        const raw = rt.captureRunning(mem, mem);
        expect(raw.baseFrom).toBe('jit');
        expect(rt.resolve(raw).frames.map(tracebackLine)).toEqual(s.dumped);
        // The same copy, but the next pass reads G->vmstate differently: dropped as torn.
        const moving: Memory = {
          read(addr, len) {
            const b = mem.read(addr, len);
            if (b && addr === s.G + layoutOf(s.layout).global.vmstate) {
              const c = Buffer.from(b);
              c.writeInt32LE(c.readInt32LE(0) + 1, 0);
              return c;
            }
            return b;
          },
        };
        expect(() => rt.captureRunning(mem, moving)).toThrow(/torn/);
      } else {
        expect(() => rt.captureRunning(mem, mem)).toThrow(NeedsRegistersError);
      }
    }
  });

  it('memory of nothing but random bytes at the state addresses', () => {
    const s = load(files[0]);
    const rand = rng(42);
    for (let round = 0; round < 50; round++) {
      const regions = [s.L, s.G].map((addr) => ({
        addr: addr - 4096,
        bytes: Buffer.from(Array.from({ length: 16384 }, () => Math.floor(rand() * 256))),
      }));
      hostile(s, new SnapshotMemory(regions));
    }
  });

  it('frame links pointed at zero-size C frames: nothing but CaptureError escapes, time and reads stay bounded', () => {
    const s = load(files.find((f) => f.includes('joff'))!);
    const regions = s.regions.map((r) => ({ addr: r.addr, bytes: Buffer.from(r.hex, 'hex') }));
    // Point every frame link of the copied stack at a zero-size C frame (prev == frame).
    for (const r of regions) {
      if (r.bytes.length < 256) continue;
      for (let off = 0; off + 8 <= r.bytes.length; off += 8)
        if (
          r.bytes.readUInt32LE(off + 4) === 0 &&
          r.bytes.readUInt32LE(off) % 8 === 0 &&
          r.bytes.readUInt32LE(off) > 0 &&
          r.bytes.readUInt32LE(off) < 4096
        )
          r.bytes.writeUInt32LE(1, off);
    }
    hostile(s, new SnapshotMemory(regions));
  });

  it('layouts: every known build validates the recorded state only with its own layout', () => {
    for (const f of files) {
      const s = load(f);
      const mem = SnapshotMemory.fromJSON(s.regions);
      for (const l of candidateLayouts(s.version)) {
        const v = validateThread(mem, l, s.L);
        if (l.id === s.layout) expect(v).toEqual({ mainL: s.L, G: s.G });
        else expect(v).toBeNull();
      }
    }
  });

  it('lj_debug_shortname', () => {
    expect(shortName('@app.lua', 1)).toBe('app.lua');
    expect(shortName('=stdin', 1)).toBe('stdin');
    expect(shortName('@' + 'a'.repeat(70), 1)).toBe('...' + 'a'.repeat(56));
    expect(shortName('return 1', 1)).toBe('[string "return 1"]');
    expect(shortName('x = 1\ny = 2', 1)).toBe('[string "x = 1..."]');
    expect(shortName('a'.repeat(60), 1)).toBe(`[string "${'a'.repeat(45)}..."]`);
  });
});
