/**
 * What `luaprof top` shows: per function (or per line), the share of samples it was running in
 * (own) and on the stack (total), over the last seconds or since the start. Samples arrive as
 * stacks of frame ids; the window keeps the recent ones and running totals, so memory stays bounded
 * by the number of distinct stacks, not by the length of the session.
 */
import type { Frame } from './profile.js';

export type TopSort = 'ownPct' | 'totalPct' | 'ownTime' | 'totalTime';

/** One row: a function (or line) and its sample counts. */
export interface TopRow {
  frame: Frame;
  own: number;
  total: number;
}

export interface TopQuery {
  /** Only samples newer than this many ms before `now`; null: everything since the start. */
  windowMs: number | null;
  now: number;
  /** Only this thread ("pid:tid"); null: all threads. */
  thread: string | null;
  /** Rows per current line instead of per function. */
  byLine: boolean;
}

export interface TopTable {
  rows: TopRow[];
  /** Samples the rows are shares of. */
  samples: number;
  /** Threads seen in those samples. */
  threads: string[];
}

interface Recent {
  time: number;
  thread: string;
  stack: number;
}

/** The identity of a frame in a row: with byLine its current line too. */
function rowKey(f: Frame, byLine: boolean): string {
  const base = `${f.kind}\u0000${f.name}\u0000${f.file ?? ''}\u0000${f.lineDefined ?? ''}`;
  return byLine ? `${base}\u0000${f.line ?? ''}` : base;
}

export class TopWindow {
  /** Interned stacks: frame ids, innermost first. */
  private readonly stacks: number[][] = [];
  private readonly stackIds = new Map<string, number>();
  /** Samples since the start, per thread and stack. */
  private readonly totals = new Map<string, Map<number, number>>();
  /** Samples of the last keepMs, oldest first. */
  private recent: Recent[] = [];
  private recentStart = 0;

  constructor(
    private readonly frameOf: (id: number) => Frame,
    private readonly keepMs = 10_000,
  ) {}

  /** One sample: `frames` are frame ids, innermost first; `time` in ms. */
  add(time: number, thread: string, frames: readonly number[]): void {
    const key = frames.join(',');
    let stack = this.stackIds.get(key);
    if (stack === undefined) {
      stack = this.stacks.length;
      this.stacks.push(frames.slice());
      this.stackIds.set(key, stack);
    }
    let perThread = this.totals.get(thread);
    if (!perThread) this.totals.set(thread, (perThread = new Map()));
    perThread.set(stack, (perThread.get(stack) ?? 0) + 1);
    this.recent.push({ time, thread, stack });
  }

  /** Drops samples older than the window kept (call with the current time). */
  expire(now: number): void {
    let i = this.recentStart;
    while (i < this.recent.length && this.recent[i].time < now - this.keepMs) i++;
    this.recentStart = i;
    if (i > 4096 && i > this.recent.length / 2) {
      this.recent = this.recent.slice(i);
      this.recentStart = 0;
    }
  }

  /** Every thread seen since the start. */
  get threads(): string[] {
    return [...this.totals.keys()].sort();
  }

  table(q: TopQuery): TopTable {
    this.expire(q.now);
    const counts = new Map<number, number>();
    const threads = new Set<string>();
    const take = (thread: string, stack: number, n: number) => {
      if (q.thread !== null && thread !== q.thread) return;
      threads.add(thread);
      counts.set(stack, (counts.get(stack) ?? 0) + n);
    };
    if (q.windowMs === null) {
      for (const [thread, stacks] of this.totals) for (const [stack, n] of stacks) take(thread, stack, n);
    } else {
      const from = q.now - Math.min(q.windowMs, this.keepMs);
      for (let i = this.recentStart; i < this.recent.length; i++) {
        const r = this.recent[i];
        if (r.time >= from) take(r.thread, r.stack, 1);
      }
    }
    const rows = new Map<string, TopRow>();
    let samples = 0;
    for (const [stack, n] of counts) {
      samples += n;
      const seen = new Set<string>();
      this.stacks[stack].forEach((id, depth) => {
        const frame = this.frameOf(id);
        const key = rowKey(frame, q.byLine);
        let row = rows.get(key);
        if (!row) rows.set(key, (row = { frame, own: 0, total: 0 }));
        if (depth === 0) row.own += n;
        // A function on the stack twice (recursion) counts once towards its total.
        if (!seen.has(key)) {
          seen.add(key);
          row.total += n;
        }
      });
    }
    return { rows: [...rows.values()], samples, threads: [...threads].sort() };
  }
}

/** Rows in the order a sort key asks for (ties by the other count, then by name). */
export function sortRows(rows: readonly TopRow[], by: TopSort): TopRow[] {
  const own = by === 'ownPct' || by === 'ownTime';
  return [...rows].sort(
    (a, b) =>
      (own ? b.own - a.own : b.total - a.total) ||
      (own ? b.total - a.total : b.own - a.own) ||
      a.frame.name.localeCompare(b.frame.name),
  );
}
