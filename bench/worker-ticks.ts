/**
 * The sampling worker's steps on the kernel's copies, for the benches that measure them
 * (tick-cost.ts, sample-alloc.ts, marginal-cost.ts): the copier loaded as the worker loads it, each copy taken from the
 * ring, walked and resolved (Target.sampleAll), and its frames and stack numbered (StackIds).
 */
import { CopierBatch } from '../sampler/copier/batch.js';
import { nextCopy, threadOf } from '../sampler/copier/next-copy.js';
import type { CopierCopy } from '../sampler/copier/copier.js';
import { NATIVE_TICK_STACK, TickCopiers } from '../sampler/copier/tick-copier.js';
import type { SampleResult } from '../sampler/sample.js';
import { StackIds } from '../sampler/stack-ids.js';
import type { Target } from '../sampler/target.js';

export interface WorkerTick {
  /** Walked from a copy of the ring (false: the thread was sampled the usual way). */
  copied: boolean;
  /** Samples with frames. */
  samples: number;
  /** Wall time of the steps: taking the copy (its wait included), the walk and resolve, the ids. */
  copyMs: number;
  walkMs: number;
  internMs: number;
}

export class WorkerTicks {
  private copier: TickCopiers | null = null;
  private readonly batch: CopierBatch;
  private readonly stackIds = new StackIds();
  /** What next() returns, rewritten by each call. */
  private readonly tick: WorkerTick = { copied: false, samples: 0, copyMs: 0, walkMs: 0, internMs: 0 };

  constructor(
    private readonly target: Target,
    private readonly intervalMs: number,
    private readonly native = false,
    /** Sees each copy before it is walked (replay-cost.ts keeps them). */
    private readonly onCopy?: (copy: CopierCopy) => void,
  ) {
    this.batch = new CopierBatch(intervalMs);
  }

  /**
   * One tick, null when no copy came within a wait, or 'load' when the tick program is to be loaded
   * first (load()). The tick is one object, rewritten by each call (sample-alloc.ts counts this
   * harness's bytes with the sampler's: ~66 a tick are left here).
   */
  next(): WorkerTick | null | 'load' {
    const target = this.target;
    const threads = target.copierThreads(true);
    if (threads.length > 0 && !this.copier) return 'load';
    const copier = this.copier;
    if (copier && !copier.copyOnly(threads)) throw new Error("a thread's tick timer was refused");
    const a = performance.now();
    const copy = copier && threads.length > 0 ? nextCopy(copier, threads, 20, this.batch) : null;
    const b = performance.now();
    if (copy === 'none') return null;
    const lone = copy ? threadOf(threads, copy) : undefined;
    if (copy) {
      this.onCopy?.(copy);
      lone!.supply(copy);
    }
    const results: SampleResult[] = target.sampleAll(copy ? copy.dueNs : undefined);
    const c = performance.now();
    if (copy) {
      lone!.takeCopierUsed();
      lone!.supply(null);
    }
    let samples = 0;
    for (const s of results) {
      if (s.frames.length === 0) continue;
      this.stackIds.idOf(s.frames);
      if (this.stackIds.takeNew().length > 1000) throw new Error('a new stack every sample');
      samples++;
    }
    const d = performance.now();
    const tick = this.tick;
    tick.copied = copy !== null;
    tick.samples = samples;
    tick.copyMs = b - a;
    tick.walkMs = c - b;
    tick.internMs = d - c;
    return tick;
  }

  /** Loads the tick program as the worker loads it (off this thread: a profiler's signals here make the verifier give up). */
  async load(): Promise<void> {
    this.copier = await TickCopiers.load(
      this.target.pid,
      this.intervalMs,
      Math.random,
      this.native ? NATIVE_TICK_STACK : 0,
    );
    if (!this.copier)
      throw new Error('BPF refused: this bench needs root and a kernel that loads the tick program');
  }

  /** Stops the kernel's copies and the threads' timers; the next next() starts them again. */
  pause(): void {
    if (!this.copier) return;
    for (const t of this.target.copierThreads(true)) this.copier.setCpu(t.tid, -1);
  }

  /** The program's mean time per run in the kernel, µs (NaN unless kernel.bpf_stats_enabled was 1). */
  programUsPerRun(): number {
    return this.copier?.programUsPerRun() ?? NaN;
  }

  stop(): void {
    this.copier?.stop();
  }
}
