/**
 * When to take the next sample. Intervals are drawn from an exponential distribution with the
 * requested mean (sample times form a Poisson process), so no periodic work in the target can alias
 * with the sampler: a fixed or mildly jittered period that happens to match a loop's period keeps
 * sampling the same phase of it and skews shares by many points.
 */
/** A stall longer than this (or two intervals) is given up rather than made up. */
const MAX_BACKLOG_MS = 50;

export class SampleSchedule {
  private next: number;
  late = 0;
  /** Samples owed after a stall, in mean intervals. */
  private debt = 0;

  constructor(
    readonly intervalMs: number,
    start: number,
    private readonly random: () => number = Math.random,
  ) {
    this.next = start + this.draw();
  }

  /** An exponential interval, at least `min` mean intervals long. */
  private draw(min = 0.02): number {
    const u = 1 - this.random(); // (0, 1]
    return this.intervalMs * Math.min(8, Math.max(min, -Math.log(u)));
  }

  /** Milliseconds to wait from `now` until the next sample is due (0 when due). */
  waitMs(now: number): number {
    return Math.max(0, this.next - now);
  }

  /**
   * The sample due now is given up, and owed; the next is drawn afresh, from `minMs` after `now` (a
   * Poisson process restarted: memoryless, so the times stay random; not a wait raised to minMs,
   * which would put the draws below it at one fixed time after `now`, nor with the lower bound of
   * other draws). For a sample that could only be taken some fixed time after an event of the
   * target's own, which would tie it to that event.
   */
  redraw(now: number, minMs: number): void {
    this.late++;
    // Owed, like a stall's samples: repaid by intervals drawn at half the mean.
    this.debt = Math.min(this.debt + 1, this.backlogLimit() / this.intervalMs) - 0.5;
    this.next = now + minMs + this.draw(0) / 2;
  }

  private backlogLimit(): number {
    return Math.max(2 * this.intervalMs, MAX_BACKLOG_MS);
  }

  /** Sampling starts again at `now` after a time nobody sampled (nothing owed, nothing counted late). */
  restart(now: number): void {
    this.debt = 0;
    this.next = now + this.draw();
  }

  /** Called when a sample is taken at `now`; schedules the following one. */
  taken(now: number): void {
    const behind = now - this.next;
    const limit = this.backlogLimit();
    if (behind > limit) {
      // Too far behind to make up: count it and restart from now rather than bursting.
      this.late++;
      this.debt = 0;
      this.next = now + this.draw();
      return;
    }
    if (behind > this.intervalMs) {
      // A stall (the target slow to stop, the host busy): the samples it cost are owed, and repaid
      // by intervals drawn at half the mean, so the rate holds and sample times stay random.
      this.debt = Math.min(this.debt + behind / this.intervalMs, limit / this.intervalMs);
      this.next = now;
    }
    if (this.debt > 0) {
      this.debt -= 0.5;
      this.next += this.draw() / 2;
    } else this.next += this.draw();
  }
}
