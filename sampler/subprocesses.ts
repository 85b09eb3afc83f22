/** --subprocesses: descendants of the target, attached as they show Lua (retried while they live). */
import { LuaprofError } from './errors.js';
import { targetGone } from './gone.js';
import type { TargetOptions } from './sample.js';
import { Target } from './target.js';
import { descendants } from './threads.js';

const POLL_MS = 250;
const RETRY_MS = 300;

export class Subprocesses {
  readonly targets = new Map<number, Target>();
  private readonly retryAt = new Map<number, number>();
  private next = 0;

  /** `opts` as for the root target; every thread of a child is sampled. */
  constructor(
    private readonly root: number,
    private readonly opts: TargetOptions,
  ) {}

  private drop(pid: number): void {
    this.targets.get(pid)?.close();
    this.targets.delete(pid);
  }

  /** Attaches to new descendants and drops the ones that exited (at most every POLL_MS). */
  poll(now: number): void {
    if (now < this.next) return;
    this.next = now + POLL_MS;
    const live = new Set(descendants(this.root));
    for (const pid of [...this.targets.keys()]) if (!live.has(pid)) this.drop(pid);
    for (const pid of live) {
      if (this.targets.has(pid) || (this.retryAt.get(pid) ?? 0) > now) continue;
      try {
        const t = Target.attach(pid, { ...this.opts, threads: undefined });
        t.warmUp(100);
        this.targets.set(pid, t);
      } catch {
        this.retryAt.set(pid, now + RETRY_MS); // no Lua yet, or gone
      }
    }
  }

  prime(): void {
    for (const t of this.targets.values()) t.prime();
  }

  /** Runs `take` on each child; a child that is gone (or fails for good) is dropped, any other failure is one error. */
  sample(take: (t: Target) => void, onError: () => void): void {
    for (const [pid, child] of this.targets) {
      try {
        take(child);
      } catch (e) {
        if (targetGone(pid, e) || e instanceof LuaprofError) this.drop(pid);
        else onError();
      }
    }
  }
}
