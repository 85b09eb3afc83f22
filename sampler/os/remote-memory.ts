/** Memory of a live process through process_vm_readv, with batched reads (many iovecs, one call). */
import { libc } from './libc.js';
import {
  CHAIN_ENTRY_BYTES,
  chainEntryAddress,
  chainEntryLength,
  chainEntrySpan,
  type CallChain,
} from './call-chain.js';
import { CHAINED, LATE, type BatchMemory, type Range } from './memory.js';

const MAX_IOV = 1024;
const MAX_READ = 64 << 20;
const MAX_BATCH_BYTES = 4 << 20;

/** A u64 field of an iovec (addresses and lengths below 2^53). */
export function putU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v % 0x1_0000_0000, off);
  buf.writeUInt32LE(Math.floor(v / 0x1_0000_0000), off + 4);
}

const valid = (addr: number, len: number) =>
  len > 0 && len <= MAX_READ && addr > 0 && Number.isSafeInteger(addr) && Number.isSafeInteger(len);

export class RemoteMemory implements BatchMemory {
  private readonly liov = Buffer.alloc(16);
  private readonly riov = Buffer.alloc(16 * MAX_IOV);
  calls = 0;

  constructor(readonly pid: number) {}

  read(addr: number, len: number): Buffer | null {
    if (len === 0) return Buffer.alloc(0);
    if (!valid(addr, len)) return null;
    const out = Buffer.allocUnsafe(len);
    const c = libc();
    putU64(this.liov, 0, c.address(out));
    putU64(this.liov, 8, len);
    putU64(this.riov, 0, addr);
    putU64(this.riov, 8, len);
    this.calls++;
    return c.processVmReadv(this.pid, this.liov, 1, this.riov, 1, 0) === len ? out : null;
  }

  /**
   * One process_vm_readv of `count` remote ranges already written to `iov` ({addr, len} u64 pairs) into
   * the first `len` bytes of `dest` (a buffer from destination()). Returns the bytes read: the kernel
   * stops at the first unreadable range.
   */
  readPrepared(dest: { addr: number }, len: number, iov: Buffer, count: number): number {
    putU64(this.liov, 0, dest.addr);
    putU64(this.liov, 8, len);
    this.calls++;
    return libc().processVmReadv(this.pid, this.liov, 1, iov, count, 0);
  }

  /** A buffer for readPrepared, its address taken now rather than in a pause. */
  destination(len: number): { bytes: Buffer; addr: number } {
    const bytes = Buffer.allocUnsafeSlow(len);
    return { bytes, addr: libc().address(bytes) };
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
      const dest = Buffer.allocUnsafe(total);
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
 * The copy cut into its planned spans, by address: span i < count is lens[i] bytes of bufs[i] from
 * offs[i]. The arrays are written over from sample to sample (emptied, V8 would free and regrow them).
 */
interface Spans {
  count: number;
  starts: number[];
  lens: number[];
  bufs: Buffer[];
  offs: number[];
  /** The span of the last lookup that found one (a walk reads a span's records one after another). */
  last: number;
}

const noSpans = (): Spans => ({ count: 0, starts: [], lens: [], bufs: [], offs: [], last: 0 });

function clearSpans(s: Spans): void {
  s.count = 0;
  s.last = 0;
}

function addSpan(s: Spans, addr: number, buf: Buffer, off: number, len: number): void {
  setSpan(s, s.count++, addr, buf, off, len);
}

/** Entry `i` of the spans' arrays (past `count`: a call chain's record, see PrefetchMemory.chainSpan). */
function setSpan(s: Spans, i: number, addr: number, buf: Buffer, off: number, len: number): void {
  s.starts[i] = addr;
  s.lens[i] = len;
  s.bufs[i] = buf;
  s.offs[i] = off;
}

/** Index of the span that holds addr..addr+len, or -1. */
function spanIndex(s: Spans, addr: number, len: number): number {
  const starts = s.starts;
  const last = s.last;
  if (last < s.count && addr >= starts[last] && addr - starts[last] + len <= s.lens[last]) return last;
  let lo = 0;
  let hi = s.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= addr) lo = mid + 1;
    else hi = mid - 1;
  }
  if (hi < 0 || addr - starts[hi] + len > s.lens[hi]) return -1;
  s.last = hi;
  return hi;
}

/** The reads that overlap none of the ranges. */
function outside<T extends Range>(reads: readonly T[], ranges: readonly Range[]): T[] {
  return reads.filter((r) => !overlapsAny(r, ranges));
}

function overlapsAny(r: Range, ranges: readonly Range[]): boolean {
  return ranges.some((u) => r.addr < u.addr + u.len && u.addr < r.addr + r.len);
}

/** How many different walks' reads the next pause copies. */
const RECENT_WALKS = 8;

export type { Range };

interface WalkRead extends Range {
  /** Read through readLate: copied after the other spans (LATE). */
  late?: number;
  /** A record of a call chain (CHAINED): left out of plans while a copier copies the chain itself. */
  chained?: boolean;
}

/** A span of one walk's reads, merged by address, and how late its reads were (see setPlan). */
interface WalkSpan extends Range {
  /** The reads merged into it. */
  parts: Range[];
  /** The latest LATE level of its reads (the walk's first read is LATE.root). */
  late: number;
  /** The order of its first LATE.root read among the walk's (Infinity: none). */
  root: number;
}

/** One recent walk: its reads in walk order, and the spans they make (made once, when it is added). */
interface RecentWalk {
  reads: WalkRead[];
  spans: WalkSpan[];
}

interface PlannedSpan extends Range {
  /** The walks' spans merged into this span (their reads are its parts). */
  from: WalkSpan[];
  late: number;
  root: number;
}

/**
 * Merges ranges sorted by address (then length) into spans: a range that starts within maxGap of the
 * last span's end joins it while the span stays within maxSpan.
 */
function mergeSorted<T extends Range, S extends Range>(
  sorted: readonly T[],
  maxGap: number,
  maxSpan: number,
  start: (r: T) => S,
  join: (span: S, r: T) => void,
): S[] {
  const out: S[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    const end = r.addr + r.len;
    if (last && r.addr <= last.addr + last.len + maxGap && end - last.addr <= maxSpan) {
      last.len = Math.max(last.len, end - last.addr);
      join(last, r);
    } else out.push(start(r));
  }
  return out;
}

/** What a copy holds: its spans in copy order, where each starts in it, and their order by address. */
interface CopyPlan {
  /** In copy order: by address, except the spans walks read late (readLate), which go last. */
  spans: PlannedSpan[];
  offsets: number[];
  byAddr: number[];
  bytes: number;
  /** Incremented with every new plan. */
  version: number;
}

const NO_PLAN: CopyPlan = { spans: [], offsets: [], byAddr: [], bytes: 0, version: 0 };

/**
 * Plans kept after a newer one is made: copies another thread took with them are still read
 * (sampler/copier queues up to 16 before they are walked).
 */
const EARLIER_PLANS = 3;

/** Walks between two plans made for stable reads alone (see PrefetchMemory.stableMissed). */
const STABLE_REPLAN_WALKS = 16;

function sameRanges(a: readonly Range[], b: readonly Range[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].addr !== b[i].addr || a[i].len !== b[i].len) return false;
  return true;
}

/** A plan as one pass of process_vm_readv's remote iovecs (PrefetchMemory.exportPlan). */
interface ExportedPlan {
  iov: Buffer;
  count: number;
  bytes: number;
  version: number;
}

/**
 * Serves a pause's reads from one batched read of what the previous walks needed: the ranges a walker
 * reads change little from sample to sample, so most pauses cost one system call. Nearby ranges are
 * merged into one span (the kernel's cost is per range, not per byte). The copy is taken while the
 * target is stopped, so it is as consistent as direct reads; after detached(), the walk runs on the
 * copy alone and a read outside it fails (and is planned for the next pause).
 *
 * The pause itself does as little as possible: the system call's arguments are built when the plan is
 * made and its destination allocated after the previous walk, and the copy is cut into spans on the
 * first read. After a sampler's sleep every instruction runs on cold caches, and at 100 Hz the JS work
 * around the copy once cost more pause time than the copy.
 */
export class PrefetchMemory implements BatchMemory {
  private readonly spans = noSpans();
  /** The plan the next copies take. */
  private current: CopyPlan = NO_PLAN;
  /** The plan of the copy being read (an earlier one for a copy taken elsewhere: beginFrom). */
  private served: CopyPlan = NO_PLAN;
  /** The plans before the current one, newest last, for copies taken elsewhere with them. */
  private readonly earlier: CopyPlan[] = [];
  /** The plan as process_vm_readv's remote iovecs, slot 0 kept for begin()'s extra range. */
  private iov = Buffer.alloc(16);
  private exported: ExportedPlan | null = null;
  private iovPlanOnly = this.iov.subarray(16);
  /** Where the next pause's bytes go; a copy handed out is never written again. */
  private dest: { bytes: Buffer; addr: number } = { bytes: Buffer.alloc(0), addr: 0 };
  private destLent = false;
  private extraCapacity = 0;
  /** The last copy, cut into spans on the first read. */
  private copied: { bytes: Buffer; extraLen: number } | null = null;
  /** The last whole copy (every pass), kept until the walk ends. */
  private lastCopy: { bytes: Buffer; extraLen: number } | null = null;
  /** The pass reads are served from, and how many the last copy took. */
  private pass = 0;
  private passes = 1;
  /** The reads of the walk since begin(), as numbers (objects are made only when they shape a plan). */
  private readonly usedAddr: number[] = [];
  private readonly usedLen: number[] = [];
  private readonly usedFlags: number[] = [];
  private usedCount = 0;
  private readonly recent: RecentWalk[] = [];
  private leavingChained = false;
  /** The read being looked up is one of those (see miss()). */
  private readChained = false;
  /** The call chain a copy taken elsewhere came with (beginFrom), its records' length, and where the walk is in it. */
  private chain: Buffer | null = null;
  private chainRecord = 0;
  private chainNext = 0;
  private chainLaid = false;
  private chainEntries = 0;
  /** After the thread runs again: reads only from what begin() copied. */
  private strict = false;
  /** A read after detached() fell outside the copy (the walk needs a pause of its own). */
  missedWhileStrict = false;
  hits = 0;
  misses = 0;
  /** The walk since begin() read something the copy did not hold. */
  private walkMissed = false;
  /**
   * It read an object that does not change (readStable) that the copy did not hold. Such reads are
   * planned too, but at most once in STABLE_REPLAN_WALKS walks: a function made per call is at a new
   * address every time, and a plan made for each would be outdated by the next sample.
   */
  private stableMissed = false;
  private walksSinceStableReplan = 0;
  /**
   * Planned reads the last copy could not read at all (memory freed since: a stack or call-record
   * array the target reallocated). Left in the plan, such a range cuts every copy taken with it
   * short: process_vm_readv stops at the first range it cannot read.
   */
  private unreadable: Range[] = [];

  constructor(
    private readonly inner: RemoteMemory,
    private readonly maxGap = 512,
    private readonly maxSpan = 256 << 10,
    /** How many different walks' reads the plan covers (a copy of a running thread must rarely miss). */
    private readonly recentWalks = RECENT_WALKS,
    /**
     * Passes over the plan that begin() copies in one system call, each µs after the one before: a
     * walk that finds its copy torn can use a copy of (almost) the same instant instead of a later one.
     */
    private readonly copies = 1,
    /** What a copier's copy takes at most: bytes, and spans each cut in pieces of pieceBytes (tick-program.ts). */
    private readonly copyBound: { spans: number; pieceBytes: number; bytes: number } | null = null,
  ) {}

  /**
   * The copies come with the thread's call chain (beginFrom): its records (read as CHAINED) are left
   * out of plans, which would otherwise copy the records of every recent walk wherever they were then.
   */
  get leaveChained(): boolean {
    return this.leavingChained;
  }

  set leaveChained(leave: boolean) {
    if (leave === this.leavingChained) return;
    this.leavingChained = leave;
    // The walks before (taken without the chain) read its records: a plan made of them copies every
    // record they met, wherever it was, which on lua5.2's deep torn.lua came to 110-150 spans, more
    // than a tick's copy takes. The tick copier then copied nothing, for the rest of the recording,
    // and the walks that came did not read enough to push those walks out.
    if (leave) this.replanWithout((r) => r.chained === true);
  }

  /** Takes the reads `drop` selects out of the recent walks, and plans anew from what is left. */
  private replanWithout(drop: (r: WalkRead) => boolean): void {
    if (!this.dropReads(drop)) return;
    const next = this.planFromRecent();
    if (!this.isCurrentPlan(next)) this.setPlan(next);
  }

  /** A plan exists: begin() will copy what earlier walks read. */
  get planned(): boolean {
    return this.current.spans.length > 0;
  }

  /**
   * Inside a pause: copies the planned spans, and `extra` (e.g. a thread's stack) in the same batched
   * read; returns extra's bytes (null when none or unreadable). Only planned spans serve read().
   */
  begin(extra: Range | null = null, passes = this.copies): Buffer | null {
    this.reset();
    const plan = (this.served = this.current);
    if (plan.spans.length === 0) return extra ? this.inner.read(extra.addr, extra.len) : null;
    const extraLen = extra ? extra.len : 0;
    this.passes = Math.max(1, Math.min(passes, this.copies));
    const want = plan.bytes * this.passes + extraLen;
    if (extraLen > this.extraCapacity) this.extraCapacity = extraLen;
    if (this.destLent || this.dest.bytes.length < want) this.freshDest();
    let got: number;
    const count = plan.spans.length * this.passes;
    if (extra) {
      putU64(this.iov, 0, extra.addr);
      putU64(this.iov, 8, extra.len);
      got = this.inner.readPrepared(this.dest, want, this.iov, count + 1);
    } else got = this.inner.readPrepared(this.dest, want, this.iovPlanOnly, count);
    if (got !== want) return this.beginPiecewise(extra);
    // One pass, or extra's bytes returned: the copy may be handed out (a native stack) and outlive the walk. Several passes
    // (copies of a running thread): nothing outlives the sample, and a destination written again
    // costs no page faults, a fresh one does on every sample.
    this.destLent = this.copies === 1 || extra !== null;
    this.copied = this.lastCopy = { bytes: this.dest.bytes, extraLen };
    return extra ? this.dest.bytes.subarray(0, extraLen) : null;
  }

  /**
   * Instead of begin(): the walk reads a copy of one pass over the plan that another thread took
   * (sampler/copier), with the plan of version `planVersion` (the current one or one of the few
   * before it). False when that plan is gone, or the copy is short (then nothing was begun).
   */
  beginFrom(
    bytes: Buffer,
    planVersion: number,
    chain: Buffer | null = null,
    chainOf: CallChain | null = null,
  ): boolean {
    const plan =
      planVersion === this.current.version
        ? this.current
        : this.earlier.find((p) => p.version === planVersion);
    if (!plan || plan.spans.length === 0) return false;
    if (bytes.length !== plan.bytes) {
      if (plan === this.current) this.dropUnreadable();
      return false;
    }
    this.reset();
    this.served = plan;
    this.passes = 1;
    this.copied = this.lastCopy = { bytes, extraLen: 0 };
    if (chain && chainOf) {
      this.chain = chain;
      this.chainLaid = false;
      this.chainRecord = chainOf.recordBytes;
    }
    return true;
  }

  copiedChain(): Buffer | null {
    return this.chain;
  }

  /**
   * The copy's call chain entry at `addr` (read whole or in part from its start), as a span index
   * past the planned spans; -1 when the chain does not hold it. The walk reads the chain in its order.
   */
  private chainSpan(addr: number, len: number): number {
    const chain = this.chain!;
    const s = this.spans;
    if (!this.chainLaid) {
      // Laid out past the planned spans on first use (cut() has made those by now).
      this.chainLaid = true;
      let n = 0;
      for (let at = 0; at + CHAIN_ENTRY_BYTES <= chain.length; n++) {
        const bytes = chainEntryLength(chain, at, this.chainRecord);
        setSpan(s, s.count + n, chainEntryAddress(chain, at), chain, at + 8, bytes);
        at += chainEntrySpan(bytes);
      }
      this.chainEntries = n;
    }
    const n = this.chainEntries;
    for (let k = 0; k < n; k++) {
      const j = this.chainNext + k < n ? this.chainNext + k : this.chainNext + k - n;
      if (s.starts[s.count + j] === addr && len <= s.lens[s.count + j]) {
        this.chainNext = j + 1;
        return s.count + j;
      }
    }
    return -1;
  }

  /** The plan as one pass of process_vm_readv's remote iovecs, for a copy taken elsewhere (beginFrom). */
  exportPlan(): ExportedPlan {
    // Asked for every sample; it changes with the plan only.
    if (this.exported?.version === this.current.version && this.exported.iov.buffer === this.iov.buffer)
      return this.exported;
    const count = this.current.spans.length;
    this.exported = {
      iov: this.iovPlanOnly.subarray(0, count * 16),
      count,
      bytes: this.current.bytes,
      version: this.current.version,
    };
    return this.exported;
  }

  /** The version of the plan the next copies take (it changes when a walk read what none held). */
  get planVersion(): number {
    return this.current.version;
  }

  private reset(): void {
    this.chain = null;
    this.chainNext = 0;
    this.strict = false;
    this.missedWhileStrict = false;
    this.walkMissed = false;
    this.stableMissed = false;
    this.usedCount = 0;
    clearSpans(this.spans);
    this.copied = null;
    this.lastCopy = null;
    this.pass = 0;
  }

  /**
   * A copy taken elsewhere with the current plan came short: a span failed (freed since it was
   * planned). One copy here finds what can no longer be read, and the plan leaves it out.
   */
  private dropUnreadable(): void {
    this.begin(null, 1);
    const unreadable = this.unreadable;
    this.unreadable = [];
    if (unreadable.length > 0) this.replanWithout((r) => overlapsAny(r, unreadable));
    this.release();
  }

  /** Part of the copy was unreadable (a span freed since it was planned): span by span, then read by read. */
  private beginPiecewise(extra: Range | null): Buffer | null {
    const spans: { addr: number; buf: Buffer }[] = [];
    const plan = this.current.spans;
    const bufs = this.inner.readMany(extra ? [...plan, extra] : plan);
    const failed: Range[] = [];
    plan.forEach((p, i) => {
      const b = bufs[i];
      if (b) spans.push({ addr: p.addr, buf: b });
      else for (const w of p.from) failed.push(...w.parts);
    });
    if (failed.length) {
      const again = this.inner.readMany(failed);
      failed.forEach((p, i) => {
        const b = again[i];
        if (b) spans.push({ addr: p.addr, buf: b });
        else this.unreadable.push(p);
      });
    }
    spans.sort((a, b) => a.addr - b.addr);
    for (const sp of spans) addSpan(this.spans, sp.addr, sp.buf, 0, sp.buf.length);
    return extra ? bufs[plan.length] : null;
  }

  private freshDest(): void {
    this.dest = this.inner.destination(this.current.bytes * this.copies + this.extraCapacity);
    this.destLent = false;
  }

  /** Cuts the pause's copy into the planned spans (in plan order, after extra's bytes). */
  private cutSpans(): void {
    const { bytes, extraLen } = this.copied!;
    this.copied = null;
    this.cut(bytes, extraLen);
  }

  /** Pass `pass` of a copy, cut into the planned spans, sorted by address. */
  private cut(bytes: Buffer, extraLen: number, pass = 0): void {
    const plan = this.served;
    for (const i of plan.byAddr) {
      const p = plan.spans[i];
      addSpan(this.spans, p.addr, bytes, extraLen + pass * plan.bytes + plan.offsets[i], p.len);
    }
  }

  /**
   * Serves the walk from the next pass of the copy from now on: the walk starts again on it. False
   * when there is none (the last pass is in use, or the copy had to be taken piecewise).
   */
  useNextCopy(): boolean {
    const c = this.lastCopy;
    if (this.pass + 1 >= this.passes || !c) return false;
    this.pass++;
    this.copied = null;
    this.usedCount = 0;
    this.missedWhileStrict = false;
    clearSpans(this.spans);
    this.cut(c.bytes, c.extraLen, this.pass);
    return true;
  }

  /** The thread runs again: until end(), reads are served from the copy or fail. */
  detached(): void {
    this.strict = true;
  }

  /** Ends a walk that must not shape the next plan (a rehearsal on the running target). */
  discard(): void {
    this.strict = false;
    this.release();
  }

  /** Plans the next pause's copy: what this walk and the last few different walks read. */
  end(): void {
    this.strict = false;
    // The copy held all the walk read: the plan stands (re-planning is the costly part of a sample
    // of a deep stack whose depth changes every time).
    this.walksSinceStableReplan++;
    const replanStable = this.stableMissed && this.walksSinceStableReplan >= STABLE_REPLAN_WALKS;
    const unreadable = this.unreadable;
    this.unreadable = [];
    if (!this.walkMissed && !replanStable && unreadable.length === 0 && this.current.spans.length > 0) {
      this.release();
      return;
    }
    if (replanStable) this.walksSinceStableReplan = 0;
    const used: WalkRead[] = [];
    for (let i = 0; i < this.usedCount; i++) {
      const flags = this.usedFlags[i];
      const read: WalkRead = { addr: this.usedAddr[i], len: this.usedLen[i] };
      if (flags & ~CHAINED) read.late = flags & ~CHAINED;
      if (flags & CHAINED) read.chained = true;
      used.push(read);
    }
    if (unreadable.length > 0) this.forget(unreadable);
    const walk = unreadable.length > 0 ? outside(used, unreadable) : used;
    // A program alternating between coroutines reads each one's state and stack every other sample;
    // a walk that reads what one of the recent ones read changes nothing.
    const seen = this.recent.findIndex((w) => sameRanges(w.reads, walk));
    if (seen >= 0 && unreadable.length === 0) {
      // Least recently seen goes first when a new shape comes.
      if (seen !== this.recent.length - 1) this.recent.push(...this.recent.splice(seen, 1));
    } else {
      if (seen < 0) this.recent.push(this.recentWalk(walk));
      if (this.recent.length > this.recentWalks) this.recent.shift();
      const next = this.planFromRecent();
      // The same spans: the plan (and its version, which copies in flight were taken with) stands.
      if (!this.isCurrentPlan(next)) this.setPlan(next);
    }
    this.release();
  }

  /** The current plan copies exactly these spans (sorted by address). */
  private isCurrentPlan(byAddr: readonly PlannedSpan[]): boolean {
    const { spans, byAddr: order } = this.current;
    if (spans.length !== byAddr.length) return false;
    for (let k = 0; k < byAddr.length; k++) {
      const p = spans[order[k]];
      if (p.addr !== byAddr[k].addr || p.len !== byAddr[k].len) return false;
    }
    return true;
  }

  /** Takes the ranges out of the recent walks' reads, so that no plan made from them holds them. */
  private forget(ranges: readonly Range[]): void {
    this.dropReads((r) => overlapsAny(r, ranges));
  }

  /** Takes the reads `drop` selects out of the recent walks; false when none was. */
  private dropReads(drop: (r: WalkRead) => boolean): boolean {
    let dropped = false;
    for (let i = 0; i < this.recent.length; i++) {
      const reads = this.recent[i].reads;
      if (!reads.some(drop)) continue;
      this.recent[i] = this.recentWalk(reads.filter((r) => !drop(r)));
      dropped = true;
    }
    return dropped;
  }

  /** Drops the copy, and readies the next pause's destination now rather than inside that pause. */
  private release(): void {
    this.copied = null;
    this.lastCopy = null;
    clearSpans(this.spans);
    if (this.destLent || this.dest.bytes.length < this.current.bytes * this.copies + this.extraCapacity)
      this.freshDest();
  }

  private setPlan(byAddr: PlannedSpan[]): void {
    // A copy of a running thread reads its spans one after another: those the walk read late (LATE)
    // go last, the thread headers (a walk's first read is one) the very last, in the order the walk
    // read them. Frames that returned while the rest was copied are then not reported, the ones
    // called meanwhile are checked as torn, and a coroutine that shows as running was still running
    // when its resumer was read.
    const order = byAddr.map((_, i) => i);
    order.sort((a, b) => byAddr[a].late - byAddr[b].late || byAddr[a].root - byAddr[b].root || a - b);
    const plan = order.map((i) => byAddr[i]);
    const offsets: number[] = [];
    let off = 0;
    for (const p of plan) {
      offsets.push(off);
      off += p.len;
    }
    if (this.current.spans.length > 0) {
      this.earlier.push(this.current);
      if (this.earlier.length > EARLIER_PLANS) this.earlier.shift();
    }
    this.current = {
      spans: plan,
      offsets,
      byAddr: plan.map((_, i) => i).sort((a, b) => plan[a].addr - plan[b].addr),
      bytes: off,
      version: this.current.version + 1,
    };
    this.iov = Buffer.alloc(16 * (plan.length * this.copies + 1));
    this.iovPlanOnly = this.iov.subarray(16);
    for (let pass = 0; pass < this.copies; pass++) {
      plan.forEach((p, i) => {
        putU64(this.iovPlanOnly, (pass * plan.length + i) * 16, p.addr);
        putU64(this.iovPlanOnly, (pass * plan.length + i) * 16 + 8, p.len);
      });
    }
  }

  /**
   * The plan: the recent walks' spans merged (each walk's reads were merged into spans once, when it
   * came: a replan sorts spans, not every read of 64 walks of a deep stack again).
   */
  private planFromRecent(): PlannedSpan[] {
    for (;;) {
      const plan = this.mergeRecent();
      // A plan a copier cannot take leaves every sample of the thread to the usual way (lua5.2's
      // torn.lua: up to 189 spans, a coroutine's call records reallocated by each collection). The
      // oldest half of the walks goes, as often as needed: a plan cut just under the bound would
      // be over it again at the next new shape.
      if (this.recent.length <= 1 || this.fitsCopy(plan)) return plan;
      this.recent.splice(0, this.recent.length >> 1);
    }
  }

  private fitsCopy(plan: readonly PlannedSpan[]): boolean {
    const bound = this.copyBound;
    if (bound === null) return true;
    let pieces = 0;
    let bytes = 0;
    for (const p of plan) {
      pieces += Math.ceil(p.len / bound.pieceBytes);
      bytes += p.len;
    }
    return pieces <= bound.spans && bytes <= bound.bytes;
  }

  private mergeRecent(): PlannedSpan[] {
    const spans = this.recent.flatMap((w) => w.spans);
    spans.sort((a, b) => a.addr - b.addr || a.len - b.len);
    const plan = mergeSorted<WalkSpan, PlannedSpan>(
      spans,
      this.maxGap,
      this.maxSpan,
      (w) => ({ addr: w.addr, len: w.len, from: [w], late: w.late, root: w.root }),
      (p, w) => {
        p.from.push(w);
        if (w.late > p.late) p.late = w.late;
        if (w.root < p.root) p.root = w.root;
      },
    );
    return plan.slice(0, 1024);
  }

  /**
   * A walk's reads and their spans. Those it read late go later in a copy (setPlan), the thread
   * headers (a walk's first read is one) the very last, in the order the walk read them.
   */
  private recentWalk(reads: WalkRead[]): RecentWalk {
    const level = new Array<number>(reads.length);
    const rootOrder = new Array<number>(reads.length);
    let roots = 0;
    const kept: number[] = [];
    for (let k = 0; k < reads.length; k++) {
      level[k] = k === 0 ? LATE.root : (reads[k].late ?? 0);
      rootOrder[k] = level[k] === LATE.root ? roots++ : Infinity;
      if (reads[k].len <= this.maxSpan) kept.push(k);
    }
    kept.sort((a, b) => reads[a].addr - reads[b].addr || reads[a].len - reads[b].len);
    const spans = mergeSorted<{ addr: number; len: number; k: number }, WalkSpan>(
      kept.map((k) => ({ addr: reads[k].addr, len: reads[k].len, k })),
      this.maxGap,
      this.maxSpan,
      (r) => ({ addr: r.addr, len: r.len, parts: [reads[r.k]], late: level[r.k], root: rootOrder[r.k] }),
      (w, r) => {
        w.parts.push(reads[r.k]);
        if (level[r.k] > w.late) w.late = level[r.k];
        if (rootOrder[r.k] < w.root) w.root = rootOrder[r.k];
      },
    );
    return { reads, spans };
  }

  readLate(addr: number, len: number, late: number): Buffer | null {
    return this.readRange(addr, len, late);
  }

  /** Where locateLate's bytes start in the buffer it returned. */
  locatedAt = 0;

  /** readLate without a view: the span that holds the bytes (from locatedAt), or what readLate gives. */
  locateLate(addr: number, len: number, late: number): Buffer | null {
    const i = this.find(addr, len, late);
    if (i < 0) {
      this.locatedAt = 0;
      return this.miss(addr, len, false, true);
    }
    this.locatedAt = this.spans.offs[i] + addr - this.spans.starts[i];
    return this.spans.bufs[i];
  }

  read(addr: number, len: number): Buffer | null {
    return this.readRange(addr, len, 0);
  }

  /**
   * A read the copy lacks is served by the thread itself even after detached(): the object does not
   * change while the frame that refers to it lives (a function made per call is at a new address
   * each time, so no plan holds it), and the walk's checks of its type stand for the rest.
   */
  readStable(addr: number, len: number): Buffer | null {
    return this.readRange(addr, len, 0, true);
  }

  /** readStable of several ranges: what the copy lacks is read from the thread in one batched read. */
  readManyStable(ranges: readonly Range[]): (Buffer | null)[] {
    const out: (Buffer | null)[] = new Array<Buffer | null>(ranges.length);
    let lacking: number[] | null = null;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i];
      out[i] = this.readRange(r.addr, r.len, 0, true, false);
      if (out[i] === null) (lacking ??= []).push(i);
    }
    if (lacking) {
      const got = this.inner.readMany(lacking.map((i) => ranges[i]));
      lacking.forEach((i, k) => (out[i] = got[k]));
    }
    return out;
  }

  private readRange(addr: number, len: number, late: number, stable = false, fetch = true): Buffer | null {
    const i = this.find(addr, len, late);
    if (i < 0) return this.miss(addr, len, stable, fetch);
    const off = this.spans.offs[i] + addr - this.spans.starts[i];
    return this.spans.bufs[i].subarray(off, off + len);
  }

  /** Notes a read of the walk, and the span of the copy that holds it (-1: none). */
  private find(addr: number, len: number, lateAndChained: number): number {
    if (this.copied) this.cutSpans();
    // The chain's records are where the tick found them: not part of a plan, so not noted for one.
    if (this.chain !== null && (lateAndChained & CHAINED) !== 0) {
      const c = this.chainSpan(addr, len);
      if (c >= 0) {
        this.hits++;
        return c;
      }
    }
    const chained = (lateAndChained & CHAINED) !== 0;
    this.readChained = chained && this.leaveChained;
    if (!this.readChained) {
      const k = this.usedCount++;
      this.usedAddr[k] = addr;
      this.usedLen[k] = len;
      this.usedFlags[k] = lateAndChained;
    }
    const i = spanIndex(this.spans, addr, len);
    if (i >= 0) this.hits++;
    return i;
  }

  /** A read the copy does not hold: from the thread, unless the walk is strict (see readStable). */
  private miss(addr: number, len: number, stable: boolean, fetch: boolean): Buffer | null {
    this.misses++;
    if (stable) this.stableMissed = true;
    // A record of the call chain left out of plans: no plan would hold it.
    else if (!this.readChained) this.walkMissed = true;
    if (this.strict && !stable) {
      this.missedWhileStrict = true;
      return null;
    }
    return fetch ? this.inner.read(addr, len) : null;
  }

  readMany(ranges: readonly Range[]): (Buffer | null)[] {
    return ranges.map((r) => this.read(r.addr, r.len));
  }
}
