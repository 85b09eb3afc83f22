/** Shared pieces of the hostile-input tests: a seeded PRNG and a Memory that fails on unbounded reading. */
import type { Memory } from '../../sampler/os/memory.js';

/** Deterministic PRNG (mulberry32): the same seed gives the same corruption on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Counts reads and throws once a walker reads more than it ever should. */
export class BoundedMemory implements Memory {
  reads = 0;
  bytes = 0;
  constructor(private readonly inner: Memory, private readonly maxReads = 200_000) {}
  read(addr: number, len: number): Buffer | null {
    if (++this.reads > this.maxReads) throw new Error(`unbounded: more than ${this.maxReads} reads`);
    this.bytes += Math.max(0, len);
    return this.inner.read(addr, len);
  }
}
