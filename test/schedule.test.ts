import { describe, expect, it } from 'vitest';
import { SampleSchedule } from '../sampler/schedule.js';

describe('sample schedule', () => {
  it('keeps the requested mean rate with Poisson intervals', () => {
    const s = new SampleSchedule(1, 0);
    let now = 0;
    const gaps: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const wait = s.waitMs(now);
      now += wait;
      gaps.push(wait);
      s.taken(now);
    }
    const mean = gaps.slice(1).reduce((a, b) => a + b, 0) / (gaps.length - 1);
    expect(mean).toBeGreaterThan(0.98);
    expect(mean).toBeLessThan(1.02);
    // Exponential: the coefficient of variation is ~1, so no phase of a periodic workload is favoured.
    const sd = Math.sqrt(gaps.slice(1).reduce((a, b) => a + (b - mean) ** 2, 0) / (gaps.length - 2));
    expect(sd / mean).toBeGreaterThan(0.9);
    expect(s.late).toBe(0);
  });

  it('samples every phase of a periodic workload evenly', () => {
    const period = 1.0; // same as the sampling interval: the worst case for a fixed period
    const s = new SampleSchedule(1, 0);
    let now = 0;
    const bins = new Array(10).fill(0);
    for (let i = 0; i < 50_000; i++) {
      now += s.waitMs(now);
      s.taken(now);
      bins[Math.floor(((now % period) / period) * 10)]++;
    }
    for (const b of bins) expect(Math.abs(b / 5000 - 1)).toBeLessThan(0.06);
  });

  it('makes up a short stall with shorter random intervals, keeping the mean rate', () => {
    const s = new SampleSchedule(1, 0);
    let now = 0;
    let taken = 0;
    for (let i = 0; i < 20_000; i++) {
      now += s.waitMs(now);
      // Every 100th sample the sampler stalls for 5 ms (a slow stop, a busy host).
      now += i % 100 === 99 ? 5 : 0.05;
      s.taken(now);
      taken++;
    }
    expect(s.late).toBe(0);
    expect(taken / now).toBeGreaterThan(0.98);
    expect(taken / now).toBeLessThan(1.02);
  });

  it('gives up a stall longer than the backlog it makes up, counted late, without bursting', () => {
    const s = new SampleSchedule(1, 0, () => 0.5);
    s.taken(200);
    expect(s.late).toBe(1);
    expect(s.waitMs(200)).toBeGreaterThan(0);
    const slow = new SampleSchedule(10, 0, () => 0.5);
    slow.taken(30); // three 10 ms intervals behind: within the 50 ms backlog
    expect(slow.late).toBe(0);
  });
});
