/**
 * The timelines of a ProfileBuilder kept in typed-array chunks, full chunks in one temporary file
 * (unlinked as soon as it is opened): samples come back per thread in order with their values and
 * weights across chunk and file boundaries; no file is left, and the descriptor goes with build or
 * dispose; a directory that cannot take the file keeps every sample in memory.
 */
import { chmodSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProfileBuilder, type ProfileMeta } from '../aggregator/profile.js';
import { tempDir } from '../testkit/root.js';

const META: ProfileMeta = {
  tool: 'luaprof',
  version: '0',
  startTime: 0,
  durationMs: 0,
  samples: 0,
  errors: 0,
};

/** Open descriptors of this process on files (deleted or not) under `dir`. */
function fdsUnder(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(dir + '/')) out.push(target);
    } catch {
      // The fd readdir itself used, closed since.
    }
  }
  return out;
}

interface Expected {
  samples: number[];
  times: number[];
  weights: number[];
}

/** Three threads (two in one process, one without a pid) sampled in turn, with odd times and weights. */
function fill(b: ProfileBuilder, n: number): Map<string, Expected> {
  const expected = new Map<string, Expected>();
  const threads = [
    { tid: 10, pid: 1, name: 'main' },
    { tid: 11, pid: 1, name: 'worker' },
    { tid: 10, pid: undefined, name: 'other' },
  ];
  for (let i = 0; i < n; i++) {
    const t = threads[(i * 7) % 5 === 0 ? 2 : i % 2];
    const frames = [i % 4, (i * 3) % 5, 9];
    const time = i * 1.000123 + 1e9 * (i % 3 === 0 ? 1 : 0);
    const weight = i % 5 === 0 ? 0.5 * i : i % 11 === 0 ? 0 : 1;
    const stack = b.addStack(t.tid, t.name, frames, time, weight, t.pid);
    const key = `${t.pid}:${t.tid}`;
    const e = expected.get(key) ?? { samples: [], times: [], weights: [] };
    expected.set(key, e);
    e.samples.push(stack);
    e.times.push(time);
    e.weights.push(weight);
  }
  return expected;
}

function timelines(b: ProfileBuilder): Map<string, Expected> {
  return new Map(
    b
      .build(META)
      .threads.map((t) => [`${t.pid}:${t.tid}`, { samples: t.samples, times: t.times, weights: t.weights }]),
  );
}

describe('ProfileBuilder timelines in chunks and a temporary file', () => {
  it('gives back every sample per thread, in order, with its stack, time and weight, across chunk and file boundaries', () => {
    const dir = tempDir();
    for (const chunkSamples of [1, 3, 7, 64]) {
      const b = new ProfileBuilder({ chunkSamples, spillDir: dir });
      const expected = fill(b, 200);
      expect(b.samplesInFile).toBe(200 - (200 % chunkSamples));
      expect(timelines(b)).toEqual(expected);
      // Built twice (aggregator/by-process.ts does): the same timelines.
      expect(b.build(META).threads.map((t) => t.samples.length)).toEqual(
        [...expected.values()].map((e) => e.samples.length),
      );
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('keeps chunks in memory without a directory, and when the directory cannot take the file: nothing lost', () => {
    const expected = fill(new ProfileBuilder(), 100);
    const inMemory = new ProfileBuilder({ chunkSamples: 4 });
    fill(inMemory, 100);
    expect(inMemory.samplesInFile).toBe(0);
    expect(timelines(inMemory)).toEqual(expected);
    const missing = new ProfileBuilder({ chunkSamples: 4, spillDir: join(tempDir(), 'gone') });
    fill(missing, 100);
    expect(missing.samplesInFile).toBe(0);
    expect(timelines(missing)).toEqual(expected);
    const readOnly = tempDir();
    chmodSync(readOnly, 0o500);
    const refused = new ProfileBuilder({ chunkSamples: 4, spillDir: readOnly });
    fill(refused, 100);
    // root may write a 0500 directory anyway: either way, every sample comes back and no file stays.
    expect(timelines(refused)).toEqual(expected);
    expect(readdirSync(readOnly)).toEqual([]);
  });

  it('leaves no file in the directory while recording, and holds its descriptor only until build or dispose', () => {
    const dir = tempDir();
    const built = new ProfileBuilder({ chunkSamples: 2, spillDir: dir });
    fill(built, 10);
    expect(built.samplesInFile).toBe(10);
    expect(readdirSync(dir)).toEqual([]);
    expect(fdsUnder(dir)).toEqual([expect.stringMatching(/luaprof-samples-.*\.tmp \(deleted\)$/)]);
    built.build(META);
    expect(fdsUnder(dir)).toEqual([]);
    expect(() => built.addStack(1, 'main', [0], 0)).toThrow(/after build/);

    const disposed = new ProfileBuilder({ chunkSamples: 2, spillDir: dir });
    fill(disposed, 10);
    expect(fdsUnder(dir)).toHaveLength(1);
    disposed.dispose();
    expect(fdsUnder(dir)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('opens no file for a profile that fits in one chunk', () => {
    const dir = tempDir();
    const b = new ProfileBuilder({ chunkSamples: 1000, spillDir: dir });
    fill(b, 999);
    expect(b.samplesInFile).toBe(0);
    expect(fdsUnder(dir)).toEqual([]);
  });
});
