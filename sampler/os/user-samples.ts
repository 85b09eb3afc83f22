/**
 * The user registers and the top of the user stack a thread's tick timer recorded at its firings
 * (perf-event.ts, ThreadTimer with a UserSampleSpec): each record read where the kernel wrote it,
 * and given back to the kernel once its reader is done with it.
 *
 * Record (PERF_SAMPLE_TID | TIME | REGS_USER | STACK_USER): header, u32 pid, u32 tid, u64 time,
 * u64 abi, the registers (abi ≠ 0), u64 size, size bytes of stack from rsp, u64 bytes of them copied.
 */
import { u64 } from './memory.js';
import type { PerfRing } from './perf-event.js';
import { USER_REGS_BYTES, readUserRegs } from './perf-regs.js';
import type { Registers } from './registers.js';

const PERF_RECORD_SAMPLE = 9;
const HEADER = 8;
const AFTER_ABI = HEADER + 8 + 8 + 8;

/** One firing's registers and stack: the bytes are the ring's own (or a scratch copy), valid until release(). */
export interface UserSample {
  timeNs: number;
  regs: Registers;
  stack: { addr: number; bytes: Buffer };
}

export class UserSamples {
  /** Where the next record is read from (the kernel is told at release()). */
  private tail: number;
  /** A record that wraps around the ring's end is copied out whole into this. */
  private readonly wrapped: Buffer;

  /** `stackBytes`: the stack each record holds at most (the timer's UserSampleSpec). */
  constructor(
    private readonly ring: PerfRing,
    stackBytes: number,
  ) {
    this.tail = ring.tail;
    // The record: up to the abi, the registers, the stack's size, its bytes, the count copied.
    this.wrapped = Buffer.alloc(AFTER_ABI + USER_REGS_BYTES + 8 + stackBytes + 8);
  }

  /**
   * The firing at `timeNs` (CLOCK_MONOTONIC; the kernel stamps its sample µs before the program
   * stamps its copy): the first record within `withinNs` of it, those before passed over. Null when
   * the next record is of a later firing, or none came.
   */
  at(timeNs: number, withinNs: number): UserSample | null {
    const ring = this.ring;
    const head = ring.head;
    while (this.tail + HEADER <= head) {
      const size = ring.recordSize(this.tail);
      if (size < HEADER) return null;
      const rec = size >= AFTER_ABI ? ring.recordAt(this.tail, size, this.wrapped) : null;
      if (rec === null || rec.readUInt32LE(0) !== PERF_RECORD_SAMPLE) {
        this.tail += size;
        continue;
      }
      const time = u64(rec, HEADER + 8);
      if (time < timeNs - withinNs) {
        this.tail += size;
        continue;
      }
      if (time - timeNs > withinNs) return null;
      this.tail += size;
      return parse(rec, time);
    }
    return null;
  }

  /** The records read so far go back to the kernel (what at() returned is no longer valid). */
  release(): void {
    this.ring.tail = this.tail;
  }
}

/** A record's registers and stack (null without them: the thread had no user state). */
function parse(rec: Buffer, timeNs: number): UserSample | null {
  if (rec.readUInt32LE(HEADER + 16) === 0 && rec.readUInt32LE(HEADER + 20) === 0) return null;
  const regs = readUserRegs(rec, AFTER_ABI) as Registers;
  const sizeAt = AFTER_ABI + USER_REGS_BYTES;
  if (rec.length < sizeAt + 8) return null;
  const size = u64(rec, sizeAt);
  const dataAt = sizeAt + 8;
  if (size <= 0 || dataAt + size + 8 > rec.length) return null;
  const copied = Math.min(size, u64(rec, dataAt + size));
  if (copied <= 0 || regs.rsp <= 0) return null;
  return { timeNs, regs, stack: { addr: regs.rsp, bytes: rec.subarray(dataAt, dataAt + copied) } };
}
