/**
 * The one PUC walker replayed on memory recorded from each runtime of the matrix (Lua 5.1.5, 5.2.4,
 * 5.3.6, 5.4.2, 5.4.4, 5.4.7, 5.4.9; scripts/layouts/record-snapshots.mjs), then fed corrupted bytes,
 * truncated regions, random memory and pointer cycles: only CaptureError may escape, quickly, with
 * bounded reads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SnapshotMemory, type Memory } from '../sampler/os/memory.js';
import { tracebackLine } from '../sampler/lua/frames.js';
import { layoutFor } from '../sampler/lua/layouts.js';
import { CaptureError, PucCapture } from '../sampler/lua/puc/capture.js';
import { PucResolver } from '../sampler/lua/puc/resolve.js';
import { BoundedMemory, rng } from './helpers/fuzz.js';

interface Snapshot {
  runtime: string;
  version: string;
  L: number;
  G: number;
  traceback: string[];
  dumped: string[];
  regions: { addr: number; hex: string }[];
}

const DIR = new URL('../fixtures/snapshots/', import.meta.url);
const SNAPS: Snapshot[] = readdirSync(DIR)
  .filter((f) => /^puc-.*\.json$/.test(f))
  .map((f) => JSON.parse(readFileSync(new URL(f, DIR), 'utf8')));

it('a snapshot of every PUC runtime of the matrix is present', () => {
  expect(SNAPS.map((s) => s.version).sort()).toEqual(['5.1.5', '5.2.4', '5.3.6', '5.4.2', '5.4.4', '5.4.7', '5.4.9']);
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
        survives(new SnapshotMemory(regions((b, r) => {
          if (b.length && r() < 0.3) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
        }, seed)));
      }
      for (let seed = 1; seed <= 50; seed++) {
        survives(new SnapshotMemory(regions((b, r) => {
          for (let i = 0; i < b.length; i++) if (r() < 0.01) b[i] = Math.floor(r() * 256);
        }, seed)));
      }
      for (let seed = 1; seed <= 30; seed++) {
        survives(new SnapshotMemory(regions((b, r) => {
          for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
        }, seed)));
      }
    });

    it('survives truncated and missing regions', () => {
      for (let seed = 1; seed <= 50; seed++) {
        const r = rng(seed);
        const kept = snap.regions
          .filter(() => r() > 0.3)
          .map((reg) => ({ addr: reg.addr, bytes: Buffer.from(reg.hex, 'hex').subarray(0, Math.floor((r() * reg.hex.length) / 2)) }));
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

    it('reads a bounded amount while the target is stopped', () => {
      const bounded = new BoundedMemory(SnapshotMemory.fromJSON(snap.regions));
      new PucCapture(layout).capture(bounded, snap.L, snap.G);
      expect(bounded.reads).toBeLessThan(40);
    });
  });
}
