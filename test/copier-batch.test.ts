/** CopierBatch: walks of the copier's copies are batched once the plan has settled, one by one before. */
import { describe, expect, it } from 'vitest';
import { CopierBatch } from '../sampler/copier/batch.js';

describe('CopierBatch', () => {
  it('walks one copy per wake-up until 100 copies in a row had the same plan, then about 32 ms of them', () => {
    const batch = new CopierBatch(1); // 1000 Hz
    const sizes = Array.from({ length: 101 }, () => batch.size(7));
    expect(sizes.slice(0, 100).every((n) => n === 1)).toBe(true);
    expect(sizes[100]).toBe(32);
    expect(new CopierBatch(10).size(1)).toBe(1);
  });

  it('a new plan (a walk read what the copy lacked) goes back to one by one', () => {
    const batch = new CopierBatch(2); // 500 Hz: batches of 16
    for (let i = 0; i < 150; i++) batch.size(1);
    expect(batch.size(1)).toBe(16);
    expect(batch.size(2)).toBe(1);
    for (let i = 0; i < 99; i++) batch.size(2);
    expect(batch.size(2)).toBe(16);
  });

  it('a rate slower than one sample per batch time walks each copy as it comes', () => {
    const batch = new CopierBatch(50);
    for (let i = 0; i < 200; i++) batch.size(3);
    expect(batch.size(3)).toBe(1);
  });
});
