/**
 * Where a batch of samples crosses from the worker to the main thread: slots of one SharedArrayBuffer,
 * lent by the worker and given back by the main thread once read. A new transferred Float64Array per
 * batch (five a second) was garbage on the main thread, whose small heap collects it rarely: 10-40 MB
 * of it built up between collections on a host sampled at 6,400 Hz. A batch larger than a slot, or
 * one sent while every slot is lent, still goes in an array of its own.
 */
import { SAMPLE_FIELDS } from './protocol.js';

const SLOTS = 4;
/** Samples a slot holds: 1.3 s at 6,400 Hz, more than a flush (every 200 ms) gathers. */
export const SLOT_SAMPLES = 8192;
const SLOT_NUMBERS = SLOT_SAMPLES * SAMPLE_FIELDS;
const FREE = 0;
const LENT = 1;

export class SampleSlots {
  readonly buffer: SharedArrayBuffer;
  private readonly state: Int32Array;
  private readonly numbers: Float64Array;

  /** A new set of slots, or the worker's view of the main thread's (`buffer`). */
  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SLOTS * SLOT_NUMBERS * 8 + SLOTS * 4);
    this.numbers = new Float64Array(this.buffer, 0, SLOTS * SLOT_NUMBERS);
    this.state = new Int32Array(this.buffer, SLOTS * SLOT_NUMBERS * 8, SLOTS);
  }

  /** Worker: copies the first `length` numbers of `samples` into a free slot; its number, or -1. */
  lend(samples: Float64Array, length: number): number {
    if (length > SLOT_NUMBERS) return -1;
    for (let slot = 0; slot < SLOTS; slot++) {
      if (Atomics.load(this.state, slot) !== FREE) continue;
      this.numbers.set(samples.subarray(0, length), slot * SLOT_NUMBERS);
      Atomics.store(this.state, slot, LENT);
      return slot;
    }
    return -1;
  }

  /** Main thread: the `length` numbers lent in `slot` (valid until giveBack). */
  view(slot: number, length: number): Float64Array {
    return this.numbers.subarray(slot * SLOT_NUMBERS, slot * SLOT_NUMBERS + length);
  }

  /** Main thread: the slot's samples are read; the worker may fill it again. */
  giveBack(slot: number): void {
    Atomics.store(this.state, slot, FREE);
  }
}
