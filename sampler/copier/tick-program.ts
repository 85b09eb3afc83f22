/**
 * The BPF program a thread's CPU-time timer runs in the thread's own context (tick-copier.ts): it
 * copies what the thread's plan names out of the thread's memory, at that instant, into a ring buffer.
 * Interrupted where it stood, the thread does not move while it is copied: the copy is of one moment,
 * like a stop's, but taken on time and without a context switch.
 *
 * Plan (a hash map's value, keyed by thread id; replaced whole, never edited in place):
 *   u32 spans, u32 bytes, u32 plan sequence, u32 flags, then per span: u64 address, u32 length, u32 offset
 *   (flags: USER_SAMPLE, the program returns 1 after a copy, so that the kernel also writes the timer's
 *   own sample, the registers and stack of that instant, to the timer's ring: ThreadTimer, UserSamples)
 * Record (the ring's): u64 CLOCK_MONOTONIC ns, u32 tid, u32 plan sequence, u32 first span that could
 *   not be read (NONE_FAILED: none), u32 bytes, then the spans' bytes at their offsets.
 */
import { FP, HELPER, RB_NO_WAKEUP, asm, assemble } from '../os/bpf.js';

export const PLAN_HEADER = 16;
export const SPAN_BYTES = 16;
/** Spans a plan holds at most (the copier thread's plans at Lua depth 30: 6–12; lua5.1's deep torn.lua: 21). */
export const MAX_SPANS = 64;
/** Bytes a plan copies at most (lua5.1's deep torn.lua: ~150 KB), and a span at most (longer spans are cut). */
export const MAX_BYTES = 1 << 19;
export const MAX_SPAN = 1 << 15;
export const RECORD_HEADER = 24;
export const NONE_FAILED = 0xffff_ffff;
/** Plan flag: each copy is followed by the timer's own sample (see above). */
export const USER_SAMPLE = 1;
export const PLAN_VALUE_BYTES = PLAN_HEADER + SPAN_BYTES * MAX_SPANS;
/** A CPU's scratch record: the verifier proves each span's copy ends inside it (offset < MAX_BYTES, length ≤ MAX_SPAN). */
export const SCRATCH_BYTES = RECORD_HEADER + MAX_BYTES + MAX_SPAN;

/** Copies the ring had no room for are counted in `lost` (an array of one u64). */
export function tickProgram(maps: { plans: number; scratch: number; ring: number; lost: number }): Buffer {
  const [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  /** r0 = the value in map `fd` under the u32 key at fp+keyAt; to `out` when there is none. */
  const lookup = (fd: number, keyAt: number) => [
    asm.loadMap(r1, fd),
    asm.movReg(r2, FP),
    asm.add(r2, keyAt),
    asm.call(HELPER.mapLookupElem),
    asm.jumpIfEq(r0, 0, 'out'),
  ];
  return assemble([
    asm.call(HELPER.getCurrentPidTgid),
    asm.mov32Reg(r7, r0), // the thread id
    asm.store32(FP, -4, r7),
    ...lookup(maps.plans, -4),
    asm.movReg(r8, r0), // the plan
    asm.load32(r1, r8, 0),
    asm.jumpIfEq(r1, 0, 'out'), // paused
    asm.call(HELPER.getSmpProcessorId),
    asm.store32(FP, -8, r0),
    ...lookup(maps.scratch, -8),
    asm.movReg(r9, r0), // this CPU's record
    asm.call(HELPER.ktimeGetNs),
    asm.store64(r9, 0, r0),
    asm.store32(r9, 8, r7),
    asm.load32(r1, r8, 8),
    asm.store32(r9, 12, r1),
    asm.mov(r1, -1),
    asm.store32(r9, 16, r1),
    asm.load32(r1, r8, 4),
    asm.store32(r9, 20, r1),
    asm.mov(r6, 0), // span index
    asm.label('span'),
    asm.jumpIfAtLeast(r6, MAX_SPANS, 'send'),
    asm.load32(r1, r8, 0),
    asm.jumpIfAtLeastReg(r6, r1, 'send'),
    asm.movReg(r2, r6),
    asm.lsh(r2, 4),
    asm.addReg(r2, r8),
    asm.load64(r3, r2, PLAN_HEADER), // address
    asm.load32(r4, r2, PLAN_HEADER + 8), // length
    asm.load32(r5, r2, PLAN_HEADER + 12), // offset
    asm.jumpIfEq(r4, 0, 'next'),
    asm.jumpIfAbove(r4, MAX_SPAN, 'failed'),
    asm.and(r5, MAX_BYTES - 1),
    asm.movReg(r1, r9),
    asm.add(r1, RECORD_HEADER),
    asm.addReg(r1, r5),
    asm.movReg(r2, r4),
    asm.call(HELPER.probeReadUser),
    asm.jumpIfEq(r0, 0, 'next'),
    asm.label('failed'),
    asm.store32(r9, 16, r6),
    asm.jump('send'),
    asm.label('next'),
    asm.add(r6, 1),
    asm.jump('span'),
    asm.label('send'),
    asm.load32(r3, r8, 4),
    asm.jumpIfAbove(r3, MAX_BYTES, 'out'),
    asm.add(r3, RECORD_HEADER),
    asm.loadMap(r1, maps.ring),
    asm.movReg(r2, r9),
    asm.mov(r4, RB_NO_WAKEUP),
    asm.call(HELPER.ringbufOutput),
    asm.jumpIfEq(r0, 0, 'sent'),
    asm.mov(r1, 0),
    asm.store32(FP, -12, r1),
    ...lookup(maps.lost, -12),
    asm.mov(r1, 1),
    asm.atomicAdd64(r0, 0, r1),
    asm.label('sent'),
    asm.load32(r0, r8, 12),
    asm.and(r0, USER_SAMPLE),
    asm.exit(),
    asm.label('out'),
    asm.mov(r0, 0),
    asm.exit(),
  ]);
}

/**
 * Writes the plan of `count` remote iovecs ({addr, len} u64 pairs, `bytes` in all) into `out` (a plan
 * value), spans longer than MAX_SPAN cut in several. Returns where each span starts in a copy, or null
 * when the plan is too large for the program.
 */
export function encodePlan(
  iov: Buffer,
  count: number,
  bytes: number,
  seq: number,
  out: Buffer,
  flags = 0,
): number[] | null {
  if (bytes > MAX_BYTES || iov.length < count * 16 || out.length < PLAN_VALUE_BYTES) return null;
  const offsets: number[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    const addr = Number(iov.readBigUInt64LE(i * 16));
    const len = Number(iov.readBigUInt64LE(i * 16 + 8));
    for (let cut = 0; cut < len; cut += MAX_SPAN) {
      if (offsets.length === MAX_SPANS) return null;
      const at = PLAN_HEADER + offsets.length * SPAN_BYTES;
      out.writeBigUInt64LE(BigInt(addr + cut), at);
      out.writeUInt32LE(Math.min(MAX_SPAN, len - cut), at + 8);
      out.writeUInt32LE(off + cut, at + 12);
      offsets.push(off + cut);
    }
    off += len;
  }
  if (off !== bytes || offsets.length === 0) return null;
  out.writeUInt32LE(offsets.length, 0);
  out.writeUInt32LE(bytes, 4);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(flags, 12);
  return offsets;
}
