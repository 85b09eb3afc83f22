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

  it('redraws a missed sample from now: the instants left are as random as before', () => {
    // A sample the sampler can take only some time after an event of the target's (its move onto the
    // thread's CPU lands at a system call) is given up; the next is drawn afresh, at least 0.05 ms on.
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const s = new SampleSchedule(1, 0, random);
    // The target's loop, phase 0 = its system call. A redrawn sample comes 0.05 ms + an exponential
    // wait after the event: its phase leans toward the event by a factor e^(period/mean) at most.
    const period = 0.1;
    const bins = new Array(10).fill(0);
    let now = 0;
    let taken = 0;
    for (let i = 0; i < 60_000; i++) {
      now += s.waitMs(now);
      s.taken(now);
      bins[Math.floor(((now % period) / period) * 10)]++;
      taken++;
      now += 0.25; // the sample's own work: the next one is often already due
      if (s.waitMs(now) < 0.05) {
        // What the sampler did before: move, land at the next system call, sleep 0.05 ms.
        s.redraw(now + (period - (now % period)), 0.05);
        now += period - (now % period);
      }
    }
    expect(s.late).toBeGreaterThan(taken / 4);
    for (const b of bins) expect(Math.abs(b / (taken / 10) - 1)).toBeLessThan(0.06);
    // The samples given up are owed and repaid at twice the rate: 0.94 of the mean rate here, 0.76
    // when they were not.
    expect(taken / now).toBeGreaterThan(0.9);
    expect(s.waitMs(now)).toBeGreaterThanOrEqual(0);
  });

  it('restarts after a time nobody sampled without owing or counting it', () => {
    const s = new SampleSchedule(1, 0, () => 0.5);
    s.taken(100); // 100 intervals behind: given up, counted late
    const late = s.late;
    s.restart(1000);
    expect(s.late).toBe(late);
    expect(s.waitMs(1000)).toBeCloseTo(-Math.log(0.5), 6);
  });
});
