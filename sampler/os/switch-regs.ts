/**
 * A thread's user registers at the moment it was switched out, without stopping it: a perf software
 * event that samples every context switch of the thread (PERF_COUNT_SW_CONTEXT_SWITCHES, period 1)
 * records PERF_SAMPLE_REGS_USER, the registers the thread left user mode with. When the sampler's
 * wake-up takes the thread's CPU at the sampling instant, the switch-out it causes carries the
 * registers of that instant: what a ptrace stop would read (LuaJIT's frame base, a native unwind's
 * start), with the thread never stopped. `node scripts/studies/switch-regs.mjs` showed every
 * switch-out carrying them.
 */
import { CLOCK_MONOTONIC, PERF_ATTR_SIZE, PERF_TYPE_SOFTWARE, PerfRing } from './perf-event.js';
import { u64 } from './memory.js';
import { USER_REGS_BYTES, USER_REGS_MASK, readUserRegs } from './perf-regs.js';
import type { Registers } from './registers.js';

const PERF_COUNT_SW_CONTEXT_SWITCHES = 3;
const PERF_SAMPLE_IP = 1 << 0;
const PERF_SAMPLE_TID = 1 << 1;
const PERF_SAMPLE_TIME = 1 << 2;
const PERF_SAMPLE_CPU = 1 << 7;
const PERF_SAMPLE_REGS_USER = 1 << 12;
const PERF_RECORD_SAMPLE = 9;
const DATA_PAGES = 16;

/** Header, ip, pid/tid, time, cpu/res, abi, the registers. */
export const SWITCH_SAMPLE_BYTES = 8 + 8 + 8 + 8 + 8 + 8 + USER_REGS_BYTES;
/** Switch-outs kept for lookups (a sample asks about the last few ms at most). */
const KEPT = 16;

export interface SwitchOut {
  /** CLOCK_MONOTONIC ns. */
  time: number;
  cpu: number;
  regs: Partial<Registers>;
}

/** One PERF_RECORD_SAMPLE of the event below (header included), or null when it is not one / has no user registers. */
export function parseSwitchSample(rec: Buffer): SwitchOut | null {
  if (rec.length < SWITCH_SAMPLE_BYTES || rec.readUInt32LE(0) !== PERF_RECORD_SAMPLE) return null;
  const time = u64(rec, 24);
  const cpu = rec.readUInt32LE(32);
  // abi 0: the thread had no user state (a kernel thread); the registers are absent.
  if (rec.readBigUInt64LE(40) === 0n) return null;
  return { time, cpu, regs: readUserRegs(rec, 48) };
}

export class SwitchRegs {
  private readonly kept: SwitchOut[] = [];
  private readonly rec = Buffer.alloc(SWITCH_SAMPLE_BYTES);

  private constructor(private readonly ring: PerfRing) {}

  /** The event on one thread; null where perf events are refused (not root, perf_event_paranoid, no PMU support). */
  static open(tid: number): SwitchRegs | null {
    const attr = Buffer.alloc(PERF_ATTR_SIZE);
    attr.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
    attr.writeUInt32LE(PERF_ATTR_SIZE, 4);
    attr.writeBigUInt64LE(BigInt(PERF_COUNT_SW_CONTEXT_SWITCHES), 8);
    attr.writeBigUInt64LE(1n, 16); // sample_period: every switch
    attr.writeBigUInt64LE(
      BigInt(PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_REGS_USER),
      24,
    );
    // flags: exclude_hv (6), use_clockid (25). The switch is counted in the kernel: kernel not excluded.
    attr.writeBigUInt64LE((1n << 6n) | (1n << 25n), 40);
    attr.writeBigUInt64LE(USER_REGS_MASK, 80);
    attr.writeInt32LE(CLOCK_MONOTONIC, 92);
    const ring = PerfRing.open(attr, tid, DATA_PAGES);
    return ring ? new SwitchRegs(ring) : null;
  }

  /** The registers of the thread's last switch-out in [fromNs, toNs] (CLOCK_MONOTONIC), or null. */
  at(fromNs: number, toNs: number): Partial<Registers> | null {
    this.drain();
    for (let i = this.kept.length - 1; i >= 0; i--) {
      const k = this.kept[i];
      if (k.time <= toNs) return k.time >= fromNs ? k.regs : null;
    }
    return null;
  }

  /** Reads the switch-outs the kernel wrote since the last call (the last KEPT are kept). */
  private drain(): void {
    this.ring.drain(this.rec, this.readSwitchOut);
  }

  private readonly readSwitchOut = (rec: Buffer | null): void => {
    const s = rec?.length === SWITCH_SAMPLE_BYTES ? parseSwitchSample(rec) : null;
    if (!s) return;
    this.kept.push(s);
    if (this.kept.length > KEPT) this.kept.shift();
  };

  close(): void {
    this.ring.close();
  }
}
