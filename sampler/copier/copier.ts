/**
 * The sampling worker's side of the copier thread (copier-thread.ts): started once a lone thread is
 * copied while it runs, told the thread's CPU and the plan of its copy, and asked for each copy as
 * it comes. While the CPU it is told is -1 it copies nothing (the usual sampling goes on meanwhile).
 */
import { Worker } from 'node:worker_threads';
import {
  Channel,
  MAX_PLAN_IOVECS,
  SLOTS,
  SLOT_BYTES,
  STATE_STOP,
  W,
  newChannel,
  type SlotRecord,
} from './channel.js';
import type { CopierStart } from './copier-thread.js';
import { monotonicNs } from '../os/on-cpu.js';
import type { UserSample } from '../os/user-samples.js';
import type { CallChain } from '../os/call-chain.js';
import { performance } from 'node:perf_hooks';

/**
 * How long after its due time a copy is looked for: the copier's timer wakes it ~40-60 µs late here and
 * the copy takes ~10-40 µs more, but this worker's own timer is as late as the copier's.
 */
const COPY_LAG_MS = 0.05;

/** Copies a batch waits for at most: half the slots, the other half for the copies made while it is walked. */
export const MAX_BATCH = SLOTS / 2;

/** Plans whose copies are still recognised (PrefetchMemory keeps as many to read them). */
const PLANS_REMEMBERED = 4;

/** A copy the copier made, at the instant it was due. */
export interface CopierCopy extends SlotRecord {
  /** The thread copied (the kernel's copies: each of several threads; the copier thread's: its one). */
  tid?: number;
  /** The copy's bytes (the slot, up to the plan's size): valid until done() is called. */
  bytes: Buffer;
  /** The plan it was taken with (see publishPlan). */
  planVersion: number;
  /** Taken where the thread stood interrupted at a tick of its CPU time (tick-copier.ts): of one moment, running. */
  still?: boolean;
  /** The thread's registers and stack top at that tick (a tick copier asked for them), valid until done(). */
  user?: UserSample | null;
  /** The plan's call chain as the tick found it (tick-program.ts: CHAIN_ENTRY_BYTES per record), valid until done(). */
  chain?: Buffer | null;
}

/** What the sampling worker asks of a copier: this thread's one, or the kernel's (tick-copier.ts). */
export interface CopySource {
  readonly usable: boolean;
  readonly hasReady: boolean;
  readonly late: number;
  /**
   * The plan of thread `tid`'s next copies; `chain`: a list the copier follows itself at each copy
   * (where it can).
   */
  publishPlan(
    tid: number,
    iov: Buffer,
    count: number,
    bytes: number,
    version: number,
    chain?: CallChain | null,
  ): boolean;
  /** The CPU thread `tid` runs on; -1: copy nothing of it until its next plan. */
  setCpu(tid: number, cpu: number): void;
  next(timeoutMs: number, batch?: number): CopierCopy | null;
  done(): void;
  stop(): void;
}

export class Copier implements CopySource {
  private readonly ch: Channel;
  private readonly worker: Worker;
  private taken = 0;
  private cpu = -1;
  /** The plan version (the caller's) last published, and its sequence (0: it did not fit). */
  private publishedVersion = -1;
  private publishedSeq = 0;
  /** The versions behind the last few sequences published: copies in the slots may have any of them. */
  private readonly versionOfSeq = new Map<number, number>();
  private failed = false;

  /**
   * `thread` is copier-thread.js's URL: given by the sampling worker's entry module, whose place is the
   * same when dist/ is bundled (scripts/bundle-workers.mjs) as when it is not.
   */
  constructor(
    pid: number,
    private readonly intervalMs: number,
    thread: URL,
  ) {
    const channel = newChannel();
    this.ch = new Channel(channel);
    const start: CopierStart = { channel, pid, intervalMs };
    this.worker = new Worker(thread, {
      workerData: start,
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
    this.worker.unref();
    // A copier that fails leaves sampling as it was without it.
    this.worker.on('error', () => (this.failed = true));
    this.worker.on('exit', () => (this.failed = true));
  }

  /** Running and able to take the thread's CPU at once (a real-time thread). */
  get usable(): boolean {
    return (
      !this.failed &&
      Atomics.load(this.ch.words, W.ready) === 1 &&
      Atomics.load(this.ch.words, W.realtime) === 1
    );
  }

  /** A copy is there, not yet walked. */
  get hasReady(): boolean {
    return Atomics.load(this.ch.words, W.produced) > this.taken;
  }

  /** Samples the copier gave up. */
  get late(): number {
    return Atomics.load(this.ch.words, W.late);
  }

  /**
   * The plan of the next copies: `iov` holds `count` remote iovecs, `bytes` in all. False when it
   * does not fit a slot (then nothing is copied until a plan that fits).
   */
  publishPlan(_tid: number, iov: Buffer, count: number, bytes: number, version: number): boolean {
    if (version === this.publishedVersion) return this.publishedSeq > 0;
    const words = this.ch.words;
    this.publishedVersion = version;
    const fits = count > 0 && count <= MAX_PLAN_IOVECS && bytes <= SLOT_BYTES && iov.length >= count * 16;
    const seq = Atomics.add(words, W.planSeq, 1) + 1; // odd: being written
    if (fits) {
      iov.copy(this.ch.plan, 0, 0, count * 16);
      Atomics.store(words, W.planCount, count);
      Atomics.store(words, W.planBytes, bytes);
    }
    Atomics.store(words, W.planSeq, seq + 1);
    this.publishedSeq = fits ? seq + 1 : 0;
    if (fits) {
      this.versionOfSeq.set(seq + 1, version);
      if (this.versionOfSeq.size > PLANS_REMEMBERED)
        this.versionOfSeq.delete(this.versionOfSeq.keys().next().value!);
    }
    if (!fits) this.setCpu(0, -1);
    return fits;
  }

  /** The CPU to copy on (its one thread's); -1 pauses the copier. */
  setCpu(_tid: number, cpu: number): void {
    if (cpu === this.cpu) return;
    this.cpu = cpu;
    Atomics.store(this.ch.words, W.cpu, cpu);
    Atomics.notify(this.ch.words, W.cpu);
  }

  /**
   * The next copy, waiting at most timeoutMs for it (null: none came). The worker sleeps on its own
   * timer until the copy should be there, and asks the copier to wake it only when it is late. With
   * `batch` > 1, it sleeps until about that many copies are there (each wake-up costs CPU: one per
   * batch rather than one per sample), at most MAX_BATCH.
   */
  next(timeoutMs: number, batch = 1): CopierCopy | null {
    const words = this.ch.words;
    const until = performance.now() + timeoutMs;
    const ready = () => this.hasReady;
    if (!ready()) {
      const more = Math.min(Math.max(batch, 1), MAX_BATCH) - 1;
      const sleepMs = (this.ch.nextDueNs - monotonicNs()) / 1e6 + COPY_LAG_MS + more * this.intervalMs;
      if (sleepMs > 0) Atomics.wait(words, W.walkerSleep, 0, Math.min(sleepMs, timeoutMs));
    }
    if (!ready()) {
      Atomics.store(words, W.waiting, 1);
      if (!ready()) Atomics.wait(words, W.produced, this.taken, Math.max(0, until - performance.now()));
      Atomics.store(words, W.waiting, 0);
    }
    if (!ready()) return null;
    const slot = this.taken % SLOTS;
    const r = this.ch.readSlot(slot);
    const planVersion = this.versionOfSeq.get(r.planSeq) ?? -1;
    return { ...r, planVersion, bytes: this.ch.slot(slot).subarray(0, Math.max(0, r.got)) };
  }

  /** The copy next() gave is walked: its slot may be copied into again. */
  done(): void {
    this.taken++;
    Atomics.store(this.ch.words, W.consumed, this.taken);
  }

  /** Ends the copier thread. */
  stop(): void {
    Atomics.store(this.ch.words, W.state, STATE_STOP);
    Atomics.notify(this.ch.words, W.sleep);
    Atomics.notify(this.ch.words, W.cpu);
    void this.worker.terminate();
  }
}
