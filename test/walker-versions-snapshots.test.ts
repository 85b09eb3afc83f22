/**
 * The one PUC walker replayed on memory recorded from each runtime of the matrix (Lua 5.1.5, 5.2.4,
 * 5.3.6, 5.4.2, 5.4.3, 5.4.4, 5.4.6, 5.4.7, 5.4.8, 5.4.9; scripts/record-snapshots.mjs), then fed corrupted
 * bytes, truncated regions, random memory and pointer cycles: only CaptureError may escape, quickly,
 * with bounded reads. Also: 5.4 call naming through "_ENV" on hand-assembled code, every 5.4 layout.
 */
import { readSnapshots } from './helpers/snapshots.js';
import { describe, expect, it } from 'vitest';
import { SnapshotMemory, type Memory } from '../sampler/os/memory.js';
import { tracebackLine } from '../sampler/lua/frames.js';
import { layoutFor, PUC_LAYOUTS } from '../sampler/lua/puc/layouts.js';
import { PucCapture } from '../sampler/lua/puc/capture.js';
import { CaptureError } from '../sampler/lua/runtime.js';
import { NameInference } from '../sampler/lua/puc/names.js';
import type { ProtoInfo } from '../sampler/lua/puc/proto.js';
import { PucResolver } from '../sampler/lua/puc/resolve.js';
import { BoundedMemory, rng } from './helpers/fuzz.js';

const SNAPS = readSnapshots(/^puc-.*\.json$/);

it('a snapshot of every PUC runtime of the matrix is present', () => {
  expect(SNAPS.map((s) => s.version).sort()).toEqual([
    '5.1.5',
    '5.2.4',
    '5.3.6',
    '5.4.2',
    '5.4.3',
    '5.4.4',
    '5.4.6',
    '5.4.7',
    '5.4.8',
    '5.4.9',
  ]);
});

describe('5.4 names: a call through a table named "_ENV" (ldebug.c isEnv)', () => {
  /** A hand-assembled 5.4 Proto: code, locals (name, startpc, endpc), upvalue names, string constants. */
  const proto = (code: number[], locals: [string, number, number][], upvalues: string[], k: string[]) =>
    ({
      code: () => Uint32Array.from(code),
      localName(n: number, pc: number) {
        for (const [name, start, end] of locals) {
          if (start > pc) break;
          if (pc < end && --n === 0) return name;
        }
        return null;
      },
      upvalueName: (i: number) => upvalues[i] ?? '?',
      constantString: (i: number) => k[i] ?? null,
      childNups: () => null,
    }) as unknown as ProtoInfo;
  const atLeast548 = (release: string) => release.localeCompare('5.4.8', 'en', { numeric: true }) >= 0;

  for (const layout of PUC_LAYOUTS.filter((l) => l.family === '5.4')) {
    const release = layout.releases[0];
    const op = (name: string) => {
      const n = layout.opcodes.names.indexOf(name);
      expect(n, name).toBeGreaterThanOrEqual(0);
      return n;
    };
    const iABC = (name: string, a: number, b: number, c: number) =>
      (op(name) | (a << 7) | (b << 16) | (c << 24)) >>> 0;
    const iABx = (name: string, a: number, bx: number) => (op(name) | (a << 7) | (bx << 15)) >>> 0;
    const names = new NameInference(layout);

    it(`${release}: ("_ENV").f() is ${atLeast548(release) ? 'a field (5.4.8+: only a local or upvalue is _ENV)' : 'a global'}`, () => {
      // LOADK R0 "_ENV"; GETFIELD R0 R0 "f"; CALL R0 1 1
      const p = proto(
        [iABx('LOADK', 0, 0), iABC('GETFIELD', 0, 0, 1), iABC('CALL', 0, 1, 1)],
        [],
        [],
        ['_ENV', 'f'],
      );
      expect(names.calledFrom(p, 2)).toEqual({
        namewhat: atLeast548(release) ? 'field' : 'global',
        name: 'f',
      });
    });

    it(`${release}: _ENV.f() with a local or an upvalue named _ENV is a global`, () => {
      // local _ENV = nil; _ENV.f(): LOADNIL R0 0; GETFIELD R1 R0 "f"; CALL R1 1 1
      const local = proto(
        [iABC('LOADNIL', 0, 0, 0), iABC('GETFIELD', 1, 0, 0), iABC('CALL', 1, 1, 1)],
        [['_ENV', 1, 3]],
        [],
        ['f'],
      );
      expect(names.calledFrom(local, 2)).toEqual({ namewhat: 'global', name: 'f' });
      // GETUPVAL R0 U0(_ENV); GETFIELD R0 R0 "f"; CALL R0 1 1
      const upvalue = proto(
        [iABC('GETUPVAL', 0, 0, 0), iABC('GETFIELD', 0, 0, 0), iABC('CALL', 0, 1, 1)],
        [],
        ['_ENV'],
        ['f'],
      );
      expect(names.calledFrom(upvalue, 2)).toEqual({ namewhat: 'global', name: 'f' });
      // A local named otherwise holding "_ENV"'s table is a field on every release.
      const other = proto(
        [iABC('LOADNIL', 0, 0, 0), iABC('GETFIELD', 1, 0, 0), iABC('CALL', 1, 1, 1)],
        [['env', 1, 3]],
        [],
        ['f'],
      );
      expect(names.calledFrom(other, 2)).toEqual({ namewhat: 'field', name: 'f' });
    });
  }
});

for (const snap of SNAPS) {
  const layout = layoutFor(snap.version)!;
  const walk = (mem: Memory): string[] => {
    const cap = new PucCapture(layout);
    const raw = cap.capture(mem, snap.L, snap.G);
    cap.fill(mem, raw);
    return new PucResolver(mem, layout, snap.G, () => 0).resolve(raw).frames.map(tracebackLine);
  };
  const regions = (mutate: (b: Buffer, r: () => number) => void, seed: number) => {
    const r = rng(seed);
    return snap.regions.map((reg) => {
      const bytes = Buffer.from(reg.hex, 'hex');
      mutate(bytes, r);
      return { addr: reg.addr, bytes };
    });
  };
  const survives = (mem: Memory) => {
    const t0 = performance.now();
    try {
      walk(new BoundedMemory(mem));
    } catch (e) {
      if (!(e instanceof CaptureError)) throw e;
    }
    expect(performance.now() - t0).toBeLessThan(2000);
  };

  describe(`${snap.runtime} (Lua ${snap.version}) walker on a recorded snapshot`, () => {
    it('replays to the program traceback (leaf line aside)', () => {
      const frames = walk(SnapshotMemory.fromJSON(snap.regions));
      expect(frames).toEqual(snap.dumped);
      expect(frames.slice(1)).toEqual(snap.traceback.slice(1));
      expect(frames[0].replace(/:\d+:/, ':N:')).toBe(snap.traceback[0].replace(/:\d+:/, ':N:'));
      expect(frames.some((f) => f.includes("'pcall'"))).toBe(true);
    });

    it('survives byte flips (200 seeds), 1% random bytes (50 seeds), random memory (30 seeds)', () => {
      for (let seed = 1; seed <= 200; seed++) {
        survives(
          new SnapshotMemory(
            regions((b, r) => {
              if (b.length && r() < 0.3) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
            }, seed),
          ),
        );
      }
      for (let seed = 1; seed <= 50; seed++) {
        survives(
          new SnapshotMemory(
            regions((b, r) => {
              for (let i = 0; i < b.length; i++) if (r() < 0.01) b[i] = Math.floor(r() * 256);
            }, seed),
          ),
        );
      }
      for (let seed = 1; seed <= 30; seed++) {
        survives(
          new SnapshotMemory(
            regions((b, r) => {
              for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
            }, seed),
          ),
        );
      }
    });

    it('survives truncated and missing regions', () => {
      for (let seed = 1; seed <= 50; seed++) {
        const r = rng(seed);
        const kept = snap.regions
          .filter(() => r() > 0.3)
          .map((reg) => ({
            addr: reg.addr,
            bytes: Buffer.from(reg.hex, 'hex').subarray(0, Math.floor((r() * reg.hex.length) / 2)),
          }));
        survives(new SnapshotMemory(kept));
      }
    });

    it('refuses a CallInfo cycle (or, for 5.1 arrays, a CallInfo pointer outside the array) without hanging', () => {
      const mem = SnapshotMemory.fromJSON(snap.regions);
      const L = mem.read(snap.L, layout.state.size)!;
      const ci = Number(L.readBigUInt64LE(layout.state.ci));
      if (layout.callinfo.previous !== undefined) {
        mem.read(ci, layout.callinfo.size)!.writeBigUInt64LE(BigInt(ci), layout.callinfo.previous);
      } else {
        L.writeBigUInt64LE(BigInt(ci + 3), layout.state.ci); // not on an element boundary
      }
      expect(() => walk(new BoundedMemory(mem))).toThrow(CaptureError);
    });

    if (layout.stkIdRel)
      it('while the stack is being reallocated (functions as offsets from its start) replays the same', () => {
        const mem = SnapshotMemory.fromJSON(snap.regions);
        const L = mem.read(snap.L, layout.state.size)!;
        const stack = Number(L.readBigUInt64LE(layout.state.stack));
        let ci = Number(L.readBigUInt64LE(layout.state.ci));
        // correctstack has turned the innermost two back into pointers, the rest are still offsets.
        for (let depth = 0; ci !== 0; depth++) {
          const rec = mem.read(ci, layout.callinfo.size)!;
          const func = Number(rec.readBigUInt64LE(layout.callinfo.func));
          if (depth >= 2) rec.writeBigUInt64LE(BigInt(func - stack), layout.callinfo.func);
          ci = Number(rec.readBigUInt64LE(layout.callinfo.previous!));
        }
        expect(walk(mem)).toEqual(snap.dumped);
      });

    it('reads a bounded amount while the target is stopped', () => {
      const bounded = new BoundedMemory(SnapshotMemory.fromJSON(snap.regions));
      new PucCapture(layout).capture(bounded, snap.L, snap.G);
      expect(bounded.reads).toBeLessThan(40);
    });
  });
}
