import { describe, expect, it } from 'vitest';
import { BpfRing } from '../sampler/os/bpf.js';
import { PAGE } from '../sampler/os/shared-pages.js';
import { monotonicNs } from '../sampler/os/on-cpu.js';

const SIZE = PAGE;

/**
 * A ring as the kernel maps it (Documentation/bpf/ringbuf.rst): the consumer page, then the producer
 * page and the data pages, mapped twice; here over plain memory, positions starting at `start`.
 */
function fakeRing(start: number): { ring: BpfRing; write: (data: Buffer) => void; consumed: () => number } {
  const consumer = new ArrayBuffer(PAGE);
  const producer = new ArrayBuffer(PAGE + 2 * SIZE);
  const cons = new DataView(consumer);
  const prod = new DataView(producer);
  const bytes = Buffer.from(producer);
  cons.setBigUint64(0, BigInt(start), true);
  prod.setBigUint64(0, BigInt(start), true);
  let at = start;
  const Ring = BpfRing as unknown as new (
    maps: unknown[],
    c: ArrayBuffer,
    p: ArrayBuffer,
    size: number,
  ) => BpfRing;
  return {
    ring: new Ring([], consumer, producer, SIZE),
    write: (data) => {
      const head = PAGE + (at % SIZE);
      prod.setUint32(head, data.length, true);
      // The data pages are mapped twice: a record that runs past the end is whole from its start.
      data.copy(bytes, head + 8);
      at += (data.length + 8 + 7) & ~7;
      prod.setBigUint64(0, BigInt(at), true);
    },
    consumed: () => Number(cons.getBigUint64(0, true)),
  };
}

describe('BpfRing', () => {
  it('takes records across a 4 GiB position and writes the consumer position back whole', () => {
    const start = 2 ** 32 - 16;
    const r = fakeRing(start);
    expect(r.ring.hasRecords).toBe(false);
    r.write(Buffer.from('first record'));
    r.write(Buffer.from('second'));
    expect(r.ring.hasRecords).toBe(true);
    expect(r.ring.peek()?.toString()).toBe('first record');
    r.ring.release();
    expect(r.consumed()).toBe(start + 24);
    expect(r.ring.peek()?.toString()).toBe('second');
    r.ring.release();
    expect(r.consumed()).toBe(start + 40);
    expect(r.ring.hasRecords).toBe(false);
    expect(r.ring.peek()).toBeNull();
  });

  it('passes over a discarded record and stops at one still being written', () => {
    const r = fakeRing(0);
    r.write(Buffer.from('dropped'));
    r.write(Buffer.from('kept'));
    r.write(Buffer.from('busy'));
    const prod = (r.ring as unknown as { producer: DataView }).producer;
    prod.setUint32(PAGE, prod.getUint32(PAGE, true) | 0x4000_0000, true);
    prod.setUint32(PAGE + 32, prod.getUint32(PAGE + 32, true) | 0x8000_0000, true);
    expect(r.ring.peek()?.toString()).toBe('kept');
    r.ring.release();
    expect(r.ring.peek()).toBeNull();
    expect(r.consumed()).toBe(32);
  });
});

describe('monotonicNs', () => {
  it('reads CLOCK_MONOTONIC as process.hrtime does, without a BigInt', () => {
    for (let i = 0; i < 5; i++) {
      const before = Number(process.hrtime.bigint());
      const now = monotonicNs();
      const after = Number(process.hrtime.bigint());
      // Within the two reads, give or take the offset learnt at load (~0.1 µs) and rounding.
      expect(now).toBeGreaterThan(before - 20_000);
      expect(now).toBeLessThan(after + 20_000);
    }
  });
});
