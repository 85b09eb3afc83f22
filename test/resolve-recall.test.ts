/**
 * The resolver remembers each thread's frames and recalls those that did not change (PucResolver.recall):
 * what it gives must be what a resolver that remembers nothing gives, whatever changed in between. The
 * same with a capture that hands the unchanged frames back as the remembered objects (PriorFrames).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { readSnapshot } from './helpers/snapshots.js';
import { SnapshotMemory, type Memory } from '../sampler/os/memory.js';
import { tracebackLine } from '../sampler/lua/frames.js';
import { layoutFor } from '../sampler/lua/puc/layouts.js';
import { PucCapture } from '../sampler/lua/puc/capture.js';
import { PucResolver } from '../sampler/lua/puc/resolve.js';

const snap = readSnapshot('lua544-oracle.json');
const layout = layoutFor(snap.version)!;
const base = SnapshotMemory.fromJSON(snap.regions);

/** The snapshot with some u64 words replaced. */
class Patched implements Memory {
  constructor(private readonly words: Map<number, number>) {}
  read(addr: number, len: number): Buffer | null {
    const b = base.read(addr, len);
    if (!b) return null;
    const out = Buffer.from(b);
    for (const [at, v] of this.words)
      if (at >= addr && at + 8 <= addr + len) out.writeBigUInt64LE(BigInt(v), at - addr);
    return out;
  }
}

/** Whether the capture knows the resolver's frames (as PucRuntime's does). */
let capturePrior = false;

function resolveWith(resolver: PucResolver, mem: Memory): { lines: string[]; recalled: number } {
  const cap = new PucCapture(layout, undefined, capturePrior ? (L) => resolver.rememberedOf(L) : undefined);
  const raw = cap.capture(mem, snap.L, snap.G);
  const recalled = resolver.recall(raw);
  cap.fill(mem, raw);
  return { lines: resolver.resolve(raw).frames.map(tracebackLine), recalled };
}

const fresh = (mem: Memory) => resolveWith(new PucResolver(mem, layout, snap.G, () => 0), mem).lines;

for (const prior of [false, true])
  describe(`frames recalled from the last resolve${prior ? ', the capture handing back the remembered objects' : ''}`, () => {
    beforeEach(() => {
      capturePrior = prior;
    });

    it('recalls every frame but the innermost of a thread that did not change, and names them the same', () => {
      const resolver = new PucResolver(base, layout, snap.G, () => 0);
      const first = resolveWith(resolver, base);
      const again = resolveWith(resolver, base);
      expect(first.recalled).toBe(0);
      expect(again.recalled).toBe(first.lines.length - 1);
      expect(again.lines).toEqual(first.lines);
      expect(again.lines).toEqual(snap.dumped);
    });

    it('gives what a fresh resolver gives after any frame moved to another instruction, and back', () => {
      const raw = new PucCapture(layout).capture(base, snap.L, snap.G);
      const frames = raw.threads[0].frames;
      expect(frames.length).toBeGreaterThan(3);
      let changed = 0;
      for (let i = 0; i < frames.length; i++) {
        if (frames[i].savedpc === 0) continue; // a C function's
        for (const delta of [-8, -4, 4, 8]) {
          const at = frames[i].ci + layout.callinfo.savedpc;
          const moved = new Patched(new Map([[at, frames[i].savedpc + delta]]));
          const resolver = new PucResolver(base, layout, snap.G, () => 0);
          resolveWith(resolver, base);
          const after = resolveWith(resolver, moved);
          expect(after.lines).toEqual(fresh(moved));
          expect(after.recalled).toBeLessThanOrEqual(frames.length - 1 - i);
          if (after.lines.join('\n') !== snap.dumped.join('\n')) changed++;
          expect(resolveWith(resolver, base).lines).toEqual(snap.dumped);
        }
      }
      // The moves did change what some frames resolve to (else this test shows nothing).
      expect(changed).toBeGreaterThan(0);
    });

    it.runIf(prior)(
      'hands the unchanged frames back as the objects remembered, all but the innermost',
      () => {
        const resolver = new PucResolver(base, layout, snap.G, () => 0);
        resolveWith(resolver, base);
        const cap = new PucCapture(layout, undefined, (L) => resolver.rememberedOf(L));
        const frames = cap.capture(base, snap.L, snap.G).threads[0].frames;
        const remembered = resolver.rememberedOf(snap.L)!;
        expect(remembered.length).toBe(frames.length - 1);
        remembered.forEach((m, k) => expect(frames[frames.length - 1 - k]).toBe(m.raw));
        expect(remembered.some((m) => m.raw === frames[0])).toBe(false);
      },
    );

    it('reads the function again when another one stands in a frame slot', () => {
      const raw = new PucCapture(layout).capture(base, snap.L, snap.G);
      const frames = raw.threads[0].frames;
      const resolver = new PucResolver(base, layout, snap.G, () => 0);
      resolveWith(resolver, base);
      // The outermost frame's function in the next frame's slot: recalled no more from there in.
      const outer = frames[frames.length - 1];
      const other = frames[frames.length - 2];
      const swapped = new Patched(new Map([[outer.func, other.funcValue]]));
      const after = resolveWith(resolver, swapped);
      expect(after.recalled).toBe(0);
      expect(after.lines).toEqual(fresh(swapped));
    });
  });
