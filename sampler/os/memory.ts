/**
 * Reading another process's memory. Every walker reads through this interface so it can be fed a
 * recorded snapshot or hostile bytes in tests. Addresses are plain numbers: x86_64 user space fits in
 * 47 bits, well inside a double's exact range.
 */
export interface Memory {
  /** Reads len bytes at addr, or null when any part is unreadable. */
  read(addr: number, len: number): Buffer | null;
  /**
   * Like read, for bytes a copy taken span after span while the target runs should take late (see
   * LATE): what changes most often goes last, next to the bytes that say how much of it is in use.
   */
  readLate?(addr: number, len: number, late: number): Buffer | null;
  /**
   * Like read, for an object that does not change while a frame refers to it (a function's header):
   * a copy of a running thread that lacks it may read it from the thread after the copy.
   */
  readStable?(addr: number, len: number): Buffer | null;
  /** readStable of several ranges at once. */
  readManyStable?(ranges: readonly Range[]): (Buffer | null)[];
  /**
   * Like readLate, without making a view of the bytes: the buffer that holds them, from `locatedAt`
   * in it (a walk of a copy reads hundreds of small records; a view of each was most of its garbage).
   */
  locateLate?(addr: number, len: number, late: number): Buffer | null;
  readonly locatedAt?: number;
  /**
   * The call records a copier copied by following the chained thread's list itself (os/call-chain.ts),
   * as it wrote them: entries of CHAIN_ENTRY_BYTES from the innermost record on, that list's first;
   * null when the copy has none. Read as CHAINED, they are what locateLate would find one by one.
   */
  copiedChain?(): Buffer | null;
}

/**
 * Copy order of a walk's reads in a copy of a running thread, after everything else: the stack's
 * slots, then its call records, then the thread headers (whose current-frame pointer says how deep
 * the stack is; in the order the walk read them: a coroutine's after its resumer's). Each group
 * read nearer the header is less stale when it is read.
 */
export const LATE = { stack: 1, callInfo: 2, root: 3 } as const;
/**
 * Or'ed into a LATE level: a record of the call list a copier may follow itself at each copy
 * (os/call-chain.ts), which a plan then leaves out (PrefetchMemory.leaveChained).
 */
export const CHAINED = 8;

/** A read a copy of a running thread takes late (see LATE), a plain read elsewhere. */
export function readLate(mem: Memory, addr: number, len: number, late: number): Buffer | null {
  return mem.readLate ? mem.readLate(addr, len, late) : mem.read(addr, len);
}

/** Where the bytes of the last locateLate() start in the buffer it returned. */
export let locatedAt = 0;

/** readLate without a view where the memory can (Memory.locateLate): the buffer, the bytes from `locatedAt` on. */
export function locateLate(mem: Memory, addr: number, len: number, late: number): Buffer | null {
  if (mem.locateLate) {
    const b = mem.locateLate(addr, len, late);
    locatedAt = mem.locatedAt!;
    return b;
  }
  locatedAt = 0;
  return readLate(mem, addr, len, late);
}

/** A read of an object that does not change while referenced (see Memory.readStable). */
export function readStable(mem: Memory, addr: number, len: number): Buffer | null {
  return mem.readStable ? mem.readStable(addr, len) : mem.read(addr, len);
}

/** readStable of several ranges (one batched read where the memory has no copy to fall back from). */
export function readManyStable(mem: Memory, ranges: readonly Range[]): (Buffer | null)[] {
  if (mem.readManyStable) return mem.readManyStable(ranges);
  return mem.readStable ? ranges.map((r) => mem.readStable!(r.addr, r.len)) : readMany(mem, ranges);
}

/** readLate of several ranges (one batched read where the memory has no order to keep). */
export function readManyLate(mem: Memory, ranges: readonly Range[], late: number): (Buffer | null)[] {
  return mem.readLate ? ranges.map((r) => mem.readLate!(r.addr, r.len, late)) : readMany(mem, ranges);
}

/** Largest user-space address on x86_64 (47-bit canonical lower half). */
export const MAX_USER_ADDR = 0x7fff_ffff_ffff;

export function isPlausiblePtr(p: number, align = 8): boolean {
  return p >= 0x1000 && p <= MAX_USER_ADDR && isMultipleOf(p, align);
}

/**
 * Whether `n` (a whole number below 2^53) is a multiple of `of` (≤ 64). Not `n % of`: V8 computes `%`
 * on a number past 2^31 with a call to fmod, ~17 ns against ~1 for this.
 */
export function isMultipleOf(n: number, of: number): boolean {
  return Math.floor(n / of) * of === n;
}

/**
 * A copy of `b` that owns its memory, for a cache that keeps it. Buffer.from would copy into Node's
 * shared 8 KB pool, and the cached copy would keep that whole pool alive: 8 KB per function of every
 * thread a host starts, freed only by a full collection (RSS climbed ~1 MB a minute on the churn host).
 */
export function ownCopy(b: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length);
  copy.set(b);
  return copy;
}

/** Reads a u64 as a number; values past 2^53 (never valid pointers) come back as -1. */
export function u64(buf: Buffer, off: number): number {
  // Byte by byte (a walk reads hundreds of words a sample: readUInt32LE twice cost twice as much).
  if (!(off >= 0 && off + 8 <= buf.length)) throw new RangeError(`u64 at ${off} of ${buf.length} bytes`);
  const hi = (buf[off + 4] | (buf[off + 5] << 8) | (buf[off + 6] << 16)) + buf[off + 7] * 0x100_0000;
  if (hi > 0x1fffff) return -1;
  const lo = (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)) + buf[off + 3] * 0x100_0000;
  return hi * 0x1_0000_0000 + lo;
}

/**
 * Reads a u32 (and an i32) byte by byte: Buffer's readUInt32LE validates its offset through a wrapped
 * validator, a call that cost the sampling path more than the read.
 */
export function u32(buf: Buffer, off: number): number {
  if (!(off >= 0 && off + 4 <= buf.length)) throw new RangeError(`u32 at ${off} of ${buf.length} bytes`);
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)) + buf[off + 3] * 0x100_0000;
}
export function i32(buf: Buffer, off: number): number {
  return u32(buf, off) | 0;
}

/** A recorded set of memory regions: deterministic tests, fuzzing and replay. */
export class SnapshotMemory implements Memory {
  private readonly regions: { addr: number; bytes: Buffer }[];
  reads = 0;
  bytesRead = 0;

  constructor(regions: { addr: number; bytes: Buffer }[]) {
    this.regions = regions.slice().sort((a, b) => a.addr - b.addr);
  }

  read(addr: number, len: number): Buffer | null {
    this.reads++;
    if (len < 0 || !Number.isFinite(addr) || addr < 0) return null;
    for (const r of this.regions) {
      if (addr >= r.addr && addr + len <= r.addr + r.bytes.length) {
        this.bytesRead += len;
        return r.bytes.subarray(addr - r.addr, addr - r.addr + len);
      }
    }
    return null;
  }

  toJSON(): { addr: number; hex: string }[] {
    return this.regions.map((r) => ({ addr: r.addr, hex: r.bytes.toString('hex') }));
  }

  static fromJSON(data: { addr: number; hex: string }[]): SnapshotMemory {
    return new SnapshotMemory(data.map((r) => ({ addr: r.addr, bytes: Buffer.from(r.hex, 'hex') })));
  }
}

/** Records every successful read of an underlying Memory, to build a SnapshotMemory later. */
export class RecordingMemory implements Memory {
  private readonly seen = new Map<number, Buffer>();
  constructor(private readonly inner: Memory) {}
  read(addr: number, len: number): Buffer | null {
    const b = this.inner.read(addr, len);
    if (b) {
      const prev = this.seen.get(addr);
      if (!prev || prev.length < len) this.seen.set(addr, Buffer.from(b));
    }
    return b;
  }
  snapshot(): SnapshotMemory {
    return new SnapshotMemory([...this.seen].map(([addr, bytes]) => ({ addr, bytes })));
  }
  /** The ranges read, each at its longest. */
  ranges(): Range[] {
    return [...this.seen].map(([addr, bytes]) => ({ addr, len: bytes.length }));
  }
}

export interface Range {
  addr: number;
  len: number;
}

/** Memory that can read several ranges in one go (one system call for a live process). */
export interface BatchMemory extends Memory {
  readMany(ranges: readonly { addr: number; len: number }[]): (Buffer | null)[];
}

export function readMany(mem: Memory, ranges: readonly { addr: number; len: number }[]): (Buffer | null)[] {
  const batch = (mem as Partial<BatchMemory>).readMany;
  if (batch) return batch.call(mem, ranges);
  return ranges.map((r) => mem.read(r.addr, r.len));
}
