import { describe, expect, it } from 'vitest';
import { SAMPLE_FIELDS } from '../sampler/protocol.js';
import { SLOT_SAMPLES, SampleSlots } from '../sampler/sample-slots.js';

describe('SampleSlots', () => {
  it('lends a slot the other side reads, and takes it again only once given back', () => {
    const main = new SampleSlots();
    const worker = new SampleSlots(main.buffer);
    const batch = Float64Array.from({ length: 40 }, (_, i) => i * 1.5);
    const lent: number[] = [];
    for (let k = 0; k < 4; k++) lent.push(worker.lend(batch, 8 + k * SAMPLE_FIELDS));
    expect(new Set(lent).size).toBe(4);
    // Every slot lent: the batch goes in an array of its own.
    expect(worker.lend(batch, 8)).toBe(-1);
    expect([...main.view(lent[2], 16)]).toEqual([...batch.subarray(0, 16)]);
    main.giveBack(lent[2]);
    expect(worker.lend(batch, 4)).toBe(lent[2]);
  });

  it('refuses a batch larger than a slot', () => {
    const slots = new SampleSlots();
    const big = new Float64Array((SLOT_SAMPLES + 1) * SAMPLE_FIELDS);
    expect(slots.lend(big, big.length)).toBe(-1);
    expect(slots.lend(big, SLOT_SAMPLES * SAMPLE_FIELDS)).toBe(0);
  });
});
