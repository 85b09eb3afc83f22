/**
 * When to take the next sample: a fixed mean interval with uniform jitter (so periodic work in the
 * target does not alias with the sampler), and a count of ticks that came too late.
 */
export class SampleSchedule {
  private next: number;
  late = 0;

  constructor(
    readonly intervalMs: number,
    start: number,
    private readonly jitter = 0.25,
    private readonly random: () => number = Math.random,
  ) {
    this.next = start + this.draw();
  }

  private draw(): number {
    return this.intervalMs * (1 + this.jitter * (2 * this.random() - 1));
  }

  /** Milliseconds to wait from `now` until the next sample is due (0 when due). */
  waitMs(now: number): number {
    return Math.max(0, this.next - now);
  }

  /** Called when a sample is taken at `now`; schedules the following one. */
  taken(now: number): void {
    if (now - this.next > this.intervalMs) {
      // More than a whole interval behind: count it and restart from now rather than bursting.
      this.late++;
      this.next = now + this.draw();
    } else {
      this.next += this.draw();
    }
  }
}
