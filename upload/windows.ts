/**
 * Cuts the sample stream into windows of --upload-interval, one profile per process per window.
 * A sample belongs to the window its time falls in (not the one it arrives in: the sampler sends
 * batches every 200 ms), so a window is closed only once a grace period past its end has gone by.
 * Memory is bounded by the windows still open: two or three at most.
 */
import { ProfileBuilder, type Frame, type Profile, type ProfileMeta } from '../aggregator/profile.js';

/** One sample as the recorder streams it: frame ids into the stream's table, innermost first. */
export interface WindowSample {
  pid: number;
  tid: number;
  /** ms since the recording started. */
  time: number;
  frames: readonly number[];
}

export interface StreamView {
  readonly frames: readonly Frame[];
  threadName(pid: number, tid: number): string;
}

/** One process over one window. */
interface ProcessWindow {
  builder: ProfileBuilder;
  /** Stream frame id → this builder's frame id (-1: not yet interned). */
  ids: number[];
  samples: number;
}

export interface ClosedWindow {
  index: number;
  /** ms since the recording started. */
  from: number;
  until: number;
  /** One profile per process, by pid. */
  profiles: Map<number, Profile>;
}

/** What a window's profiles say about themselves, besides their samples. */
export type WindowMeta = (pid: number, fromMs: number, durationMs: number, samples: number) => ProfileMeta;

export class WindowAssembler {
  private readonly open = new Map<number, Map<number, ProcessWindow>>();

  constructor(
    readonly intervalMs: number,
    private readonly byLine = false,
  ) {}

  add(s: WindowSample, stream: StreamView): void {
    const index = Math.floor(s.time / this.intervalMs);
    let byPid = this.open.get(index);
    if (!byPid) this.open.set(index, (byPid = new Map()));
    let w = byPid.get(s.pid);
    if (!w) byPid.set(s.pid, (w = { builder: new ProfileBuilder(this.byLine), ids: [], samples: 0 }));
    const { builder, ids } = w;
    const map = (id: number) => {
      let mine = ids[id];
      if (mine === undefined || mine < 0) mine = ids[id] = builder.internFrame(stream.frames[id]);
      return mine;
    };
    const t = builder.thread(s.tid, '', s.pid);
    if (t.name === '') t.name = stream.threadName(s.pid, s.tid);
    builder.addStack(s.tid, t.name, s.frames, s.time - index * this.intervalMs, 1, s.pid, map);
    w.samples++;
  }

  /**
   * Windows whose end is at least `graceMs` before `now` (ms since the start), oldest first; with
   * `all`, every open window (the last one ends at `now`: a partial window at the end of a recording).
   */
  take(now: number, meta: WindowMeta, graceMs: number, all = false): ClosedWindow[] {
    const out: ClosedWindow[] = [];
    for (const index of [...this.open.keys()].sort((a, b) => a - b)) {
      const from = index * this.intervalMs;
      const end = from + this.intervalMs;
      if (!all && end + graceMs > now) continue;
      const until = all ? Math.max(from, Math.min(end, now)) : end;
      const profiles = new Map<number, Profile>();
      for (const [pid, w] of this.open.get(index)!)
        profiles.set(pid, w.builder.build(meta(pid, from, until - from, w.samples)));
      this.open.delete(index);
      out.push({ index, from, until, profiles });
    }
    return out;
  }
}
