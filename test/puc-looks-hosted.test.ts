/**
 * Which copies make a thread worth stopping to search its native stack for states and coroutines
 * (PucDiscovery.looksHosted): no Lua frame at all, or a C function on top, which may resume a
 * coroutine from C. Lua 5.1 tags Lua and C closures alike, so there the closure's own flag decides;
 * reading the tag alone took every 5.1 sample for host-driven and stopped the thread at every chance.
 */
import { describe, expect, it } from 'vitest';
import type { RawFrame } from '../sampler/lua/puc/capture.js';
import { PucDiscovery } from '../sampler/lua/puc/discovery.js';
import type { PucLayout } from '../sampler/lua/puc/layout.js';
import { layoutFor } from '../sampler/lua/puc/layouts.js';
import type { Memory } from '../sampler/os/memory.js';

/** looksHosted reads nothing from the target: a memory that would fail any read. */
const noMemory = {
  read: () => {
    throw new Error('looksHosted read the target');
  },
} as unknown as Memory;

/** A frame running a function of tag `tag`, with the closure bytes given (null: not read). */
function frame(tag: number, closure: Buffer | null): RawFrame {
  return {
    ci: 0x7000_0000,
    func: 0x5000_0000,
    callstatus: 0,
    savedpc: 0x6000_0004,
    funcTag: tag,
    funcValue: 0x5555_0000,
    closure,
    protoAddr: 0,
    proto: null,
    arg1Tag: 0,
    arg1Value: 0,
  };
}

/** A copy of one thread whose frames are `frames`, innermost first. */
function copyOf(frames: RawFrame[]) {
  return { stack: { G: 0x1000, threads: [{ L: 0x2000, frames, truncated: false, cut: 0 }] }, gc: false };
}

/** A closure's bytes with its isC byte set as given (5.1's ClosureHeader). */
function closureBytes(layout: PucLayout, isC: boolean): Buffer {
  const b = Buffer.alloc(layout.closure.isC! + 8);
  b[layout.closure.isC!] = isC ? 1 : 0;
  return b;
}

describe('a copy that looks driven by a host', () => {
  it('lua5.1: a Lua closure on top does not; a C closure, one not read, or no frame does', () => {
    const l51 = layoutFor('5.1.5')!;
    expect(l51.tags.luaClosure).toBe(l51.tags.cClosure); // the case the flag is for
    const d = new PucDiscovery(noMemory, l51, '5.1.5');
    const fn = l51.tags.luaClosure;
    const lua = frame(fn, closureBytes(l51, false));
    expect(d.looksHosted(copyOf([lua, frame(fn, closureBytes(l51, false))]))).toBe(false);
    expect(d.looksHosted(copyOf([frame(fn, closureBytes(l51, true)), lua]))).toBe(true);
    expect(d.looksHosted(copyOf([frame(fn, null), lua]))).toBe(true);
    expect(d.looksHosted(copyOf([]))).toBe(true);
  });

  it.each(['5.2.4', '5.3.6', '5.4.4'])('lua%s: decided by the tag', (release) => {
    const layout = layoutFor(release)!;
    const d = new PucDiscovery(noMemory, layout, release);
    const { luaClosure, cClosure, lightC } = layout.tags;
    expect(d.looksHosted(copyOf([frame(luaClosure, null)]))).toBe(false);
    expect(d.looksHosted(copyOf([frame(cClosure, Buffer.alloc(32)), frame(luaClosure, null)]))).toBe(true);
    expect(d.looksHosted(copyOf([frame(cClosure, null)]))).toBe(true);
    expect(d.looksHosted(copyOf([frame(lightC, null), frame(luaClosure, null)]))).toBe(true);
    expect(d.looksHosted(copyOf([]))).toBe(true);
  });
});
