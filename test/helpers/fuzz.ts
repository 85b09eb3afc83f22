/** Shared pieces of the hostile-input tests: a seeded PRNG and a Memory that fails on unbounded reading. */
import type { Memory } from '../../sampler/os/memory.js';

export { rng } from '../../testkit/rng.js';

/** Counts reads and throws once a walker reads more than it ever should. */
export class BoundedMemory implements Memory {
  reads = 0;
  bytes = 0;
  constructor(
    private readonly inner: Memory,
    private readonly maxReads = 200_000,
  ) {}
  read(addr: number, len: number): Buffer | null {
    if (++this.reads > this.maxReads) throw new Error(`unbounded: more than ${this.maxReads} reads`);
    this.bytes += Math.max(0, len);
    return this.inner.read(addr, len);
  }
}
