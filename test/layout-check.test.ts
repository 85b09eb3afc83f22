/**
 * The layout check at attach (sampler/lua/puc/layout-check.ts) on memory recorded from each real
 * interpreter of the matrix (scripts/record-snapshots.mjs records what the check reads): every
 * snapshot passes with its own release's layout, fails with the layout of a release whose structures
 * differ (5.3 read as 5.4 and back, 5.4.4 read as 5.4.0, 5.4.2 read as 5.4.0, …), fails on each
 * corrupted invariant with that invariant named, and survives hostile bytes.
 */
import { describe, expect, it } from 'vitest';
import { LuaprofError } from '../sampler/errors.js';
import { checkLayout } from '../sampler/lua/puc/layout-check.js';
import { guardLayout } from '../sampler/lua/puc/layout-guard.js';
import type { PucLayout } from '../sampler/lua/puc/layout.js';
import { chooseLayout, layoutFor, PUC_LAYOUTS } from '../sampler/lua/puc/layouts.js';
import { SnapshotMemory, u64, type Memory } from '../sampler/os/memory.js';
import { BoundedMemory, rng } from './helpers/fuzz.js';
import { readSnapshots, type WalkerSnapshot } from './helpers/snapshots.js';

const SNAPS = readSnapshots(/^puc-.*\.json$/);
const memOf = (snap: WalkerSnapshot) => SnapshotMemory.fromJSON(snap.regions);
const check = (snap: WalkerSnapshot, layout: PucLayout, mem: Memory = memOf(snap)) =>
  checkLayout(mem, layout, snap.L, snap.G);
const snapOf = (version: string) => SNAPS.find((s) => s.version === version)!;
const layout = (version: string) => layoutFor(version)!;

/** The fields the check reads: two layouts that agree on all of them cannot be told apart by it. */
function checkedFields(l: PucLayout): string {
  const s = l.state;
  return JSON.stringify([
    [s.tt, s.top, s.l_G, s.ci, s.stack, s.stack_last, s.base_ci, s.size, s.end_ci, s.baseCiIsPointer],
    [l.global.l_registry, l.global.mainthread, l.global.strt, l.global.seed],
    l.stringtable,
    l.registry,
    [l.callinfo.size, l.callinfo.func, l.callinfo.top, l.callinfo.previous],
    l.tvalue,
    [l.tags.thread, l.tags.table, l.tags.shortString],
    [l.table.array, l.table.alimit, l.table.sizearray],
    [l.tstring.contents, l.tstring.shrlen, l.tstring.len, l.tstring.hash, l.tstring.hnext],
    l.stringHash,
  ]);
}

it('a snapshot of every verified PUC runtime is present', () => {
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

describe('layouts of other releases', () => {
  it('fail where the structures differ: 5.4.4 and 5.4.2 read as 5.4.0, 5.3 as 5.4, 5.4 as 5.3, 5.2 as 5.1', () => {
    for (const [snap, as] of [
      ['5.4.4', '5.4.0'],
      ['5.4.2', '5.4.0'],
      ['5.4.4', '5.4.1'],
      ['5.4.9', '5.4.0'],
      ['5.4.2', '5.4.4'],
      ['5.3.6', '5.4.4'],
      ['5.3.6', '5.4.0'],
      ['5.4.4', '5.3.6'],
      ['5.2.4', '5.3.6'],
      ['5.2.4', '5.1.5'],
      ['5.1.5', '5.2.4'],
    ]) {
      const r = check(snapOf(snap), layout(as));
      expect(r.failed, `${snap} read as ${as}`).not.toBeNull();
      // A wrong offset reads the process's own bytes (the snapshot holds the block around each read).
      expect(r.failed, `${snap} read as ${as}`).not.toMatch(/cannot be read/);
    }
  });

  for (const snap of SNAPS) {
    it(`${snap.runtime}: passes exactly the layouts whose checked fields are its own`, () => {
      const own = checkedFields(layout(snap.version));
      for (const l of PUC_LAYOUTS) {
        const r = check(snap, l);
        const same = checkedFields(l) === own;
        expect(r.failed === null, `${snap.version} read as ${l.releases[0]}: ${r.failed}`).toBe(same);
        if (same) expect(r.held).toHaveLength(5);
      }
    });
  }

  it('5.4.3, 5.4.5 and 5.4.6 share the checked fields of 5.4.4 (their derived tables differ in naming and StkIdRel)', () => {
    for (const v of ['5.4.3', '5.4.5', '5.4.6'])
      expect(checkedFields(layout(v))).toBe(checkedFields(layout('5.4.4')));
    expect(checkedFields(layout('5.4.0'))).not.toBe(checkedFields(layout('5.4.4')));
    expect(checkedFields(layout('5.4.1'))).not.toBe(checkedFields(layout('5.4.4')));
  });
});

for (const snap of SNAPS) {
  const own = layout(snap.version);
  describe(`${snap.runtime} (Lua ${snap.version}): corrupted invariants are named`, () => {
    /** The snapshot with changes written into every recorded region that holds the bytes changed. */
    const corrupt = (
      change: (read: Memory['read'], write: (addr: number, bytes: Buffer) => void) => void,
    ) => {
      const regions = snap.regions.map((r) => ({ addr: r.addr, bytes: Buffer.from(r.hex, 'hex') }));
      const pristine = memOf(snap);
      change(
        (addr, len) => pristine.read(addr, len),
        (addr, bytes) => {
          for (const r of regions)
            if (addr >= r.addr && addr + bytes.length <= r.addr + r.bytes.length)
              bytes.copy(r.bytes, addr - r.addr);
        },
      );
      return check(snap, own, new SnapshotMemory(regions)).failed;
    };
    const ptr = (n: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(n));
      return b;
    };

    it('passes as recorded, reading a few KiB', () => {
      const bounded = new BoundedMemory(memOf(snap));
      expect(checkLayout(bounded, own, snap.L, snap.G)).toEqual({ held: expect.any(Array), failed: null });
      expect(bounded.reads).toBeLessThan(200);
      expect(bounded.bytes).toBeLessThan(32 << 10);
    });

    it('G->mainthread elsewhere', () => {
      expect(corrupt((_, write) => write(snap.G + own.global.mainthread, ptr(snap.L + 16)))).toMatch(
        /^the main thread .*G->mainthread is/,
      );
    });

    it('top past stack_last', () => {
      expect(
        corrupt((read, write) => {
          const hdr = read(snap.L, own.state.size)!;
          write(snap.L + own.state.top, ptr(u64(hdr, own.state.stack_last) + 64 * own.tvalue.size));
        }),
      ).toMatch(/^stack <= top <= stack_last: no \(top /);
    });

    it("base_ci's function not in the first stack slot", () => {
      expect(
        corrupt((read, write) => {
          const hdr = read(snap.L, own.state.size)!;
          const base = own.state.baseCiIsPointer ? u64(hdr, own.state.base_ci) : snap.L + own.state.base_ci;
          const rec = read(base, own.callinfo.size)!;
          write(base + own.callinfo.func, ptr(u64(rec, own.callinfo.func) + own.tvalue.size));
        }),
      ).toMatch(/^the CallInfo chain .*base_ci's func/);
    });

    it('the registry without its table tag', () => {
      expect(
        corrupt((_, write) =>
          write(snap.G + own.global.l_registry + own.tvalue.tt, Buffer.from([own.tags.thread])),
        ),
      ).toMatch(/^the registry .*the registry has tag/);
    });

    if (own.registry) {
      it('registry[LUA_RIDX_MAINTHREAD] another thread', () => {
        expect(
          corrupt((read, write) => {
            const tv = read(snap.G + own.global.l_registry, own.tvalue.size)!;
            const t = read(u64(tv, 0), own.table.array + 8)!;
            write(
              u64(t, own.table.array) + (own.registry!.mainthread - 1) * own.tvalue.size,
              ptr(snap.L + 8),
            );
          }),
        ).toMatch(/^the registry .*LUA_RIDX_MAINTHREAD/);
      });
    }

    it('a string table whose size is not a power of two', () => {
      expect(
        corrupt((read, write) => {
          const at = snap.G + own.global.strt + own.stringtable.size;
          const size = Buffer.alloc(4);
          size.writeInt32LE(read(at, 4)!.readInt32LE(0) - 1);
          write(at, size);
        }),
      ).toMatch(/^the string table .*its size is \d+\)/);
    });

    it('a string whose stored hash is not the hash of its bytes', () => {
      expect(
        corrupt((read, write) => {
          const strt = read(snap.G + own.global.strt, own.stringtable.hash + 8)!;
          const buckets = read(u64(strt, own.stringtable.hash), 8 * 64)!;
          const first = [...Array(64).keys()].map((i) => u64(buckets, 8 * i)).find((p) => p !== 0)!;
          const h = Buffer.alloc(4);
          h.writeUInt32LE((read(first + own.tstring.hash, 4)!.readUInt32LE(0) ^ 0x10000) >>> 0);
          write(first + own.tstring.hash, h);
        }),
      ).toMatch(/^the string table .*its bytes hash to/);
    });

    it('survives hostile bytes: only a failed check, bounded reads, quickly', () => {
      const t0 = performance.now();
      for (let seed = 1; seed <= 150; seed++) {
        const r = rng(seed);
        const rate = seed <= 100 ? 0.002 : 0.05;
        const mem = new SnapshotMemory(
          snap.regions.map((reg) => {
            const bytes = Buffer.from(reg.hex, 'hex');
            for (let i = 0; i < bytes.length; i++) if (r() < rate) bytes[i] = Math.floor(r() * 256);
            return { addr: reg.addr, bytes };
          }),
        );
        const bounded = new BoundedMemory(mem, 2000);
        const res = checkLayout(bounded, own, snap.L, snap.G);
        expect(res.failed === null || typeof res.failed === 'string').toBe(true);
      }
      expect(performance.now() - t0).toBeLessThan(5000);
    });
  });
}

describe('choosing a layout', () => {
  it('a known release gets its own; a newer one the newest known; a gap or an older one none', () => {
    expect(chooseLayout('5.4.5')).toMatchObject({ release: '5.4.5', nearest: false, verified: false });
    expect(chooseLayout('5.4.4')).toMatchObject({ release: '5.4.4', nearest: false, verified: true });
    expect(chooseLayout('5.4.10')).toMatchObject({ release: '5.4.9', nearest: true, verified: true });
    expect(chooseLayout('5.5.0')).toMatchObject({ release: '5.4.9', nearest: true });
    expect(chooseLayout('5.3.5')).toBeNull();
    expect(chooseLayout('5.0.3')).toBeNull();
    expect(chooseLayout('5.4')).toBeNull();
  });
});

describe('the guard at attach', () => {
  const snap = snapOf('5.4.4');
  const guard = (version: string, binaryVersion: string | null) =>
    guardLayout({
      pid: 4242,
      mem: memOf(snap),
      choice: chooseLayout(version)!,
      version,
      binaryVersion,
      file: '/usr/bin/lua5.4',
      L: snap.L,
      G: snap.G,
      stopped: (fn) => fn(),
    });

  it('says nothing for a verified release that fits', () => {
    expect(guard('5.4.4', '5.4.4')).toBeNull();
  });

  it('prints one line for a layout no interpreter in the tests ran, or the nearest one', () => {
    expect(guard('5.4.5', null)).toBe(
      'luaprof: layout of Lua 5.4.5 derived from its headers, checked on this process',
    );
    expect(guard('5.4.5', '5.4.4')).toBe(
      'luaprof: layout of Lua 5.4.5 derived from its headers, checked on this process (the binary says Lua 5.4.4; read as Lua 5.4.5)',
    );
  });

  it('refuses (exit 8) naming the invariant that failed', () => {
    let err: unknown;
    try {
      guard('5.4.0', '5.4.4');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LuaprofError);
    expect((err as LuaprofError).exitCode).toBe(8);
    expect((err as LuaprofError).message).toMatch(
      /^process 4242 runs Lua 5\.4\.0 \(\/usr\/bin\/lua5\.4\): the layout of Lua 5\.4\.0 \(derived from its headers\) does not fit it: the main thread is a thread whose l_G is its global_State: no \(G->mainthread is 0x[0-9a-f]+, not the lua_State 0x[0-9a-f]+\)$/,
    );
  });
});

describe('the guard stops the thread for one copy', () => {
  const snap = snapOf('5.4.4');
  /** The snapshot as a live thread: reads inside the stop are counted, and one may be made to fail. */
  function thread(failFirstRunningRead = false) {
    const mem = memOf(snap);
    const t = { stopped: false, readsInStop: 0, batchesInStop: 0, stops: 0, failNext: failFirstRunningRead };
    const live: Memory & { readMany: (r: readonly { addr: number; len: number }[]) => (Buffer | null)[] } = {
      read(addr, len) {
        if (t.stopped) t.readsInStop++;
        else if (t.failNext) {
          t.failNext = false;
          return null;
        }
        return mem.read(addr, len);
      },
      readMany(ranges) {
        if (t.stopped) t.batchesInStop++;
        return ranges.map((r) => mem.read(r.addr, r.len));
      },
    };
    const guard = () =>
      guardLayout({
        pid: 4242,
        mem: live,
        choice: chooseLayout('5.4.4')!,
        version: '5.4.4',
        binaryVersion: '5.4.4',
        file: '/usr/bin/lua5.4',
        L: snap.L,
        G: snap.G,
        stopped: (fn) => {
          t.stops++;
          t.stopped = true;
          try {
            return fn();
          } finally {
            t.stopped = false;
          }
        },
      });
    return { t, guard };
  }

  it('copies what a running pass read in one batch, and checks the copy after the stop', () => {
    const { t, guard } = thread();
    expect(guard()).toBeNull();
    expect(t).toMatchObject({ stops: 1, batchesInStop: 1, readsInStop: 0 });
  });

  it('checks with the thread stopped throughout when the copy lacks what the check reads', () => {
    // The running pass failed its first read: it learned nothing, the copy holds nothing.
    const { t, guard } = thread(true);
    expect(guard()).toBeNull();
    expect(t.stops).toBe(2);
    expect(t.readsInStop).toBeGreaterThan(10);
  });
});
