/**
 * Copies of one thread taken by the kernel at the thread's own timer ticks (tick-program.ts): a
 * CPU-time timer on the thread fires in its context, where a BPF program copies the plan's spans into
 * a ring buffer this side reads without system calls. No context switch, no other thread on the
 * thread's CPU: the target pays the timer's interrupt and the copy, nothing else.
 *
 * The timer counts the thread's CPU time, so a thread that sleeps gives no copies (its samples would
 * be idle ones): `--idle` keeps the copier thread (copier.ts), whose clock is the wall's. Its period
 * is drawn again every REDRAW_MS (tickPeriodNs): a fixed period could keep sampling the
 * same phase of a loop of the same period.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import {
  deleteMapKey,
  lookupMap,
  createMap,
  loadProgram,
  loadProgramOffThread,
  possibleCpus,
  updateMap,
  BpfRing,
  MAP_ARRAY,
  MAP_HASH,
  MAP_RINGBUF,
  PROG_PERF_EVENT,
  programRunStats,
} from '../os/bpf.js';
import { closeFd } from '../os/shared-pages.js';
import { u32 } from '../os/memory.js';
import { monotonicNs } from '../os/on-cpu.js';
import { CHAIN_ENTRY_BYTES, type CallChain } from '../os/call-chain.js';
import { ThreadTimer, type UserSampleSpec } from '../os/perf-event.js';
import { USER_REGS_MASK } from '../os/perf-regs.js';
import { UserSamples } from '../os/user-samples.js';
import type { CopierCopy, CopySource } from './copier.js';
import {
  NONE_FAILED,
  PLAN_VALUE_BYTES,
  RECORD_CHAIN_COUNT,
  RECORD_HEADER,
  SCRATCH_BYTES,
  USER_SAMPLE,
  encodePlan,
  tickProgram,
  type TickLoops,
  type TickMaps,
} from './tick-program.js';

/** The ring: 8 records of the largest plan, ~1,000 of the usual ones (a power of two, in pages; 8 MB took 6 ms to make). */
export const RING_BYTES = 4 << 20;
/** A wait for a batch lets the threads' copies fill at most this much of the ring (a drawn period is ≥ 1/1.2 of the one asked). */
const RING_FILLED_BY_A_WAIT = RING_BYTES / 2;
const TICKS_PER_INTERVAL_MOST = 1.25;
/**
 * How often the timer's period is drawn again. Each change interrupts the thread's CPU once and
 * starts a whole period afresh (the part of the period run so far is lost: half of one on average).
 */
export const REDRAW_MS = 200;

/**
 * The timer's period: a rate uniform over [0.8, 1.2] times the rate asked (`u` uniform over [0, 1)),
 * plus the half period each redraw loses, so that the mean rate is the rate asked. The restart at a
 * moment of this process's own re-phases the ticks; the new period keeps them off a loop's frequency.
 */
export function tickPeriodNs(intervalMs: number, u: number): number {
  const hz = (1000 / intervalMs) * (0.8 + 0.4 * u) + 500 / REDRAW_MS;
  return 1e9 / hz;
}
/**
 * The longest wait for a batch whose copies leave room in the ring, when each tick of the threads
 * copied adds `bytesPerTick` to it: at least one interval (one copy of each thread).
 */
export function ringRoomMs(bytesPerTick: number, intervalMs: number): number {
  if (bytesPerTick <= 0) return Infinity;
  const ticks = RING_FILLED_BY_A_WAIT / bytesPerTick / TICKS_PER_INTERVAL_MOST;
  return Math.max(1, Math.floor(ticks)) * intervalMs;
}
/**
 * The timer's own samples (`--native`: registers and stack top at each tick) go to a ring of this many
 * pages: ~120 of 32 KB stacks, a tenth of a second at 1000 Hz.
 */
const USER_SAMPLE_PAGES = 1024;
/** --native: registers and stack top of a tick, with its copy (stack bytes; perf's limit is under 64 KB). */
export const NATIVE_TICK_STACK = 32 << 10;
/** What each tick records besides its copy when `stackBytes` of the stack are asked for (--native). */
export function userSampleSpec(stackBytes: number): UserSampleSpec {
  return { regsMask: USER_REGS_MASK, stackBytes, dataPages: USER_SAMPLE_PAGES };
}
/** A copy's user sample is stamped by the same firing, µs from the copy (ticks are ≥ 200 µs apart). */
const USER_SAMPLE_WITHIN_NS = 100_000;
/** Copies older than this when the sampler comes to them are given up (counted late). */
const MAX_LAG_MS = 100;
/** How often the count of copies lost (a full ring) is read (a system call; and once more at the end). */
const LOST_READ_MS = 1000;
const ZERO_KEY = Buffer.alloc(4);
/** Plans whose copies are still recognised. */
const PLANS_REMEMBERED = 4;
/** Threads of one process copied at most (a plan each in the program's map). */
const MAX_THREADS = 256;
/** The program's loops, in the order its loads try them: a kernel without may_goto refuses the first. */
const LOOPS_TRIED: readonly TickLoops[] = ['converging', 'walked'];

interface PlanRecord {
  version: number;
  /** Where each span starts in a copy (to tell how much of a copy whose span `i` failed is whole). */
  offsets: number[];
  bytes: number;
}

/** One thread's timer and the plans published for it (its key in the plans map is its id). */
class ThreadTicks {
  readonly key = Buffer.alloc(4);
  readonly plans = new Map<number, PlanRecord>();
  seq = 0;
  publishedVersion = -1;
  publishedChain: CallChain | null | undefined = null;
  publishedFits = false;
  paused = true;
  timerOn = false;
  /** The bytes a copy of it takes in the ring: its plan's, and its last record's (with the chain it followed). */
  planBytes = 0;
  lastRecordBytes = 0;
  /** The thread's /proc directory: gone once the thread has ended. */
  readonly taskDir: string;

  constructor(
    pid: number,
    readonly tid: number,
    readonly timer: ThreadTimer,
    /** The timer's own samples, when each copy comes with the thread's registers and stack top. */
    readonly user: UserSamples | null,
  ) {
    this.key.writeUInt32LE(tid, 0);
    this.taskDir = `/proc/${pid}/task/${tid}`;
  }

  /** Starts or stops the timer (each change reaches the thread's CPU: only when it changes). */
  ticking(on: boolean): boolean {
    if (on !== this.timerOn) this.timerOn = on ? this.timer.enable() : !this.timer.disable();
    return this.timerOn === on;
  }

  /** A record as a copy: its bytes are the ring's own, walked where the kernel wrote them, until done(). */
  read(r: Buffer): CopierCopy | null {
    const timeNs = u32(r, 4) * 0x1_0000_0000 + u32(r, 0);
    const seq = u32(r, 12);
    const failed = u32(r, 16);
    const plan = this.plans.get(seq);
    const bytes = Math.min(r.length - RECORD_HEADER, plan?.bytes ?? 0);
    const got = failed === NONE_FAILED ? bytes : Math.min(bytes, plan?.offsets[failed] ?? 0);
    const chainAt = RECORD_HEADER + bytes;
    const chainEnd = chainAt + u32(r, RECORD_CHAIN_COUNT) * CHAIN_ENTRY_BYTES;
    return {
      tid: this.tid,
      chain:
        got === bytes && chainEnd > chainAt && chainEnd <= r.length ? r.subarray(chainAt, chainEnd) : null,
      planSeq: seq,
      planVersion: plan?.version ?? -1,
      got,
      dueNs: timeNs,
      fromNs: timeNs,
      toNs: timeNs,
      bytes: r.subarray(RECORD_HEADER, RECORD_HEADER + got),
      still: true,
    };
  }
}

/**
 * The kernel's copies of the threads of one process: one program, its maps and one ring for them
 * all (the program loads once: ~4 ms of the verifier, ~130 ms without may_goto), and a timer per
 * thread, each record routed to its thread by the thread id it holds.
 */
export class TickCopiers implements CopySource {
  readonly usable = true;
  private lost = 0;
  private skipped = 0;
  private lostReadAt = 0;
  private readonly plan = Buffer.alloc(PLAN_VALUE_BYTES);
  private readonly sleepWord = new Int32Array(new SharedArrayBuffer(4));
  private readonly threads = new Map<number, ThreadTicks>();
  private nextRedraw = 0;

  private constructor(
    readonly pid: number,
    private readonly intervalMs: number,
    private readonly fds: number[],
    private readonly program: number,
    private readonly plansFd: number,
    private readonly lostFd: number,
    private readonly ring: BpfRing,
    private readonly random: () => number,
    /** Each copy comes with this much of the thread's stack and its registers (0: none). */
    private readonly userStackBytes: number,
  ) {}

  /**
   * The program and its maps for process `pid`; null where BPF is refused. With `userStackBytes`,
   * each copy comes with the registers and that much of the stack from rsp up (CopierCopy.user),
   * taken by the kernel at the same tick.
   */
  static open(
    pid: number,
    intervalMs: number,
    random: () => number = Math.random,
    userStackBytes = 0,
    loops: readonly TickLoops[] = LOOPS_TRIED,
  ): TickCopiers | null {
    const maps = TickCopiers.maps();
    if (!maps) return null;
    let program: number | string = 'no program tried';
    for (const l of loops) {
      program = loadProgram(PROG_PERF_EVENT, tickProgram(maps, l));
      if (typeof program === 'number') break;
    }
    return TickCopiers.made(pid, intervalMs, random, userStackBytes, maps, program);
  }

  /** open(), with the verifier's work on another thread (os/bpf.ts loadProgramOffThread). */
  static async load(
    pid: number,
    intervalMs: number,
    random: () => number = Math.random,
    userStackBytes = 0,
  ): Promise<TickCopiers | null> {
    const maps = TickCopiers.maps();
    if (!maps) return null;
    let program: number | string = 'no program tried';
    for (const l of LOOPS_TRIED) {
      program = await loadProgramOffThread(PROG_PERF_EVENT, tickProgram(maps, l));
      if (typeof program === 'number') break;
    }
    return TickCopiers.made(pid, intervalMs, random, userStackBytes, maps, program);
  }

  /** The program's maps, their fds also in `fds`; null, none left open, where refused. */
  private static maps(): (TickMaps & { fds: number[] }) | null {
    const fds: number[] = [];
    const made = (fd: number) => {
      if (fd >= 0) fds.push(fd);
      return fd;
    };
    const cpus = possibleCpus();
    const plans = made(createMap(MAP_HASH, 4, PLAN_VALUE_BYTES, MAX_THREADS));
    const scratch = cpus > 0 ? made(createMap(MAP_ARRAY, 4, SCRATCH_BYTES, cpus)) : -1;
    const ring = made(createMap(MAP_RINGBUF, 0, 0, RING_BYTES));
    const lost = made(createMap(MAP_ARRAY, 4, 8, 1));
    if (plans >= 0 && scratch >= 0 && ring >= 0 && lost >= 0) return { plans, scratch, ring, lost, fds };
    for (const fd of fds) closeFd(fd);
    return null;
  }

  /** The copiers of their maps and program (or the verifier's refusal); null, nothing left open, where refused. */
  private static made(
    pid: number,
    intervalMs: number,
    random: () => number,
    userStackBytes: number,
    maps: TickMaps & { fds: number[] },
    program: number | string,
  ): TickCopiers | null {
    const fds = maps.fds;
    if (typeof program === 'number') {
      fds.push(program);
      const ring = BpfRing.map(maps.ring, RING_BYTES);
      if (ring)
        return new TickCopiers(
          pid,
          intervalMs,
          fds,
          program,
          maps.plans,
          maps.lost,
          ring,
          random,
          userStackBytes,
        );
    }
    for (const fd of fds) closeFd(fd);
    return null;
  }

  /** Copies thread `tid` from now on (its timer opened, stopped until a plan comes); false where refused. */
  add(tid: number): boolean {
    if (this.threads.has(tid)) return true;
    if (this.threads.size >= MAX_THREADS || this.fds.length === 0) return false;
    const spec = this.userStackBytes > 0 ? userSampleSpec(this.userStackBytes) : undefined;
    const timer = ThreadTimer.open(tid, this.intervalMs * 1e6, this.program, spec);
    if (!timer) return false;
    const user = spec && timer.ring ? new UserSamples(timer.ring, this.userStackBytes) : null;
    const t = new ThreadTicks(this.pid, tid, timer, user);
    this.threads.set(tid, t);
    if (!this.writePlan(t, 0, 0, 0)) {
      this.remove(tid);
      return false;
    }
    return true;
  }

  /** Stops copying thread `tid` (it ended, or is sampled otherwise now). */
  remove(tid: number): void {
    const t = this.threads.get(tid);
    if (!t) return;
    t.timer.close();
    deleteMapKey(this.plansFd, t.key);
    this.threads.delete(tid);
  }

  /** The threads copied. */
  get tids(): number[] {
    return [...this.threads.keys()];
  }

  /** Copies these threads, and no others (added and removed as they change); false where one was refused. */
  copyOnly(threads: readonly { tid: number }[]): boolean {
    let same = threads.length === this.threads.size;
    for (let i = 0; same && i < threads.length; i++) same = this.threads.has(threads[i].tid);
    if (same) return true;
    for (const tid of this.tids) if (!threads.some((t) => t.tid === tid)) this.remove(tid);
    return threads.every((t) => this.add(t.tid));
  }

  /** Whether every thread copied still exists (a thread that ended gives no more copies). */
  get allAlive(): boolean {
    for (const t of this.threads.values()) if (!existsSync(t.taskDir)) return false;
    return true;
  }

  /**
   * Copies given up: the ring had no room for them (the kernel's count, read at most every
   * LOST_READ_MS), or the sampler came to them too late (MAX_LAG_MS).
   */
  get late(): number {
    const now = performance.now();
    if (now - this.lostReadAt >= LOST_READ_MS) {
      this.lostReadAt = now;
      this.readLost();
    }
    return this.lost + this.skipped;
  }

  private readLost(): void {
    if (this.fds.length === 0) return;
    const v = lookupMap(this.lostFd, ZERO_KEY, 8);
    if (v) this.lost = Number(v.readBigUInt64LE(0));
  }

  get hasReady(): boolean {
    return this.ring.hasRecords;
  }

  publishPlan(
    tid: number,
    iov: Buffer,
    count: number,
    bytes: number,
    version: number,
    chain?: CallChain | null,
  ): boolean {
    const t = this.threads.get(tid);
    if (!t) return false;
    // The chain changes apart from the plan when the host's coroutines are found in other stack words.
    if (version === t.publishedVersion && chain === t.publishedChain && !t.paused) return t.publishedFits;
    t.publishedVersion = version;
    t.publishedChain = chain;
    t.paused = false;
    t.publishedFits = false;
    const seq = t.seq + 1;
    const offsets = encodePlan(iov, count, bytes, seq, this.plan, t.user ? USER_SAMPLE : 0, chain ?? null);
    if (!offsets) return false;
    t.seq = seq;
    t.planBytes = RECORD_HEADER + bytes;
    t.plans.set(seq, { version, offsets, bytes });
    if (t.plans.size > PLANS_REMEMBERED) t.plans.delete(t.plans.keys().next().value!);
    t.publishedFits = updateMap(this.plansFd, t.key, this.plan) && t.ticking(true);
    return t.publishedFits;
  }

  /** -1: copy nothing of `tid` until its next plan (the sampler samples it its usual way meanwhile). */
  setCpu(tid: number, cpu: number): void {
    const t = this.threads.get(tid);
    if (!t || cpu >= 0 || t.paused) return;
    t.paused = true;
    // Its ticks stopped as well: each one interrupts the thread, copy or not.
    if (t.publishedFits) {
      t.ticking(false);
      this.writePlan(t, 0, 0, 0);
    }
  }

  /** The next copy of any thread (CopierCopy.tid says whose), waiting at most a batch's length. */
  next(timeoutMs: number, batch = 1): CopierCopy | null {
    const now = performance.now();
    if (now >= this.nextRedraw) {
      for (const t of this.threads.values()) t.timer.setPeriod(tickPeriodNs(this.intervalMs, this.random()));
      this.nextRedraw = now + REDRAW_MS;
    }
    if (!this.ring.hasRecords) {
      // The timers are the threads': records come as they run, so the wait is the batch's length.
      const batchMs = Math.max(1, batch) * this.intervalMs;
      Atomics.wait(this.sleepWord, 0, 0, Math.min(timeoutMs, batchMs, this.roomMs()));
    }
    // Copies the sampler is too far behind to walk in time are given up, counted late: a copy walked
    // long after its tick that lacks part of the stack would be completed from the thread as it is now.
    const oldest = monotonicNs() - MAX_LAG_MS * 1e6;
    this.release();
    for (let r = this.ring.peek(); r !== null; r = this.ring.peek()) {
      const t = r.length >= RECORD_HEADER ? this.threads.get(u32(r, 8)) : undefined;
      const copy = t ? t.read(r) : null;
      if (t) t.lastRecordBytes = r.length;
      if (copy !== null && copy.dueNs >= oldest) {
        if (t!.user) copy.user = t!.user.at(copy.dueNs, USER_SAMPLE_WITHIN_NS);
        return copy;
      }
      if (copy !== null) this.skipped++;
      this.ring.release();
    }
    return null;
  }

  done(): void {
    this.release();
  }

  private roomMs(): number {
    let perTick = 0;
    for (const t of this.threads.values()) if (t.timerOn) perTick += Math.max(t.planBytes, t.lastRecordBytes);
    return ringRoomMs(perTick, this.intervalMs);
  }

  private release(): void {
    this.ring.release();
    for (const t of this.threads.values()) t.user?.release();
  }

  /** The program's mean time per run in the kernel, µs (benches; null unless kernel.bpf_stats_enabled was 1). */
  programUsPerRun(): number | null {
    const stats = programRunStats(this.program);
    return stats && stats.runs > 0 ? stats.runNs / stats.runs / 1000 : null;
  }

  stop(): void {
    for (const t of this.threads.values()) t.timer.close();
    this.threads.clear();
    this.readLost();
    this.ring.close();
    for (const fd of this.fds) closeFd(fd);
    this.fds.length = 0;
  }

  private writePlan(t: ThreadTicks, spans: number, bytes: number, seq: number): boolean {
    this.plan.writeUInt32LE(spans, 0);
    this.plan.writeUInt32LE(bytes, 4);
    this.plan.writeUInt32LE(seq, 8);
    return updateMap(this.plansFd, t.key, this.plan);
  }
}

/**
 * The kernel's copies of one process, loading (TickCopiers.load): their program's verifier runs on
 * another thread while the sampler goes on the usual way.
 */
export class TickCopiersLoad {
  private result: TickCopiers | null | undefined = undefined;
  private taken = false;
  private readonly done: Promise<void>;

  constructor(pid: number, intervalMs: number) {
    this.done = TickCopiers.load(pid, intervalMs).then(
      (c) => void (this.result = c),
      () => void (this.result = null),
    );
  }

  /** Whether the program is still loading. */
  get loading(): boolean {
    return this.result === undefined;
  }

  /** The copiers, once loaded (given once); null while loading, where refused, or once given. */
  copiers(): TickCopiers | null {
    if (this.taken || !this.result) return null;
    this.taken = true;
    return this.result;
  }

  /** Waits for a load still under way; copiers not given are stopped (their fds are the process's). */
  async close(): Promise<void> {
    await this.done;
    if (!this.taken) this.result?.stop();
    this.taken = true;
  }
}
