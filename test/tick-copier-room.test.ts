/** ringRoomMs: a batch of the kernel's copies never waits long enough to fill more than half the ring. */
import { describe, expect, it } from 'vitest';
import { RING_BYTES, ringRoomMs } from '../sampler/copier/tick-copier.js';

describe('ringRoomMs', () => {
  it('usual copies (a few KB) leave batches their full length', () => {
    expect(ringRoomMs(4 << 10, 1)).toBeGreaterThan(32);
  });

  it("large copies shorten the wait so that a batch's copies fill at most half the ring at the fastest drawn rate", () => {
    for (const bytes of [100 << 10, 180 << 10, 512 << 10]) {
      const ms = ringRoomMs(bytes, 1);
      expect(ms * 1.25 * bytes).toBeLessThanOrEqual(RING_BYTES / 2);
      expect(ms).toBeGreaterThanOrEqual(1);
    }
    // Copies of several threads add up: two threads of 180 KB wait about half as long as one.
    expect(ringRoomMs(2 * (180 << 10), 1)).toBeLessThan(ringRoomMs(180 << 10, 1));
  });

  it('at least one interval, however large the copies; no bound before any copy is planned', () => {
    expect(ringRoomMs(8 << 20, 2)).toBe(2);
    expect(ringRoomMs(0, 1)).toBe(Infinity);
  });
});
