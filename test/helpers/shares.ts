/** Share of samples whose stack contains a function (inclusive), computed from a Profile. */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { Profile } from '../../aggregator/profile.js';

export function inclusiveShare(p: Profile, match: (name: string) => boolean): number {
  let hit = 0;
  let total = 0;
  for (const t of p.threads) {
    for (let i = 0; i < t.samples.length; i++) {
      const w = t.weights[i] ?? 1;
      total += w;
      if (p.stacks[t.samples[i]].some((f) => match(p.frames[f].name))) hit += w;
    }
  }
  return total === 0 ? 0 : hit / total;
}

/** All stacks as arrays of frame names, root first, one entry per sample. */
export function sampleStacks(p: Profile): string[][] {
  const out: string[][] = [];
  for (const t of p.threads) for (const s of t.samples) out.push(p.stacks[s].map((f) => p.frames[f].name));
  return out;
}

/**
 * fixtures/lua/shares.lua writes "name share" lines (its own os.clock measurement); every function's
 * recorded inclusive share must lie within `points` percentage points of it.
 */
export function expectSharesMatchTruth(
  p: Profile,
  truthFile: string,
  points: number,
  fns = ['alpha', 'beta', 'gamma'],
): void {
  const truth = Object.fromEntries(
    readFileSync(truthFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.split(' ')[0], Number(l.split(' ')[1])]),
  );
  for (const fn of fns) {
    const share = inclusiveShare(p, (n) => n === fn);
    expect(
      Math.abs(share - truth[fn]) * 100,
      `${fn}: recorded ${share}, truth ${truth[fn]}`,
    ).toBeLessThanOrEqual(points);
  }
}
