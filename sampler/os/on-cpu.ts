/**
 * Whether a thread was on a CPU at a given moment, known without stopping or reading /proc: the
 * kernel writes a record into a ring buffer shared with us each time the thread is switched in or out
 * (a perf "dummy" event with context_switch records, timestamped with CLOCK_MONOTONIC).
 */
import { performance } from 'node:perf_hooks';
import { CLOCK_MONOTONIC, PERF_ATTR_SIZE, PERF_TYPE_SOFTWARE, PerfRing } from './perf-event.js';

const PERF_COUNT_SW_DUMMY = 9;
const PERF_SAMPLE_TID = 1 << 1;
const PERF_SAMPLE_TIME = 1 << 2;
const PERF_SAMPLE_CPU = 1 << 7;
const PERF_RECORD_SWITCH = 14;
const MISC_SWITCH_OUT = 0x2000;
const MISC_SWITCH_OUT_PREEMPT = 0x4000;
const DATA_PAGES = 8;
/** PERF_RECORD_SWITCH with its sample_id (tid, time, cpu): header and 24 bytes. */
const SWITCH_RECORD_BYTES = 32;

/**
 * performance.now() in ns on CLOCK_MONOTONIC, the clock process.hrtime reads: both come from
 * uv_hrtime, so the offset is learnt once, between two hrtime reads (within their gap, ~0.1 µs).
 */
function hrtimeOffsetNs(): number {
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i++) {
    const before = process.hrtime.bigint();
    const now = performance.now();
    const after = process.hrtime.bigint();
    const gap = Number(after - before);
    if (gap < best) {
      best = gap;
      offset = Number(before) + gap / 2 - now * 1e6;
    }
  }
  return offset;
}
const OFFSET_NS = hrtimeOffsetNs();

/**
 * Now, on the clock the switch records carry (CLOCK_MONOTONIC, ns), without the BigInt of
 * process.hrtime.bigint() (a sample reads it several times).
 */
export const monotonicNs = (): number => OFFSET_NS + performance.now() * 1e6;

export type CpuState = 'on' | 'preempted' | 'sleeping' | 'unknown';

export class OnCpuTracker {
  /** A switch record that wraps around the ring's end, copied out whole. */
  private readonly rec = Buffer.alloc(SWITCH_RECORD_BYTES);
  /** Switches read since the oldest moment still to be judged: [time, state after] pairs. */
  private readonly recent: { time: number; state: CpuState }[] = [];
  /** Time of the last switch before the moment stateDuring() was asked about (ns, CLOCK_MONOTONIC). */
  switchedAt = 0;
  /** The CPU of the thread's last switch (-1 before the first). */
  private lastCpu = -1;

  private constructor(private readonly ring: PerfRing) {}

  static open(tid: number): OnCpuTracker | null {
    const attr = Buffer.alloc(PERF_ATTR_SIZE);
    attr.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
    attr.writeUInt32LE(PERF_ATTR_SIZE, 4);
    attr.writeBigUInt64LE(BigInt(PERF_COUNT_SW_DUMMY), 8);
    attr.writeBigUInt64LE(BigInt(PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU), 24);
    // flags (u64 at 40): exclude_kernel (bit 5), exclude_hv (6), sample_id_all (18), use_clockid (25), context_switch (26)
    const flags = (1n << 5n) | (1n << 6n) | (1n << 18n) | (1n << 25n) | (1n << 26n);
    attr.writeBigUInt64LE(flags, 40);
    attr.writeInt32LE(CLOCK_MONOTONIC, 92); // clockid
    const ring = PerfRing.open(attr, tid, DATA_PAGES);
    return ring ? new OnCpuTracker(ring) : null;
  }

  /** Reads the switches the kernel wrote since the last call. */
  private drain(): void {
    this.ring.drain(this.rec, this.readSwitch);
  }

  private readonly readSwitch = (rec: Buffer | null): void => {
    // sample_id after the header: pid u32, tid u32, time u64, cpu u32, res u32
    if (!rec || rec.length < SWITCH_RECORD_BYTES || rec.readUInt32LE(0) !== PERF_RECORD_SWITCH) return;
    const misc = rec.readUInt16LE(4);
    const time = rec.readUInt32LE(20) * 0x1_0000_0000 + rec.readUInt32LE(16);
    this.lastCpu = rec.readUInt32LE(24);
    const st: CpuState =
      misc & MISC_SWITCH_OUT ? (misc & MISC_SWITCH_OUT_PREEMPT ? 'preempted' : 'sleeping') : 'on';
    this.recent.push({ time, state: st });
  };

  /** The CPU the thread last ran on, from its switches (-1 when none was seen yet). */
  cpu(): number {
    this.drain();
    return this.lastCpu;
  }

  /** Whether the thread switched in or out during the span last asked about (stateDuring). */
  switchedDuring = false;

  /** The thread's state throughout [from, to] (ns, CLOCK_MONOTONIC): 'on' only if on a CPU all along. */
  stateDuring(from: number, to: number): CpuState {
    this.drain();
    let st: CpuState = 'unknown';
    let changed = false;
    for (const r of this.recent) {
      if (r.time <= from) {
        st = r.state;
        this.switchedAt = r.time;
      } else if (r.time <= to) changed = true;
    }
    // Keep only the last record at or before `from`, and later ones.
    let keep = 0;
    for (let i = 0; i < this.recent.length; i++) if (this.recent[i].time <= from) keep = i;
    if (keep > 0) this.recent.splice(0, keep);
    this.switchedDuring = changed;
    if (changed) return st === 'on' ? 'preempted' : st;
    return st;
  }

  close(): void {
    this.ring.close();
  }
}
