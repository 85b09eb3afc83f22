/**
 * The call records of the thread a copier follows itself (os/call-chain.ts), as the copies walked
 * held them, kept to tell how many of the next copy's outermost records are the same, word for word.
 * Between two samples a program mostly runs on inside the same outer calls: their records do not
 * change, and the frames made of them need not be made, or checked field by field, again (PucCapture).
 */
import { CHAIN_ENTRY_BYTES } from '../../os/call-chain.js';
import type { RawFrame } from './capture.js';

export class CopiedRecords {
  /** Whose records: the thread, and its stack's address then (5.4.5+ records may hold offsets from it). */
  L = 0;
  stack = 0;
  /** Records held, and the frames made of them, innermost first. */
  count = 0;
  frames: readonly RawFrame[] = [];
  /**
   * The entries, outermost at the end (of `room` entries): the outer ones two copies share sit at the
   * same place, and only those inside them are written again.
   */
  private held = Buffer.alloc(0);
  private room = 0;

  /** Records held for thread L (with stack `stack`), their frames known (the first `count`). */
  holds(L: number, stack: number): boolean {
    return this.L === L && this.stack === stack && this.count > 0;
  }

  /**
   * How many of the outermost entries of `entries` (`count` of them, innermost first) are those held,
   * at most `most`: the entries' addresses and `recordBytes` of record bytes equal. First in one
   * comparison of all `most` (the bytes past each record, the copier's scratch, are mostly unchanged
   * too), then entry by entry.
   */
  sameOutermost(entries: Buffer, count: number, recordBytes: number, most: number): number {
    const E = CHAIN_ENTRY_BYTES;
    const held = this.held;
    const end = this.room * E;
    most = Math.min(most, this.count);
    if (most <= 0) return 0;
    if (entries.compare(held, end - most * E, end, (count - most) * E, count * E) === 0) return most;
    const bytes = 8 + recordBytes;
    let same = 0;
    for (; same < most; same++) {
      const a = (count - 1 - same) * E;
      const b = end - (same + 1) * E;
      for (let i = 0; i < bytes; i++) if (entries[a + i] !== held[b + i]) return same;
    }
    return same;
  }

  /**
   * Holds a copy's entries (`count` records, innermost first) as the records of `frames` (the same
   * order): all but the outermost `unchanged`, which are those held already.
   */
  hold(
    L: number,
    stack: number,
    entries: Buffer,
    count: number,
    unchanged: number,
    frames: readonly RawFrame[],
  ): void {
    const E = CHAIN_ENTRY_BYTES;
    if (count > this.room) {
      this.room = Math.max(count, 2 * this.room, 64);
      this.held = Buffer.alloc(this.room * E);
      unchanged = 0;
    }
    if (unchanged < count)
      this.held.set(entries.subarray(0, (count - unchanged) * E), (this.room - count) * E);
    this.L = L;
    this.stack = stack;
    this.count = count;
    this.frames = frames;
  }

  /** Nothing held (a walk that did not end in frames made of the copy's records). */
  drop(): void {
    this.count = 0;
    this.frames = [];
  }
}
