/** Small statistics helpers for pause times. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

/** Keeps a bounded uniform sample of values (reservoir), enough for percentiles of long recordings. */
export class Reservoir {
  private readonly values: number[] = [];
  private seen = 0;
  constructor(private readonly size = 100_000) {}
  add(v: number): void {
    this.seen++;
    if (this.values.length < this.size) this.values.push(v);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.size) this.values[j] = v;
    }
  }
  percentile(p: number): number {
    return percentile(this.values.slice().sort((a, b) => a - b), p);
  }
  get count(): number {
    return this.seen;
  }
}
