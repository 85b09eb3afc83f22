/**
 * fixtures/hosts/churn.c (64 threads, each with its own lua_State, ~50 started and ended a second):
 * built here, and its thread log checked against a recording: every thread that lived at least
 * 0.5 s of the recording has samples. Shared by test/e2e-churn.test.ts and bench/soak.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Profile } from '../aggregator/profile.js';
import { ROOT } from './root.js';

/** Compiles the host against the system's liblua5.4 into dir; returns the binary. */
export function buildChurnHost(dir: string): string {
  const out = join(dir, 'churn');
  execFileSync(
    'gcc',
    [
      '-O2',
      '-g',
      '-o',
      out,
      join(ROOT, 'fixtures/hosts/churn.c'),
      '-I/usr/include/lua5.4',
      '-llua5.4',
      '-lpthread',
    ],
    { stdio: 'pipe' },
  );
  return out;
}

export interface ThreadLife {
  tid: number;
  /** CLOCK_REALTIME, ms since the epoch (the profile's startTime clock). */
  startMs: number;
  endMs: number;
}

export function readThreadLog(file: string): ThreadLife[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [tid, start, end] = l.split(' ').map(Number);
      return { tid, startMs: start / 1e6, endMs: end / 1e6 };
    });
}

export interface Coverage {
  /** Threads that lived at least minLifeMs inside the recording (with a profile of their own, when some were merged). */
  long: number;
  /** Those of them without a single sample (tid, ms lived in the recording). */
  unsampled: { tid: number; livedMs: number }[];
  /** Samples of each long thread over the samples its time in the recording asks for (rate × time). */
  ratioP10: number;
  ratioMedian: number;
  /**
   * Every sample of the profile over what the time in the recording of every thread in the log asks
   * for (short-lived threads too): the rate a host whose threads come and go was sampled at. It
   * holds when threads past --max-threads are merged into shared profiles.
   */
  ratioAll: number;
}

export function coverage(profile: Profile, lives: ThreadLife[], minLifeMs = 500): Coverage {
  const samples = new Map(profile.threads.map((t) => [t.tid, t.samples.length]));
  const from = profile.meta.startTime;
  const to = from + profile.meta.durationMs;
  const rate = profile.meta.rate ?? 100;
  const unsampled: Coverage['unsampled'] = [];
  const ratios: number[] = [];
  const taken = profile.threads.reduce((n, t) => n + t.samples.length, 0);
  let asked = 0;
  const merged = (profile.meta.mergedThreads ?? 0) > 0;
  for (const l of lives) {
    const livedMs = Math.min(l.endMs, to) - Math.max(l.startMs, from);
    if (livedMs > 0) asked += (livedMs / 1000) * rate;
    // Past --max-threads a thread's samples are in its name's shared profile: only the rate counts them.
    if (livedMs < minLifeMs || (merged && !samples.has(l.tid))) continue;
    const n = samples.get(l.tid) ?? 0;
    if (n === 0) unsampled.push({ tid: l.tid, livedMs });
    ratios.push(n / ((livedMs / 1000) * rate));
  }
  ratios.sort((a, b) => a - b);
  const at = (q: number) => ratios[Math.min(ratios.length - 1, Math.floor(ratios.length * q))] ?? 0;
  return { long: ratios.length, unsampled, ratioP10: at(0.1), ratioMedian: at(0.5), ratioAll: taken / asked };
}

export interface NewThreads {
  /** Threads that started at least settleMs into the recording and have a profile of their own. */
  count: number;
  /** From each one's start to its first sample (ms), sorted; a thread never sampled counts its whole life. */
  firstSampleMs: number[];
  /** The part of their lives in the recording that passed before their first samples. */
  unseenShare: number;
}

/**
 * How soon threads that start while luaprof records are found: those that started at least settleMs
 * into the recording (a host luaprof started makes its first threads at once, each found by a stop
 * of its own). It leaves out how many samples they get once found, which depends as much on the CPU
 * luaprof gets beside a busy host as on luaprof (bench/soak.ts measures that rate over an hour).
 */
export function newThreads(profile: Profile, lives: ThreadLife[], settleMs: number): NewThreads {
  const byTid = new Map(profile.threads.map((t) => [t.tid, t]));
  const from = profile.meta.startTime;
  const to = from + profile.meta.durationMs;
  const firstSampleMs: number[] = [];
  let unseen = 0;
  let lived = 0;
  for (const l of lives) {
    if (l.startMs < from + settleMs || l.startMs >= to) continue;
    const end = Math.min(l.endMs, to);
    const t = byTid.get(l.tid);
    const first = t && t.times.length ? Math.min(end, from + Math.min(...t.times)) : end;
    firstSampleMs.push(first - l.startMs);
    unseen += Math.max(0, first - l.startMs);
    lived += end - l.startMs;
  }
  firstSampleMs.sort((a, b) => a - b);
  return { count: firstSampleMs.length, firstSampleMs, unseenShare: unseen / lived };
}
