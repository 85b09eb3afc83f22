import { describe, expect, it } from 'vitest';
import {
  MAX_MERGED_PROFILES,
  MERGED_TID_BASE,
  type NewProfile,
  ThreadIdentities,
} from '../sampler/thread-identities.js';

function harness(limit: number) {
  const ids = new ThreadIdentities(limit);
  const names = new Map<number, string | null>();
  const announced: NewProfile[] = [];
  const nameOf = (_pid: number, tid: number) => (names.has(tid) ? names.get(tid)! : `t${tid}`);
  const of = (pid: number, tid: number) => ids.profileOf(pid, tid, nameOf, (p) => announced.push(p));
  return { ids, names, announced, of };
}

describe('ThreadIdentities', () => {
  it('gives each thread its own profile up to the limit, announced once', () => {
    const h = harness(3);
    expect([h.of(1, 10), h.of(1, 11), h.of(1, 10), h.of(2, 20)]).toEqual([10, 11, 10, 20]);
    expect(h.announced).toEqual([
      { pid: 1, tid: 10, name: 't10' },
      { pid: 1, tid: 11, name: 't11' },
      { pid: 2, tid: 20, name: 't20' },
    ]);
    expect(h.ids.threads).toBe(3);
    expect(h.ids.mergedThreads).toBe(0);
  });

  it('merges threads past the limit into one profile per process and name', () => {
    const h = harness(1);
    h.names.set(11, 'worker').set(12, 'worker').set(13, 'io').set(21, 'worker');
    h.of(1, 10);
    const w = h.of(1, 11);
    expect(h.of(1, 12)).toBe(w);
    const io = h.of(1, 13);
    const other = h.of(2, 21);
    expect(new Set([w, io, other]).size).toBe(3);
    for (const t of [w, io, other]) expect(t).toBeGreaterThan(MERGED_TID_BASE);
    expect(h.announced.slice(1).map((p) => [p.pid, p.name])).toEqual([
      [1, 'worker [threads after the first 1, merged]'],
      [1, 'io [threads after the first 1, merged]'],
      [2, 'worker [threads after the first 1, merged]'],
    ]);
    expect(h.ids.threads).toBe(5);
    expect(h.ids.mergedThreads).toBe(4);
  });

  it('keeps entries only for live threads: an ended thread is forgotten, a reused tid is a new thread', () => {
    const h = harness(2);
    h.of(1, 10);
    h.of(1, 11);
    h.ids.prune(1, (tid) => tid === 11);
    // tid 10 again, after it ended: another thread, which must not be filed in the old one's profile.
    h.names.set(10, 'again');
    expect(h.of(1, 10)).toBeGreaterThan(MERGED_TID_BASE);
    expect(h.of(1, 11)).toBe(11);
    h.ids.prune(1, null);
    expect(h.ids.pids()).toEqual([]);
  });

  it('files a thread that ended before it was named with the other threads, not in a profile of its own name', () => {
    const h = harness(1);
    h.names.set(10, null).set(11, null).set(12, null);
    expect(h.of(1, 10)).toBe(10);
    expect(h.announced[0].name).toBe('10');
    expect(h.of(1, 11)).toBe(h.of(1, 12));
    expect(h.announced.slice(1).map((p) => p.name)).toEqual([
      'other threads [threads after the first 1, merged]',
    ]);
  });

  it('bounds the merged profiles when every thread has a name of its own', () => {
    const h = harness(0);
    for (let tid = 1; tid <= MAX_MERGED_PROFILES + 50; tid++) h.of(1, tid);
    const profiles = new Set(h.announced.map((p) => p.tid));
    expect(profiles.size).toBe(MAX_MERGED_PROFILES + 1);
    expect(h.announced[h.announced.length - 1].name).toBe(
      'other threads [threads after the first 0, merged]',
    );
  });
});
