/**
 * The PUC walker replayed on a recorded lua5.4 snapshot, and the state's validation (a register
 * candidate checked against the snapshot's bytes). (Corrupted and random memory for every PUC release:
 * walker-versions-snapshots.test.ts.)
 */
import { readSnapshot } from './helpers/snapshots.js';
import { describe, expect, it } from 'vitest';
import { SnapshotMemory, type Memory } from '../sampler/os/memory.js';
import { tracebackLine } from '../sampler/lua/frames.js';
import { layoutFor } from '../sampler/lua/puc/layouts.js';
import { locateMainState } from '../sampler/lua/puc/locate.js';
import { PucCapture } from '../sampler/lua/puc/capture.js';
import { PucResolver } from '../sampler/lua/puc/resolve.js';
import { BoundedMemory } from './helpers/fuzz.js';
import { mapping } from './helpers/maps.js';

const snap = readSnapshot('lua544-oracle.json');
const layout = layoutFor(snap.version)!;

function walk(mem: Memory): string[] {
  const cap = new PucCapture(layout);
  const raw = cap.capture(mem, snap.L, snap.G);
  cap.fill(mem, raw);
  return new PucResolver(mem, layout, snap.G, () => 0).resolve(raw).frames.map(tracebackLine);
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
    const maps = snap.regions.map((r) => mapping(r.addr, r.addr + r.hex.length / 2, 'rw-p'));
    const found = locateMainState(mem, layout, maps, [], { registers: [snap.L, 0, 12345, snap.G] });
    expect(found).toMatchObject({ L: snap.L, G: snap.G, source: 'register' });
  });

  it('reads a bounded amount per sample', () => {
    const bounded = new BoundedMemory(SnapshotMemory.fromJSON(snap.regions));
    const cap = new PucCapture(layout);
    cap.capture(bounded, snap.L, snap.G);
    expect(bounded.reads).toBeLessThan(40);
  });
});
