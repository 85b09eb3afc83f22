/**
 * The PUC walker replayed on a recorded lua5.4 memory snapshot, then fed corrupted and random bytes:
 * only CaptureError may escape, every run ends quickly, and reads stay bounded.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SnapshotMemory, type Memory } from '../sampler/os/memory.js';
import { tracebackLine } from '../sampler/lua/frames.js';
import { layoutFor } from '../sampler/lua/layouts.js';
import { locateMainState } from '../sampler/lua/locate.js';
import { CaptureError, PucCapture } from '../sampler/lua/puc/capture.js';
import { PucResolver } from '../sampler/lua/puc/resolve.js';
import { BoundedMemory, rng } from './helpers/fuzz.js';

interface Snapshot {
  version: string;
  L: number;
  G: number;
  traceback: string[];
  dumped: string[];
  regions: { addr: number; hex: string }[];
}

const snap: Snapshot = JSON.parse(readFileSync(new URL('../fixtures/snapshots/lua544-oracle.json', import.meta.url), 'utf8'));
const layout = layoutFor(snap.version)!;

function walk(mem: Memory): string[] {
  const cap = new PucCapture(layout);
  const raw = cap.capture(mem, snap.L, snap.G);
  cap.fill(mem, raw);
  return new PucResolver(mem, layout, snap.G, () => 0).resolve(raw).frames.map(tracebackLine);
}

function regions(mutate: (b: Buffer, r: () => number) => void, seed: number) {
  const r = rng(seed);
  return snap.regions.map((reg) => {
    const bytes = Buffer.from(reg.hex, 'hex');
    mutate(bytes, r);
    return { addr: reg.addr, bytes };
  });
}

/** Runs the walker on hostile memory: it may refuse (CaptureError) but nothing else, quickly, boundedly. */
function survives(mem: Memory): void {
  const bounded = new BoundedMemory(mem);
  const t0 = performance.now();
  try {
    walk(bounded);
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
  }
  expect(performance.now() - t0).toBeLessThan(2000);
}

describe('lua5.4 walker on a recorded snapshot', () => {
  it('replays to the frames luaprof saw, which match the program traceback but for the leaf line', () => {
    const frames = walk(SnapshotMemory.fromJSON(snap.regions));
    expect(frames).toEqual(snap.dumped);
    expect(frames.slice(1)).toEqual(snap.traceback.slice(1));
    expect(frames[0].replace(/:\d+:/, ':N:')).toBe(snap.traceback[0].replace(/:\d+:/, ':N:'));
  });

  it('finds the main state again from the snapshot alone (data segment scan is not needed: validate the known pointer)', () => {
    const mem = SnapshotMemory.fromJSON(snap.regions);
    const maps = snap.regions.map((r) => ({ start: r.addr, end: r.addr + r.hex.length / 2, perms: 'rw-p', offset: 0, path: '' }));
    const found = locateMainState(mem, layout, maps, [], { registers: [snap.L, 0, 12345, snap.G] });
    expect(found).toMatchObject({ L: snap.L, G: snap.G, source: 'register' });
  });

  it('survives single-byte corruption anywhere (300 seeds)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const which = Math.floor(r() * snap.regions.length);
      const mem = new SnapshotMemory(
        regions((b, rr) => {
          if (b.length && rr() < 2 / snap.regions.length) b[Math.floor(rr() * b.length)] ^= 1 << Math.floor(rr() * 8);
        }, seed).map((reg, i) => {
          if (i === which && reg.bytes.length) reg.bytes[Math.floor(r() * reg.bytes.length)] = Math.floor(r() * 256);
          return reg;
        }),
      );
      survives(mem);
    }
  });

  it('survives heavy corruption: 1% of bytes randomised (100 seeds)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      survives(new SnapshotMemory(regions((b, r) => {
        for (let i = 0; i < b.length; i++) if (r() < 0.01) b[i] = Math.floor(r() * 256);
      }, seed)));
    }
  });

  it('survives random memory at the same addresses (50 seeds)', () => {
    for (let seed = 1; seed <= 50; seed++) {
      survives(new SnapshotMemory(regions((b, r) => {
        for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
      }, seed)));
    }
  });

  it('survives truncated regions and missing memory', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const r = rng(seed);
      const kept = snap.regions
        .filter(() => r() > 0.3)
        .map((reg) => ({ addr: reg.addr, bytes: Buffer.from(reg.hex, 'hex').subarray(0, Math.floor((r() * reg.hex.length) / 2)) }));
      survives(new SnapshotMemory(kept));
    }
  });

  it('refuses a CallInfo chain that loops, without hanging', () => {
    const mem = SnapshotMemory.fromJSON(snap.regions);
    const L = mem.read(snap.L, layout.state.size)!;
    const ci = Number(L.readBigUInt64LE(layout.state.ci));
    const ciBytes = mem.read(ci, layout.callinfo.size)!;
    ciBytes.writeBigUInt64LE(BigInt(ci), layout.callinfo.previous!); // previous = itself
    expect(() => walk(new BoundedMemory(mem))).toThrow(CaptureError);
  });

  it('reads a bounded amount per sample', () => {
    const bounded = new BoundedMemory(SnapshotMemory.fromJSON(snap.regions));
    const cap = new PucCapture(layout);
    cap.capture(bounded, snap.L, snap.G);
    expect(bounded.reads).toBeLessThan(40);
  });
});
