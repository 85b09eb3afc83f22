/**
 * How many of the copier thread's copies the sampling worker lets queue before it wakes to walk them
 * (sampler/copier/copier.ts, Copier.next): a wake-up costs CPU, one per batch rather than one per sample.
 */
/**
 * Walks of the copier's copies are batched to about this long: one wake-up of the worker walks them
 * all. 32 ms rather than 8: luaprof's CPU over 10-s recordings at 1000 Hz (depth 30) 0.92 times as
 * much (median of 15 interleaved pairs), the target's wall time 0.99 times (9 pairs; bench/RESULTS.md). The
 * kernel's copies wait in a ring whose room bounds a batch of large ones (tick-copier.ts).
 */
export const COPIER_BATCH_MS = 32;
/**
 * Copies walked with one plan before walks are batched. A copy that lacked part of the stack is taken
 * again when it is walked: while a plan settles, that is µs after its due time, not ms.
 */
const COPIER_CALM_WALKS = 100;

export class CopierBatch {
  private version = -1;
  private calm = 0;
  private readonly full: number;

  constructor(intervalMs: number) {
    this.full = Math.max(1, Math.round(COPIER_BATCH_MS / intervalMs));
  }

  /** The batch for the next copies, given the plan they will be taken with. */
  size(planVersion: number): number {
    if (planVersion !== this.version) {
      this.version = planVersion;
      this.calm = 0;
    } else this.calm++;
    return this.calm >= COPIER_CALM_WALKS ? this.full : 1;
  }
}
