import { describe, expect, it } from 'vitest';
import { PerfRing } from '../sampler/os/perf-event.js';
import { USER_REGS_BYTES } from '../sampler/os/perf-regs.js';
import { UserSamples } from '../sampler/os/user-samples.js';

const PAGE = 4096;
const PAGES = 2;

/** A ring as perf maps it: a control page (data_head at 1024, data_tail at 1032), then PAGES of records. */
function fakeRing(): { ring: PerfRing; write: (rec: Buffer) => void; tail: () => number } {
  const data = new ArrayBuffer((1 + PAGES) * PAGE);
  const meta = new DataView(data, 0, PAGE);
  const records = Buffer.from(data, PAGE, PAGES * PAGE);
  let head = 0;
  return {
    // PerfRing's own reading of the ring, over these pages instead of a mapping.
    ring: Object.assign(Object.create(PerfRing.prototype) as PerfRing, { meta, data, records, tailAt: -1 }),
    write: (rec) => {
      for (let i = 0; i < rec.length; i++) records[(head + i) % records.length] = rec[i];
      head += rec.length;
      meta.setBigUint64(1024, BigInt(head), true);
    },
    tail: () => Number(meta.getBigUint64(1032, true)),
  };
}

/** A PERF_RECORD_SAMPLE of TID | TIME | REGS_USER | STACK_USER: 17 registers (rsp = `rsp`), `stack` bytes asked, `copied` of them. */
function sample(time: number, rsp: number, stack: number, copied: number, abi = 2n): Buffer {
  const regsBytes = abi === 0n ? 0 : USER_REGS_BYTES;
  const stackPart = abi === 0n ? 8 : 8 + stack + 8;
  const b = Buffer.alloc(8 + 8 + 8 + 8 + regsBytes + stackPart);
  b.writeUInt32LE(9, 0);
  b.writeUInt16LE(b.length, 6);
  b.writeUInt32LE(100, 8);
  b.writeUInt32LE(101, 12);
  b.writeBigUInt64LE(BigInt(time), 16);
  b.writeBigUInt64LE(abi, 24);
  if (abi === 0n) return b;
  for (let i = 0; i < 17; i++) b.writeBigUInt64LE(BigInt(0x1000 + i), 32 + i * 8);
  b.writeBigUInt64LE(BigInt(rsp), 32 + 7 * 8);
  const sizeAt = 32 + regsBytes;
  b.writeBigUInt64LE(BigInt(stack), sizeAt);
  for (let i = 0; i < stack; i++) b[sizeAt + 8 + i] = i & 0xff;
  b.writeBigUInt64LE(BigInt(copied), sizeAt + 8 + stack);
  return b;
}

describe('UserSamples', () => {
  it("gives the firing's registers and the stack bytes the kernel copied, from rsp", () => {
    const r = fakeRing();
    r.write(sample(1_000_000, 0x7ff0_0000, 64, 40));
    const s = new UserSamples(r.ring, 64).at(1_000_003, 100_000)!;
    expect(s.timeNs).toBe(1_000_000);
    expect(s.regs.rip).toBe(0x1008);
    expect(s.regs.rsp).toBe(0x7ff0_0000);
    expect(s.stack.addr).toBe(0x7ff0_0000);
    expect([...s.stack.bytes]).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });

  it('passes over the samples of earlier firings and keeps a later firing for its own copy', () => {
    const r = fakeRing();
    const samples = new UserSamples(r.ring, 64);
    r.write(sample(1_000_000, 0x7000, 16, 16));
    r.write(sample(2_000_000, 0x7100, 16, 16));
    r.write(sample(3_000_000, 0x7200, 16, 16));
    expect(samples.at(2_000_010, 100_000)!.regs.rsp).toBe(0x7100);
    // The copy of the firing at 2.5 ms had no sample: the one at 3 ms is not given to it.
    expect(samples.at(2_500_000, 100_000)).toBeNull();
    expect(samples.at(3_000_000, 100_000)!.regs.rsp).toBe(0x7200);
    expect(samples.at(4_000_000, 100_000)).toBeNull();
  });

  it('gives records back to the kernel at release() only', () => {
    const r = fakeRing();
    const samples = new UserSamples(r.ring, 64);
    const rec = sample(1_000_000, 0x7000, 16, 16);
    r.write(rec);
    samples.at(1_000_000, 100_000);
    expect(r.tail()).toBe(0);
    samples.release();
    expect(r.tail()).toBe(rec.length);
  });

  it('reads a record that wraps around the end of the ring whole', () => {
    const r = fakeRing();
    const samples = new UserSamples(r.ring, 6000);
    const filler = sample(1, 0x7000, 6000, 6000);
    r.write(filler);
    expect(samples.at(1, 10)).not.toBeNull();
    samples.release();
    r.write(sample(5_000_000, 0x7300, 4000, 4000));
    const s = samples.at(5_000_000, 100)!;
    expect(s.regs.rsp).toBe(0x7300);
    expect(s.stack.bytes.length).toBe(4000);
    expect(s.stack.bytes[3999]).toBe(3999 & 0xff);
  });

  it('a firing without user state (abi 0), no stack copied, or a size past the record is no sample', () => {
    const r = fakeRing();
    const samples = new UserSamples(r.ring, 64);
    r.write(sample(1_000, 0x7000, 0, 0, 0n));
    expect(samples.at(1_000, 100)).toBeNull();
    r.write(sample(2_000, 0x7000, 64, 0));
    expect(samples.at(2_000, 100)).toBeNull();
    const lying = sample(3_000, 0x7000, 64, 64);
    lying.writeBigUInt64LE(1n << 20n, 32 + USER_REGS_BYTES);
    r.write(lying);
    expect(samples.at(3_000, 100)).toBeNull();
  });
});
