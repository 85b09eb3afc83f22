import { describe, expect, it } from 'vitest';
import { HostResumed } from '../sampler/lua/host-resumed.js';

function stackOf(addr: number, words: number[]): { addr: number; bytes: Buffer } {
  const bytes = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => bytes.writeBigUInt64LE(BigInt(w), i * 8));
  return { addr, bytes };
}

describe('HostResumed', () => {
  it('remembers coroutines newest first, bounded, a repeated one moved to the front', () => {
    const h = new HostResumed();
    for (let i = 1; i <= 10; i++) h.remember(0x1000 * i);
    expect(h.coroutines).toHaveLength(8);
    expect(h.coroutines[0]).toBe(0xa000);
    expect(h.coroutines).not.toContain(0x1000);
    expect(h.remember(0x5000)).toBe(false);
    expect(h.coroutines[0]).toBe(0x5000);
    expect(h.coroutines.filter((c) => c === 0x5000)).toHaveLength(1);
  });

  it('says whether a coroutine is new to it (what makes the thread be searched again soon)', () => {
    const h = new HostResumed();
    expect(h.remember(0x1000)).toBe(true);
    expect(h.remember(0x1000)).toBe(false);
    expect(h.remember(0x2000)).toBe(true);
    expect(h.remember(0x1000)).toBe(false);
    for (let i = 3; i <= 10; i++) h.remember(0x1000 * i);
    // Pushed out by newer ones: new again.
    expect(h.remember(0x1000)).toBe(true);
  });

  it('remembers the stack words that hold a coroutine, at their addresses', () => {
    const h = new HostResumed();
    const L = 0x55aa_0000_1230;
    h.rememberSlots(L, stackOf(0x7ffc_0000_0000, [1, L, 3, 4, L, 6]));
    expect(h.slots).toEqual([0x7ffc_0000_0020, 0x7ffc_0000_0008]);
    // The next request's coroutine in the same words: nothing new to remember.
    h.rememberSlots(L + 0x400, stackOf(0x7ffc_0000_0000, [1, L + 0x400, 3, 4, L + 0x400, 6]));
    expect(h.slots).toEqual([0x7ffc_0000_0020, 0x7ffc_0000_0008]);
  });

  it('keeps at most four words (the outermost of a copy), the latest found first; a word not in the copy is not invented', () => {
    const h = new HostResumed();
    const L = 0x55aa_0000_2000;
    h.rememberSlots(L, stackOf(0x1000, [L, L, L, L, L, L]));
    expect(h.slots).toHaveLength(4);
    h.rememberSlots(L, stackOf(0x9000, [0, 0, L]));
    expect(h.slots[0]).toBe(0x9010);
    expect(h.slots).toHaveLength(4);
    h.rememberSlots(0xdead_beef_0000, stackOf(0x2000, [1, 2, 3]));
    expect(h.slots[0]).toBe(0x9010);
  });
});
