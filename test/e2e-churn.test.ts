/**
 * Many threads (issue 13, item 3): a C host with 64 threads, each with its own lua_State, ~50
 * started and ended a second (fixtures/hosts/churn.c), recorded at 100 Hz per thread: every thread
 * that lived 0.5 s of the recording has samples, the host runs to the end, errors stay rare.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readProfile } from '../report/read.js';
import { MERGED_TID_BASE } from '../sampler/thread-identities.js';
import { buildChurnHost, coverage, newThreads, readThreadLog } from '../testkit/churn-host.js';
import { luaprof, tempDir } from './helpers/lua-process.js';

const HAVE = existsSync('/usr/bin/gcc') && existsSync('/usr/include/lua5.4/lua.h');
let host = '';

describe.skipIf(!HAVE)('64 threads with a lua_State each, ~50 created and destroyed a second', () => {
  beforeAll(() => {
    host = buildChurnHost(tempDir());
  }, 120_000);

  it('100 Hz per thread: every thread that lived 0.5 s has samples, no crash, errors bounded', async () => {
    const dir = tempDir();
    const out = join(dir, 'churn.json');
    const log = join(dir, 'threads.log');
    // The host would run 8 s; luaprof ends it when its 4 s are up (-d ends the command it started).
    const r = await luaprof([
      'record',
      '--idle',
      '-r',
      '100',
      '-d',
      '4s',
      '-o',
      out,
      '--',
      host,
      '64',
      '50',
      '8',
      log,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const profile = readProfile(out);
    const lives = readThreadLog(log);
    const from = profile.meta.startTime;
    const to = from + profile.meta.durationMs;
    // The host kept making threads until the recording ended (it did not crash under sampling).
    expect(Math.max(...lives.map((l) => l.endMs))).toBeGreaterThan(to - 300);
    const cov = coverage(profile, lives);
    expect(cov.long, 'threads that lived 0.5 s of the recording').toBeGreaterThan(60);
    expect(cov.unsampled).toEqual([]);
    // An error is a sample lost to a thread that ended between the thread list and its copy: at most
    // one per thread that ended during the recording (measured: 0 of ~200).
    const m = /(\d+) samples in .*?, (\d+) errors/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const ended = lives.filter((l) => l.endMs > from && l.endMs < to).length;
    expect(Number(m![2])).toBeLessThanOrEqual(ended);
    expect(Number(m![1])).toBeGreaterThan(1000);
    // A thread whose state was closed is dropped when it ends, not walked until the next look at the
    // thread list (before: 1,077-1,235 torn samples here for ~200 threads ended; now 0-3).
    const torn = /torn: .*?, (\d+) dropped/.exec(r.stderr);
    expect(Number(torn![1])).toBeLessThanOrEqual(ended);
    // Threads that start while it records are found at once (the thread list is read every 10 ms while
    // threads come and go). Measured: median 6-9 ms from a thread's start to its first sample, 0.6-1.0%
    // of their lives unsampled; reading the list every 500 ms, 190-230 ms and 20-21%. How many samples
    // they get once found depends on the CPU luaprof gets beside 64 busy threads on 2 vCPUs (0.62-1.04
    // of those asked over 20 runs): bench/soak.ts measures that rate, over an hour.
    const fresh = newThreads(profile, lives, 1000);
    expect(fresh.count).toBeGreaterThan(60);
    const median = fresh.firstSampleMs[fresh.firstSampleMs.length >> 1];
    expect(median, `first samples (ms): ${fresh.firstSampleMs.join(' ')}`).toBeLessThan(25);
    expect(fresh.unseenShare).toBeLessThan(0.03);
  });

  it('--max-threads: threads past it share a profile per name, said in the summary and the meta', async () => {
    const dir = tempDir();
    const out = join(dir, 'merged.json');
    const r = await luaprof([
      'record',
      '--idle',
      '--max-threads',
      '20',
      '-d',
      '2s',
      '-o',
      out,
      '--',
      host,
      '64',
      '50',
      '4',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const profile = readProfile(out);
    const own = profile.threads.filter((t) => t.tid < MERGED_TID_BASE);
    const merged = profile.threads.filter((t) => t.tid >= MERGED_TID_BASE);
    expect(own.length).toBeLessThanOrEqual(20);
    // Threads that ended before they could be named share the process's other one.
    const names = merged.map((t) => t.name).sort();
    expect(names[0]).toBe('churn [threads after the first 20, merged]');
    expect(names.slice(1)).toEqual(
      names.length > 1 ? ['other threads [threads after the first 20, merged]'] : [],
    );
    expect(profile.meta.mergedThreads).toBeGreaterThan(40);
    expect(profile.meta.threadsSeen).toBe(own.length + profile.meta.mergedThreads!);
    expect(r.stderr).toContain(
      `${profile.meta.threadsSeen} threads sampled: the first 20 with a profile each, the ${profile.meta.mergedThreads} after them merged`,
    );
    const samples = profile.threads.reduce((n, t) => n + t.samples.length, 0);
    expect(samples).toBe(profile.meta.samples);
  });
});
