/**
 * PrefetchMemory: a pause copies what the previous walk read, and the walk then runs on that copy
 * after the thread is let go. The copy must be what the walk sees even though the target has since
 * rewritten its memory, and a read outside the copy must fail (never a live, possibly torn read).
 */
import { readSnapshot } from './helpers/snapshots.js';
import { describe, expect, it } from 'vitest';
import { CHAINED, LATE, SnapshotMemory } from '../sampler/os/memory.js';
import { PrefetchMemory, type RemoteMemory } from '../sampler/os/remote-memory.js';
import { layoutFor } from '../sampler/lua/puc/layouts.js';
import { PucCapture } from '../sampler/lua/puc/capture.js';
import { CHAIN_ENTRY_BYTES, ENTRY_LENGTH_SHIFT, chainEntrySpan } from '../sampler/os/call-chain.js';

const snap = readSnapshot('lua544-oracle.json');
const layout = layoutFor(snap.version)!;

/** A target whose memory the test can scribble over, counting the system calls a real one would make. */
class LiveTarget {
  calls = 0;
  mem = SnapshotMemory.fromJSON(snap.regions);
  read(addr: number, len: number): Buffer | null {
    this.calls++;
    const b = this.mem.read(addr, len);
    return b && Buffer.from(b);
  }
  readMany(ranges: readonly { addr: number; len: number }[]): (Buffer | null)[] {
    this.calls++;
    return ranges.map((r) => {
      const b = this.mem.read(r.addr, r.len);
      return b && Buffer.from(b);
    });
  }
  /** process_vm_readv: copies the iovecs' ranges in order, stopping at the first unreadable one. */
  destination(len: number): { bytes: Buffer; addr: number } {
    return { bytes: Buffer.alloc(len), addr: 0 };
  }
  readPrepared(dest: { bytes: Buffer }, len: number, iov: Buffer, count: number): number {
    this.calls++;
    let off = 0;
    for (let i = 0; i < count && off < len; i++) {
      const addr = Number(iov.readBigUInt64LE(i * 16));
      const n = Number(iov.readBigUInt64LE(i * 16 + 8));
      const b = this.mem.read(addr, n);
      if (!b) break;
      b.copy(dest.bytes, off);
      off += n;
    }
    return off;
  }
  /** The target runs on: every byte changes. */
  scribble(): void {
    this.mem = SnapshotMemory.fromJSON(
      snap.regions.map((r) => ({ addr: r.addr, hex: 'a5'.repeat(r.hex.length / 2) })),
    );
  }
}

/** The ranges the plan the next copies take holds, in copy order. */
function plannedRanges(pm: PrefetchMemory): { addr: number; len: number }[] {
  const plan = pm.exportPlan();
  return Array.from({ length: plan.count }, (_, i) => ({
    addr: Number(plan.iov.readBigUInt64LE(i * 16)),
    len: Number(plan.iov.readBigUInt64LE(i * 16 + 8)),
  }));
}

function frameCis(pm: PrefetchMemory): number[] {
  const raw = new PucCapture(layout).capture(pm, snap.L, snap.G);
  return raw.threads.flatMap((t) => t.frames.map((f) => f.ci));
}

/** A planned copy taken and the thread let go; lastByte: 8 readable bytes no walk has read yet. */
function detachedWithUnplannedByte(): { live: LiveTarget; pm: PrefetchMemory; lastByte: number } {
  const live = new LiveTarget();
  const pm = new PrefetchMemory(live as unknown as RemoteMemory);
  pm.begin();
  frameCis(pm);
  pm.end();
  pm.begin();
  pm.detached();
  const outside = snap.regions[snap.regions.length - 1];
  return { live, pm, lastByte: outside.addr + outside.hex.length / 2 - 8 };
}

describe('PrefetchMemory', () => {
  it('a walk after the detach reads the pause copy, not the running target', () => {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory);
    expect(pm.planned).toBe(false);
    pm.begin();
    const first = frameCis(pm); // inside the first pause: plans the next copy
    pm.end();
    expect(first.length).toBeGreaterThan(3);
    expect(pm.planned).toBe(true);

    live.calls = 0;
    // The pause: one batched read, and two more (span by span, then read by read) because merged spans
    // bridge bytes this snapshot lacks (in a live process, heap gaps under 512 bytes are mapped).
    pm.begin();
    expect(live.calls).toBe(3);
    live.scribble();
    pm.detached();
    expect(frameCis(pm)).toEqual(first);
    expect(pm.missedWhileStrict).toBe(false);
    expect(live.calls).toBe(3);
    pm.end();
  });

  it('after the detach a read outside the copy fails and is remembered for the next plan', () => {
    const { pm, lastByte } = detachedWithUnplannedByte();
    const unplanned = pm.read(lastByte, 8);
    expect(unplanned).toBeNull();
    expect(pm.missedWhileStrict).toBe(true);
    pm.end();
    // The next pause copies it.
    pm.begin();
    pm.detached();
    expect(pm.read(lastByte, 8)).not.toBeNull();
    expect(pm.missedWhileStrict).toBe(false);
    pm.end();
  });

  it('after the detach a stable read outside the copy is served by the thread, and planned for the next copy', () => {
    const { live, pm, lastByte } = detachedWithUnplannedByte();
    const want = live.mem.read(lastByte, 8);
    expect(pm.readStable(lastByte, 8)).toEqual(want);
    expect(pm.missedWhileStrict).toBe(false);
    expect(pm.read(lastByte, 8)).toBeNull();
    expect(pm.missedWhileStrict).toBe(true);
    pm.end();
    // The next copy holds it: a plain read after the detach finds it there.
    pm.begin();
    pm.detached();
    expect(pm.read(lastByte, 8)).toEqual(want);
    pm.end();
  });

  it('a pause whose spans are all readable is one system call, and a copy handed out is never overwritten', () => {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0); // no bridged gaps: every span readable
    const stack = { addr: snap.regions[0].addr, len: 64 };
    pm.begin(stack);
    const first = frameCis(pm);
    pm.end();
    live.calls = 0;
    const kept = pm.begin(stack)!;
    expect(live.calls).toBe(1);
    const before = Buffer.from(kept);
    pm.detached();
    expect(frameCis(pm)).toEqual(first);
    pm.end();
    live.scribble();
    const next = pm.begin(stack)!;
    expect(next.equals(before)).toBe(false);
    expect(kept.equals(before)).toBe(true);
    pm.end();
  });

  it('a copy takes late reads last: stack slots, call records, then thread headers in the order first read', () => {
    const live = new LiveTarget();
    const order: number[] = [];
    const copy = live.readPrepared.bind(live);
    live.readPrepared = (dest, len, iov, count) => {
      for (let i = 0; i < count; i++) order.push(Number(iov.readBigUInt64LE(i * 16)));
      return copy(dest, len, iov, count);
    };
    const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0);
    const [a, b, c, d, e] = snap.regions
      .map((r) => r.addr)
      .sort((x, y) => x - y)
      .slice(0, 5);
    // The walk's first read is a header; readLate marks the others (a coroutine's header after its resumer's).
    pm.begin();
    pm.read(c, 8);
    pm.readLate(e, 8, LATE.stack);
    pm.read(b, 8);
    pm.readLate(a, 8, LATE.root);
    pm.readLate(d, 8, LATE.callInfo);
    pm.end();
    pm.begin();
    expect(order).toEqual([b, e, d, c, a]);
    pm.end();
  });

  it('a copy another thread took with the exported plan is walked like its own; one of an older plan is refused', () => {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0);
    pm.begin();
    const first = frameCis(pm);
    pm.end();
    const plan = pm.exportPlan();
    expect(plan.count).toBeGreaterThan(0);
    // The copier thread's process_vm_readv of the exported iovecs, into memory of its own.
    const copy = { bytes: Buffer.alloc(plan.bytes) };
    expect(live.readPrepared(copy, plan.bytes, plan.iov, plan.count)).toBe(plan.bytes);
    live.scribble();
    live.calls = 0;
    expect(pm.beginFrom(copy.bytes, plan.version)).toBe(true);
    pm.detached();
    expect(frameCis(pm)).toEqual(first);
    expect(pm.missedWhileStrict).toBe(false);
    expect(live.calls).toBe(0);
    pm.end();
    expect(pm.beginFrom(copy.bytes, plan.version - 1)).toBe(false);
    expect(pm.beginFrom(copy.bytes.subarray(1), plan.version)).toBe(false);
  });

  it('a copy taken with one of the last few plans is still walked with that plan; older ones are refused', () => {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0, undefined, 64);
    pm.begin();
    const first = frameCis(pm);
    pm.end();
    const plan = pm.exportPlan();
    const copy = { bytes: Buffer.alloc(plan.bytes) };
    live.readPrepared(copy, plan.bytes, plan.iov, plan.count);
    // New plans after it: each walk reads one more byte that no plan held yet.
    const spare = snap.regions.flatMap((r) => [r.addr, r.addr + r.hex.length / 2 - 1]);
    let next = 0;
    const replan = () => {
      const was = pm.planVersion;
      while (pm.planVersion === was && next < spare.length) {
        pm.begin();
        pm.read(spare[next++], 1);
        pm.end();
      }
    };
    for (let k = 0; k < 3; k++) replan();
    expect(pm.planVersion).toBe(plan.version + 3);
    live.scribble();
    expect(pm.beginFrom(copy.bytes, plan.version)).toBe(true);
    pm.detached();
    expect(frameCis(pm)).toEqual(first);
    expect(pm.missedWhileStrict).toBe(false);
    pm.discard();
    replan();
    expect(pm.beginFrom(copy.bytes, plan.version)).toBe(false);
  });

  it('a plan made by walks without the chain drops its records once copies come with it', () => {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0);
    const chained = () => new PucCapture(layout, undefined, undefined, snap.L).capture(pm, snap.L, snap.G);
    // Sampled the usual way first (the tick copier still loading): the plan holds the records.
    pm.begin();
    const cis = chained().threads[0].frames.map((f) => f.ci);
    pm.end();
    const inPlan = (a: number) => plannedRanges(pm).some((r) => a >= r.addr && a < r.addr + r.len);
    expect(cis.filter(inPlan)).toEqual(cis);
    const before = pm.planVersion;
    // The copies now follow the chain: no walk need miss for the plan to leave its records.
    pm.leaveChained = true;
    expect(pm.planVersion).toBe(before + 1);
    expect(cis.filter(inPlan)).toEqual([]);
    expect(plannedRanges(pm).length).toBeGreaterThan(0);
    // The walks on that plan read every record from the chain (or the thread), and replan nothing.
    pm.begin();
    chained();
    pm.end();
    expect(pm.planVersion).toBe(before + 1);
  });

  it("a copy's call chain serves the reads of the main thread's call records, which plans then leave out", () => {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0);
    const chained = () => new PucCapture(layout, undefined, undefined, snap.L).capture(pm, snap.L, snap.G);
    pm.leaveChained = true;
    pm.begin();
    const first = chained();
    pm.end();
    const cis = first.threads[0].frames.map((f) => f.ci);
    expect(cis.length).toBeGreaterThan(3);
    const plan = pm.exportPlan();
    const planned = plannedRanges(pm);
    const inPlan = (a: number) => planned.some((r) => a >= r.addr && a < r.addr + r.len);
    expect(cis.filter(inPlan)).toEqual([]);
    // The kernel's copy: the plan's spans, and the chain as the tick program lays it out.
    const copy = { bytes: Buffer.alloc(plan.bytes) };
    live.readPrepared(copy, plan.bytes, plan.iov, plan.count);
    const size = layout.callinfo.size;
    const chain = Buffer.alloc(cis.length * CHAIN_ENTRY_BYTES);
    cis.forEach((ci, j) => {
      chain.writeBigUInt64LE(BigInt(ci), j * CHAIN_ENTRY_BYTES);
      live.mem.read(ci, size)!.copy(chain, j * CHAIN_ENTRY_BYTES + 8);
    });
    const chainOf = {
      head: snap.L + layout.state.ci,
      stop: snap.L + layout.state.base_ci,
      recordBytes: size,
      nextAt: layout.callinfo.previous!,
    };
    live.scribble();
    live.calls = 0;
    expect(pm.beginFrom(copy.bytes, plan.version, chain, chainOf)).toBe(true);
    pm.detached();
    const again = chained();
    expect(again.threads.map((t) => t.frames.map((f) => [f.ci, f.funcValue, f.savedpc]))).toEqual(
      first.threads.map((t) => t.frames.map((f) => [f.ci, f.funcValue, f.savedpc])),
    );
    expect(pm.missedWhileStrict).toBe(false);
    expect(live.calls).toBe(0);
    pm.end();
    // Entries out of the list's order (read in its order at once until one is not the next): the
    // rest are found by address, the same frames.
    const swapped = Buffer.from(chain);
    chain.copy(swapped, CHAIN_ENTRY_BYTES, 2 * CHAIN_ENTRY_BYTES, 3 * CHAIN_ENTRY_BYTES);
    chain.copy(swapped, 2 * CHAIN_ENTRY_BYTES, CHAIN_ENTRY_BYTES, 2 * CHAIN_ENTRY_BYTES);
    expect(pm.beginFrom(copy.bytes, plan.version, swapped, chainOf)).toBe(true);
    pm.detached();
    expect(chained().threads.map((t) => t.frames.map((f) => [f.ci, f.funcValue, f.savedpc]))).toEqual(
      first.threads.map((t) => t.frames.map((f) => [f.ci, f.funcValue, f.savedpc])),
    );
    expect(pm.missedWhileStrict).toBe(false);
    expect(live.calls).toBe(0);
    pm.end();
    // Without the chain the copy lacks the records.
    expect(pm.beginFrom(copy.bytes, plan.version)).toBe(true);
    pm.detached();
    expect(() => chained()).toThrow(/unreadable CallInfo/);
    expect(pm.missedWhileStrict).toBe(true);
    pm.discard();
  });

  it("a copy's entries of a hosted coroutine serve its state, records and slots, read through the host's stack word", () => {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0);
    const expected = new PucCapture(layout).capture(live.mem, snap.L, snap.G);
    const cis = expected.threads[0].frames.map((f) => f.ci);
    expect(cis.length).toBeGreaterThan(3);
    // A plan of one span (beginFrom serves copies taken with a plan).
    const [someAddr] = snap.regions.map((r) => r.addr);
    pm.begin();
    pm.read(someAddr, 8);
    pm.end();
    const plan = pm.exportPlan();
    const copy = { bytes: Buffer.alloc(plan.bytes) };
    live.readPrepared(copy, plan.bytes, plan.iov, plan.count);
    // The tick program's entries: the stack word, the state (two entries long), then each record and its slots.
    const { state, callinfo } = layout;
    const slotBytes = 2 * layout.tvalue.size;
    const word = 0x7ffd_0000_1000;
    const entries: { addr: number; bytes: Buffer; tagged: boolean }[] = [
      { addr: word, bytes: Buffer.from(new BigUint64Array([BigInt(snap.L)]).buffer), tagged: true },
      { addr: snap.L, bytes: live.mem.read(snap.L, state.size)!, tagged: true },
    ];
    for (const ci of cis) {
      const rec = live.mem.read(ci, callinfo.size)!;
      entries.push({ addr: ci, bytes: rec, tagged: false });
      const func = Number(rec.readBigUInt64LE(callinfo.func));
      entries.push({ addr: func, bytes: live.mem.read(func, slotBytes)!, tagged: true });
    }
    const chain = Buffer.alloc(entries.length * 2 * CHAIN_ENTRY_BYTES);
    let at = 0;
    for (const e of entries) {
      const tag = e.tagged ? BigInt(e.bytes.length) << BigInt(ENTRY_LENGTH_SHIFT) : 0n;
      chain.writeBigUInt64LE(BigInt(e.addr) | tag, at);
      e.bytes.copy(chain, at + 8);
      at += chainEntrySpan(e.bytes.length);
    }
    const chainOf = { head: 0, stop: 0, recordBytes: callinfo.size, nextAt: callinfo.previous! };
    live.scribble();
    live.calls = 0;
    expect(pm.beginFrom(copy.bytes, plan.version, chain.subarray(0, at), chainOf)).toBe(true);
    pm.detached();
    const held = pm.readLate(word, 8, LATE.root | CHAINED);
    expect(held && Number(held.readBigUInt64LE(0))).toBe(snap.L);
    const got = new PucCapture(layout).capture(pm, snap.L, snap.G, true);
    const shape = (r: typeof got) =>
      r.threads[0].frames.map((f) => [f.ci, f.funcTag, f.funcValue, f.savedpc]);
    expect(shape(got)).toEqual(shape(expected));
    expect(pm.missedWhileStrict).toBe(false);
    expect(live.calls).toBe(0);
    // Only reads that say they may be in the chain look there: the state read as a plain read is not.
    expect(pm.readLate(snap.L, state.size, LATE.root)).toBeNull();
    expect(pm.missedWhileStrict).toBe(true);
    pm.discard();
  });

  it('objects that do not change are read from the copy; those it lacks in one read, and planned only now and then', () => {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0);
    const [a, b, c] = snap.regions.map((r) => r.addr).sort((x, y) => x - y);
    pm.begin();
    pm.read(a, 8);
    pm.end();
    const version = pm.planVersion;
    // b and c are not in the copy: read from the target, both in one call.
    pm.begin();
    pm.detached();
    live.calls = 0;
    const got = pm.readManyStable([
      { addr: a, len: 8 },
      { addr: b, len: 8 },
      { addr: c, len: 8 },
    ]);
    expect(got.every((x) => x !== null)).toBe(true);
    expect(live.calls).toBe(1);
    expect(pm.missedWhileStrict).toBe(false);
    pm.end();
    // A stable read the copy lacked makes a new plan once in a while, not after every walk.
    const versions = [pm.planVersion];
    for (let i = 0; i < 20; i++) {
      pm.begin();
      pm.detached();
      pm.readManyStable([{ addr: b + 8 + i * 16, len: 8 }]);
      pm.end();
      versions.push(pm.planVersion);
    }
    const plansMade = versions[versions.length - 1] - version;
    expect(plansMade).toBeGreaterThanOrEqual(1);
    expect(plansMade).toBeLessThanOrEqual(2);
  });
  /** A PrefetchMemory whose plan holds the snapshot's last region, and a test of whether it still does. */
  function planningFreed(): {
    live: LiveTarget;
    pm: PrefetchMemory;
    frames: number[];
    freed: (typeof snap.regions)[number];
    holds: () => boolean;
  } {
    const live = new LiveTarget();
    const pm = new PrefetchMemory(live as unknown as RemoteMemory);
    const freed = snap.regions[snap.regions.length - 1];
    pm.begin();
    const frames = frameCis(pm);
    pm.read(freed.addr, 8);
    pm.end();
    const holds = () => plannedRanges(pm).some((r) => r.addr <= freed.addr && freed.addr < r.addr + r.len);
    return { live, pm, frames, freed, holds };
  }

  it('a planned range the target has since freed is taken out of the plan after one copy', () => {
    const { live, pm, frames, holds } = planningFreed();
    expect(holds()).toBe(true);
    // Freed (a stack moved elsewhere): every copy with it in the plan would stop short there.
    live.mem = SnapshotMemory.fromJSON(snap.regions.slice(0, -1));
    pm.begin();
    pm.detached();
    expect(frameCis(pm)).toEqual(frames);
    pm.end();
    expect(holds()).toBe(false);
    pm.begin();
    pm.detached();
    expect(frameCis(pm)).toEqual(frames);
    expect(pm.missedWhileStrict).toBe(false);
    pm.end();
  });

  it('a copy another thread took that came short (a planned range freed) has that range taken out of the plan', () => {
    const { live, pm, holds } = planningFreed();
    expect(holds()).toBe(true);
    const plan = pm.exportPlan();
    live.mem = SnapshotMemory.fromJSON(snap.regions.slice(0, -1));
    const copy = { bytes: Buffer.alloc(plan.bytes) };
    const got = live.readPrepared(copy, plan.bytes, plan.iov, plan.count);
    expect(got).toBeLessThan(plan.bytes);
    expect(pm.beginFrom(copy.bytes.subarray(0, got), plan.version)).toBe(false);
    expect(holds()).toBe(false);
  });

  for (const [what, bound] of [
    ['more spans', { spans: 8, pieceBytes: 64, bytes: 1 << 20 }],
    ['more bytes', { spans: 1000, pieceBytes: 1 << 20, bytes: 8 * 16 + 8 }],
  ] as const) {
    it(`a plan of ${what} than a copier's copy takes keeps the newest walks that fit`, () => {
      const live = new LiveTarget();
      const pm = new PrefetchMemory(live as unknown as RemoteMemory, 0, undefined, 64, 1, bound);
      // Each walk reads a header it shares with the others and a record of its own, far from the rest.
      const region = snap.regions.reduce((a, b) => (b.hex.length > a.hex.length ? b : a));
      const records = Math.min(40, Math.floor(region.hex.length / 2 / 64));
      expect(records).toBeGreaterThan(16);
      for (let k = 0; k < records; k++) {
        pm.begin();
        pm.read(snap.regions[0].addr, 8);
        pm.read(region.addr + k * 64, 16);
        pm.end();
        const planned = plannedRanges(pm);
        expect(planned.reduce((n, r) => n + Math.ceil(r.len / bound.pieceBytes), 0)).toBeLessThanOrEqual(
          bound.spans,
        );
        expect(planned.reduce((n, r) => n + r.len, 0)).toBeLessThanOrEqual(bound.bytes);
        // The newest walk is always planned.
        const newest = region.addr + k * 64;
        expect(planned.some((r) => r.addr <= newest && newest < r.addr + r.len)).toBe(true);
      }
    });
  }
});
