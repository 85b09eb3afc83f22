import { describe, expect, it } from 'vitest';
import { parseSwitchSample, SWITCH_SAMPLE_BYTES } from '../sampler/os/switch-regs.js';

/** A PERF_RECORD_SAMPLE as the kernel writes it for the event: ip, pid/tid, time, cpu, abi, 17 registers. */
function record(opts: { type?: number; time: number; cpu: number; abi?: bigint; regs: bigint[] }): Buffer {
  const b = Buffer.alloc(SWITCH_SAMPLE_BYTES);
  b.writeUInt32LE(opts.type ?? 9, 0);
  b.writeUInt16LE(SWITCH_SAMPLE_BYTES, 6);
  b.writeBigUInt64LE(0xffffffff81000000n, 8); // ip: the kernel, where the switch is counted
  b.writeUInt32LE(100, 16);
  b.writeUInt32LE(101, 20);
  b.writeBigUInt64LE(BigInt(opts.time), 24);
  b.writeUInt32LE(opts.cpu, 32);
  b.writeBigUInt64LE(opts.abi ?? 2n, 40);
  opts.regs.forEach((r, i) => b.writeBigUInt64LE(r, 48 + i * 8));
  return b;
}

describe('parseSwitchSample', () => {
  const regs = Array.from({ length: 17 }, (_, i) => 0x1000n + BigInt(i));
  it('reads time, CPU and the user registers in perf order (ax bx cx dx si di bp sp ip r8-r15)', () => {
    const s = parseSwitchSample(record({ time: 123_456_789_000, cpu: 1, regs }))!;
    expect(s.time).toBe(123_456_789_000);
    expect(s.cpu).toBe(1);
    expect(s.regs.rax).toBe(0x1000);
    expect(s.regs.rdx).toBe(0x1003);
    expect(s.regs.rsp).toBe(0x1007);
    expect(s.regs.rip).toBe(0x1008);
    expect(s.regs.r8).toBe(0x1009);
    expect(s.regs.r14).toBe(0x100f);
    expect(s.regs.r15).toBe(0x1010);
  });

  it('a value past 2^53 reads as -1; no user registers (abi 0) or another record type is no sample', () => {
    const big = [...regs];
    big[0] = 0xffff_ffff_ffff_fff0n;
    expect(parseSwitchSample(record({ time: 1, cpu: 0, regs: big }))!.regs.rax).toBe(-1);
    expect(parseSwitchSample(record({ time: 1, cpu: 0, abi: 0n, regs }))).toBeNull();
    expect(parseSwitchSample(record({ type: 14, time: 1, cpu: 0, regs }))).toBeNull();
    expect(parseSwitchSample(Buffer.alloc(16))).toBeNull();
  });
});
