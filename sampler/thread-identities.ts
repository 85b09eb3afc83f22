/**
 * Which thread profile each sampled thread's samples are filed under. A thread has a profile of its
 * own up to a limit; a thread first seen after it is merged into one profile per process and thread
 * name. A host that starts and ends threads all day (50 a second: 180,000 an hour) would otherwise
 * keep an entry, a name and a timeline per thread: luaprof's memory would grow with the threads, and
 * the profile would hold more timelines than a viewer can show.
 *
 * Entries of threads that ended are forgotten (`prune`), so what is kept is bounded by the threads
 * alive, the limit and the merged profiles.
 */

/** PID_MAX_LIMIT on 64-bit Linux: no real thread id reaches it, so merged profiles number from here. */
export const MERGED_TID_BASE = 4_194_304;
/**
 * Merged profiles per recording; past it (a target naming its threads at random) one more per process
 * takes the rest, as it takes threads that ended before they could be named.
 */
export const MAX_MERGED_PROFILES = 256;
export const DEFAULT_MAX_THREADS = 1000;

export interface NewProfile {
  pid: number;
  /** The profile's tid: the thread's own, or MERGED_TID_BASE + n for a merged one. */
  tid: number;
  name: string;
}

export class ThreadIdentities {
  /** Profile tid of each live thread seen, by pid then tid. */
  private readonly live = new Map<number, Map<number, number>>();
  /** Profile tids given to threads of their own, by pid (a reused tid must not land in an old profile). */
  private readonly ownTids = new Map<number, Set<number>>();
  private own = 0;
  /** Merged profiles by `pid name`. */
  private readonly merged = new Map<string, number>();
  /** Threads seen in all; of them, merged into a shared profile. */
  threads = 0;
  mergedThreads = 0;

  constructor(private readonly limit = DEFAULT_MAX_THREADS) {}

  /**
   * The profile tid for a sample of thread `tid`. For a thread not seen before, `nameOf` names it (null:
   * it ended before it could be named) and `announce` is told of a profile that did not exist yet.
   */
  profileOf(
    pid: number,
    tid: number,
    nameOf: (pid: number, tid: number) => string | null,
    announce: (p: NewProfile) => void,
  ): number {
    let tids = this.live.get(pid);
    if (!tids) this.live.set(pid, (tids = new Map()));
    const known = tids.get(tid);
    if (known !== undefined) return known;
    this.threads++;
    const name = nameOf(pid, tid);
    let owned = this.ownTids.get(pid);
    let profile: number;
    if (this.own < this.limit && !owned?.has(tid)) {
      if (!owned) this.ownTids.set(pid, (owned = new Set()));
      owned.add(tid);
      this.own++;
      profile = tid;
      announce({ pid, tid, name: name ?? String(tid) });
    } else {
      this.mergedThreads++;
      profile = this.mergedProfile(pid, name, announce);
    }
    tids.set(tid, profile);
    return profile;
  }

  /** Forgets the threads of `pid` for which `alive` is false; every thread of it when `alive` is null (gone). */
  prune(pid: number, alive: ((tid: number) => boolean) | null): void {
    const tids = this.live.get(pid);
    if (!tids) return;
    if (alive === null) {
      this.live.delete(pid);
      return;
    }
    for (const tid of tids.keys()) if (!alive(tid)) tids.delete(tid);
  }

  /** Pids with threads remembered. */
  pids(): number[] {
    return [...this.live.keys()];
  }

  private mergedProfile(pid: number, name: string | null, announce: (p: NewProfile) => void): number {
    const other = name === null || this.merged.size >= MAX_MERGED_PROFILES;
    const key = other ? `${pid}` : `${pid} ${name}`;
    let tid = this.merged.get(key);
    if (tid === undefined) {
      tid = MERGED_TID_BASE + this.merged.size + 1;
      this.merged.set(key, tid);
      const merged = other ? 'other threads' : name;
      announce({ pid, tid, name: `${merged} [threads after the first ${this.limit}, merged]` });
    }
    return tid;
  }
}
