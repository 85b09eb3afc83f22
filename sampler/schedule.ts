/**
 * When to take the next sample. Intervals are drawn from an exponential distribution with the
 * requested mean (sample times form a Poisson process), so no periodic work in the target can alias
 * with the sampler: a fixed or mildly jittered period that happens to match a loop's period keeps
 * sampling the same phase of it and skews shares by many points.
 */
export class SampleSchedule {
  private next: number;
  late = 0;

  constructor(
    readonly intervalMs: number,
    start: number,
    private readonly random: () => number = Math.random,
  ) {
    this.next = start + this.draw();
  }

  private draw(): number {
    const u = 1 - this.random(); // (0, 1]
    return this.intervalMs * Math.min(8, Math.max(0.02, -Math.log(u)));
  }

  /** Milliseconds to wait from `now` until the next sample is due (0 when due). */
  waitMs(now: number): number {
    return Math.max(0, this.next - now);
  }

  /** Called when a sample is taken at `now`; schedules the following one. */
  taken(now: number): void {
    if (now - this.next > this.intervalMs) {
      // More than a whole mean interval behind: count it and restart from now rather than bursting.
      this.late++;
      this.next = now + this.draw();
    } else {
      this.next += this.draw();
    }
  }
}
