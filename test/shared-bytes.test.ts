import { describe, expect, it } from 'vitest';
import { SharedBytes } from '../sampler/lua/shared-bytes.js';

describe('SharedBytes', () => {
  it('hands out one copy for the same bytes read twice (two states of one script), its own for others', () => {
    const store = new SharedBytes();
    const a = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const first = store.copy(a);
    expect(store.copy(Buffer.from(a))).toBe(first);
    expect(new Uint8Array(first)).toEqual(new Uint8Array(a));
    expect(first.byteLength).toBe(8);
    const other = store.copy(Buffer.from([1, 2, 3, 4, 5, 6, 7, 9]));
    expect(other).not.toBe(first);
    expect(store.copy(Buffer.from([1, 2, 3, 4]))).not.toBe(first);
  });

  it('is a copy: the bytes it was given may be reused after', () => {
    const store = new SharedBytes();
    const b = Buffer.from([9, 9, 9, 9]);
    const copy = store.copy(b);
    b.fill(0);
    expect([...new Uint8Array(copy)]).toEqual([9, 9, 9, 9]);
    expect(store.copy(Buffer.from([9, 9, 9, 9]))).toBe(copy);
  });

  it('starts its index again past its bound, and copies handed out stay whole', () => {
    const store = new SharedBytes(16);
    const x = store.copy(Buffer.alloc(12, 1));
    store.copy(Buffer.alloc(12, 2));
    expect(store.copy(Buffer.alloc(12, 1))).not.toBe(x);
    expect([...new Uint8Array(x)]).toEqual(new Array(12).fill(1));
  });
});
