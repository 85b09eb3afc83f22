/**
 * Many threads (issue 13, item 3): a C host with 64 threads, each with its own lua_State, ~50
 * started and ended a second (fixtures/hosts/churn.c), recorded at 100 Hz per thread: every thread
 * that lived 0.5 s of the recording has samples, the host runs to the end, errors stay rare.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readProfile } from '../report/read.js';
import { buildChurnHost, coverage, readThreadLog } from '../testkit/churn-host.js';
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
  });
});
