/** Memory of a live process through process_vm_readv, with batched reads (many iovecs, one call). */
import { libc } from './libc.js';
import type { BatchMemory } from './memory.js';

const MAX_IOV = 1024;
const MAX_READ = 64 << 20;
const MAX_BATCH_BYTES = 4 << 20;

function putU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v % 0x1_0000_0000, off);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
}

const valid = (addr: number, len: number) => len > 0 && len <= MAX_READ && addr > 0 && Number.isSafeInteger(addr) && Number.isSafeInteger(len);

export class RemoteMemory implements BatchMemory {
  private readonly liov = Buffer.alloc(16);
  private readonly riov = Buffer.alloc(16 * MAX_IOV);
  calls = 0;

  constructor(readonly pid: number) {}

  read(addr: number, len: number): Buffer | null {
    if (len === 0) return Buffer.alloc(0);
    if (!valid(addr, len)) return null;
    const out = Buffer.allocUnsafeSlow(len);
    const c = libc();
    putU64(this.liov, 0, c.address(out));
    putU64(this.liov, 8, len);
    putU64(this.riov, 0, addr);
    putU64(this.riov, 8, len);
    this.calls++;
    return c.processVmReadv(this.pid, this.liov, 1, this.riov, 1, 0) === len ? out : null;
  }

  /** Reads several ranges with as few system calls as possible; unreadable ranges come back null. */
  readMany(ranges: readonly { addr: number; len: number }[]): (Buffer | null)[] {
    const results: (Buffer | null)[] = new Array(ranges.length).fill(null);
    const c = libc();
    let start = 0;
    while (start < ranges.length) {
      let count = 0;
      let total = 0;
      while (start + count < ranges.length && count < MAX_IOV) {
        const r = ranges[start + count];
        if (!valid(r.addr, r.len) || (count > 0 && total + r.len > MAX_BATCH_BYTES)) break;
        putU64(this.riov, count * 16, r.addr);
        putU64(this.riov, count * 16 + 8, r.len);
        total += r.len;
        count++;
      }
      if (count === 0) {
        start++; // an invalid range stays null
        continue;
      }
      const dest = Buffer.allocUnsafeSlow(total);
      putU64(this.liov, 0, c.address(dest));
      putU64(this.liov, 8, total);
      this.calls++;
      let got = Math.max(c.processVmReadv(this.pid, this.liov, 1, this.riov, count, 0), 0);
      // The kernel stops at the first remote range it cannot read; everything before it is whole.
      let done = 0;
      let off = 0;
      while (done < count) {
        const len = ranges[start + done].len;
        if (got < len) break;
        results[start + done] = dest.subarray(off, off + len);
        off += len;
        got -= len;
        done++;
      }
      start += done === count ? count : done + 1;
    }
    return results;
  }
}

/**
 * Serves a pause's reads from one batched read of what the previous pause needed: the ranges a walker
 * reads change little from sample to sample, so most pauses cost one system call. Nearby ranges are
 * merged into one span (the kernel's cost is per range, not per byte). All prefetched bytes are read
 * while the target is stopped, so they are as consistent as direct reads.
 */
export class PrefetchMemory implements BatchMemory {
  private spanStarts: number[] = [];
  private spanBufs: Buffer[] = [];
  private plan: { addr: number; len: number }[] = [];
  private used: { addr: number; len: number }[] = [];
  hits = 0;
  misses = 0;

  constructor(
    private readonly inner: RemoteMemory,
    private readonly maxGap = 512,
    private readonly maxSpan = 256 << 10,
  ) {}

  begin(): void {
    this.used = [];
    this.spanStarts = [];
    this.spanBufs = [];
    if (this.plan.length === 0) return;
    const bufs = this.inner.readMany(this.plan);
    for (let i = 0; i < this.plan.length; i++) {
      const b = bufs[i];
      if (b) {
        this.spanStarts.push(this.plan[i].addr);
        this.spanBufs.push(b);
      }
    }
  }

  /** Plans the next pause's prefetch from this pause's reads. */
  end(): void {
    const used = this.used.filter((r) => r.len <= this.maxSpan).sort((a, b) => a.addr - b.addr);
    const plan: { addr: number; len: number }[] = [];
    for (const r of used) {
      const last = plan[plan.length - 1];
      const end = r.addr + r.len;
      if (last && r.addr <= last.addr + last.len + this.maxGap && end - last.addr <= this.maxSpan) {
        last.len = Math.max(last.len, end - last.addr);
      } else plan.push({ addr: r.addr, len: r.len });
    }
    this.plan = plan.slice(0, 1024);
    this.spanStarts = [];
    this.spanBufs = [];
  }

  read(addr: number, len: number): Buffer | null {
    this.used.push({ addr, len });
    const starts = this.spanStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi >= 0) {
      const b = this.spanBufs[hi];
      const off = addr - starts[hi];
      if (off + len <= b.length) {
        this.hits++;
        return b.subarray(off, off + len);
      }
    }
    this.misses++;
    return this.inner.read(addr, len);
  }

  readMany(ranges: readonly { addr: number; len: number }[]): (Buffer | null)[] {
    return ranges.map((r) => this.read(r.addr, r.len));
  }
}
