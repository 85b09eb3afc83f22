import { describe, expect, it } from 'vitest';
import { CHAIN_ENTRY_BYTES } from '../sampler/os/call-chain.js';
import type { RawFrame } from '../sampler/lua/puc/capture.js';
import { CopiedRecords } from '../sampler/lua/puc/copied-records.js';

const RECORD = 64;
const L = 0x5555_0000_1000;
const STACK = 0x5555_0010_0000;

/** A copy's chain entries, innermost first: each its address, then RECORD bytes (a fill byte), then padding. */
function entries(records: { addr: number; fill: number; padding?: number }[]): Buffer {
  const b = Buffer.alloc(records.length * CHAIN_ENTRY_BYTES);
  records.forEach((r, i) => {
    const at = i * CHAIN_ENTRY_BYTES;
    b.writeBigUInt64LE(BigInt(r.addr), at);
    b.fill(r.fill, at + 8, at + 8 + RECORD);
    b.fill(r.padding ?? 0, at + 8 + RECORD, at + CHAIN_ENTRY_BYTES);
  });
  return b;
}

const frames = (n: number) => Array.from({ length: n }, (_, i) => ({ ci: i }) as unknown as RawFrame);
const chain = (fills: number[], padding = 0) =>
  entries(fills.map((fill, i) => ({ addr: 0x7000_0000 + 0x100 * (fills.length - i), fill, padding })));

describe('CopiedRecords', () => {
  it('counts the outermost records two copies share, at most as many as asked', () => {
    const r = new CopiedRecords();
    const first = chain([9, 3, 2, 1]);
    r.hold(L, STACK, first, 4, 0, frames(4));
    expect(r.holds(L, STACK)).toBe(true);
    // The same outer three, a new innermost one.
    expect(r.sameOutermost(chain([8, 3, 2, 1]), 4, RECORD, 3)).toBe(3);
    expect(r.sameOutermost(chain([8, 3, 2, 1]), 4, RECORD, 2)).toBe(2);
    // One call deeper: the outer records sit one entry further in.
    expect(r.sameOutermost(chain([7, 8, 3, 2, 1]), 5, RECORD, 4)).toBe(3);
    // The second outermost changed: only the outermost is shared.
    expect(r.sameOutermost(chain([8, 3, 5, 1]), 4, RECORD, 3)).toBe(1);
    expect(r.sameOutermost(chain([8, 3, 2, 4]), 4, RECORD, 3)).toBe(0);
  });

  it('compares record bytes only when the bytes past them differ', () => {
    const r = new CopiedRecords();
    r.hold(L, STACK, chain([9, 3, 2, 1], 0xaa), 4, 0, frames(4));
    expect(r.sameOutermost(chain([8, 3, 2, 1], 0x55), 4, RECORD, 3)).toBe(3);
    expect(r.sameOutermost(chain([8, 3, 6, 1], 0x55), 4, RECORD, 3)).toBe(1);
  });

  it('tells records at other addresses apart, however alike their bytes', () => {
    const r = new CopiedRecords();
    r.hold(L, STACK, chain([9, 3, 2, 1]), 4, 0, frames(4));
    const moved = entries([
      { addr: 0x7000_0400, fill: 8 },
      { addr: 0x7000_0300, fill: 3 },
      { addr: 0x7100_0200, fill: 2 },
      { addr: 0x7000_0100, fill: 1 },
    ]);
    expect(r.sameOutermost(moved, 4, RECORD, 3)).toBe(1);
  });

  it('writes only the records inside those unchanged, and the rest stands', () => {
    const r = new CopiedRecords();
    r.hold(L, STACK, chain([9, 3, 2, 1]), 4, 0, frames(4));
    const next = chain([8, 3, 2, 1]);
    r.hold(L, STACK, next, 4, 3, frames(4));
    expect(r.sameOutermost(chain([8, 3, 2, 1]), 4, RECORD, 3)).toBe(3);
    // Two calls deeper, the outer four held: the new inner ones are written, the outer ones stay.
    r.hold(L, STACK, chain([5, 6, 8, 3, 2, 1]), 6, 3, frames(6));
    expect(r.sameOutermost(chain([4, 6, 8, 3, 2, 1]), 6, RECORD, 5)).toBe(5);
  });

  it('holds nothing for another thread, another stack, or once dropped; nothing past what it holds', () => {
    const r = new CopiedRecords();
    expect(r.holds(L, STACK)).toBe(false);
    r.hold(L, STACK, chain([9, 3]), 2, 0, frames(2));
    expect(r.holds(L + 0x1000, STACK)).toBe(false);
    expect(r.holds(L, STACK + 0x100)).toBe(false);
    expect(r.sameOutermost(chain([9, 3, 2, 1]), 4, RECORD, 3)).toBe(0);
    r.drop();
    expect(r.holds(L, STACK)).toBe(false);
  });
});
