/** The in-memory profile model shared by the sampler (producer) and the reports (consumers). */

export type FrameKind = 'lua' | 'c' | 'native' | 'jit' | 'gc' | 'idle';

export interface Frame {
  kind: FrameKind;
  /** Function name as debug.traceback would print it ("f", "string.rep", "main chunk", "function <a.lua:3>"). */
  name: string;
  /** Short source ("app.lua", "[string \"x\"]", "[C]") or native module path. */
  file?: string;
  /** Current line (only part of a frame's identity with --lines). */
  line?: number;
  /** Line where the function is defined. */
  lineDefined?: number;
}

export interface ProfileMeta {
  tool: 'luaprof';
  version: string;
  command?: string[];
  pid?: number;
  /** Requested sampling rate in Hz. */
  rate?: number;
  /** Wall-clock start, ms since the epoch. */
  startTime: number;
  durationMs: number;
  samples: number;
  errors: number;
  lateSamples?: number;
  luaVersion?: string;
  /** Frames keyed by current line rather than by function. */
  byLine?: boolean;
  pauseP50Us?: number;
  pauseP99Us?: number;
}

export interface ThreadProfile {
  tid: number;
  pid?: number;
  name: string;
  /** Stack ids into Profile.stacks, one per sample. */
  samples: number[];
  /** Sample times in ms since meta.startTime. */
  times: number[];
  /** Weight of each sample (1 for plain sampling). */
  weights: number[];
}

export interface Profile {
  meta: ProfileMeta;
  frames: Frame[];
  /** Interned stacks: frame indices, outermost (root) first. */
  stacks: number[][];
  threads: ThreadProfile[];
}

export function frameKey(f: Frame, byLine = false): string {
  const base = `${f.kind}\u0000${f.name}\u0000${f.file ?? ''}\u0000${f.lineDefined ?? ''}`;
  return byLine ? `${base}\u0000${f.line ?? ''}` : base;
}

/** Interns frames and stacks while samples arrive. */
export class ProfileBuilder {
  readonly frames: Frame[] = [];
  readonly stacks: number[][] = [];
  private readonly frameIds = new Map<string, number>();
  private readonly stackIds = new Map<string, number>();
  private readonly threads = new Map<string, ThreadProfile>();

  constructor(private readonly byLine = false) {}

  internFrame(f: Frame): number {
    const key = frameKey(f, this.byLine);
    let id = this.frameIds.get(key);
    if (id === undefined) {
      id = this.frames.length;
      const stored: Frame = { kind: f.kind, name: f.name };
      if (f.file !== undefined) stored.file = f.file;
      if (this.byLine && f.line !== undefined) stored.line = f.line;
      if (f.lineDefined !== undefined) stored.lineDefined = f.lineDefined;
      this.frames.push(stored);
      this.frameIds.set(key, id);
    }
    return id;
  }

  internStack(frameIdsRootFirst: number[]): number {
    const key = frameIdsRootFirst.join(',');
    let id = this.stackIds.get(key);
    if (id === undefined) {
      id = this.stacks.length;
      this.stacks.push(frameIdsRootFirst.slice());
      this.stackIds.set(key, id);
    }
    return id;
  }

  thread(tid: number, name: string, pid?: number): ThreadProfile {
    const key = `${pid ?? ''}:${tid}`;
    let t = this.threads.get(key);
    if (!t) {
      t = { tid, name, samples: [], times: [], weights: [] };
      if (pid !== undefined) t.pid = pid;
      this.threads.set(key, t);
    }
    return t;
  }

  /** Adds one sample (frames innermost first, as walkers produce them); returns its stack id. */
  addSample(tid: number, threadName: string, framesInnermostFirst: Frame[], timeMs: number, weight = 1, pid?: number): number {
    const ids: number[] = new Array(framesInnermostFirst.length);
    for (let i = 0; i < framesInnermostFirst.length; i++) {
      ids[framesInnermostFirst.length - 1 - i] = this.internFrame(framesInnermostFirst[i]);
    }
    const t = this.thread(tid, threadName, pid);
    const stack = this.internStack(ids);
    t.samples.push(stack);
    t.times.push(timeMs);
    t.weights.push(weight);
    return stack;
  }

  build(meta: ProfileMeta): Profile {
    return { meta, frames: this.frames, stacks: this.stacks, threads: [...this.threads.values()] };
  }
}
