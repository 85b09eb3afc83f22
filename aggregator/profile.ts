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
  /** How samples were taken: copies of running threads, or ptrace stops (--blocking). */
  sampling?: 'running' | 'blocking';
  achievedHz?: number;
  /** Samples that found the thread off its CPU (left out). */
  offCpu?: number;
  /** Samples that stopped the thread. */
  stops?: number;
  /** Samples kept with their torn innermost frames cut, marked [torn]. */
  tornCut?: number;
  /** Copies whose first pass tore and whose next pass served instead. */
  tornLater?: number;
  /** Samples dropped because every pass of their copy tore through. */
  tornDropped?: number;
  /** luaprof's own CPU time per sample taken. */
  cpuPerSampleUs?: number;
  /** From luaprof's process start to its first sample. */
  firstSampleMs?: number;
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

/** Gives each distinct frame an id (first seen, first numbered); with byLine the current line is part of a frame's identity. */
export class FrameTable {
  readonly frames: Frame[] = [];
  private readonly ids = new Map<string, number>();

  constructor(readonly byLine = false) {}

  intern(f: Frame): number {
    const key = frameKey(f, this.byLine);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.frames.length;
      const stored: Frame = { kind: f.kind, name: f.name };
      if (f.file !== undefined) stored.file = f.file;
      if (this.byLine && f.line !== undefined) stored.line = f.line;
      if (f.lineDefined !== undefined) stored.lineDefined = f.lineDefined;
      this.frames.push(stored);
      this.ids.set(key, id);
    }
    return id;
  }
}

/** Interns frames and stacks while samples arrive, and keeps one timeline per thread (keyed pid:tid). */
export class ProfileBuilder {
  readonly stacks: number[][] = [];
  private readonly frameTable: FrameTable;
  private readonly stackIds = new Map<string, number>();
  private readonly threads = new Map<string, ThreadProfile>();

  constructor(byLine = false) {
    this.frameTable = new FrameTable(byLine);
  }

  get frames(): Frame[] {
    return this.frameTable.frames;
  }

  internFrame(f: Frame): number {
    return this.frameTable.intern(f);
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
  addSample(
    tid: number,
    threadName: string,
    framesInnermostFirst: Frame[],
    timeMs: number,
    weight = 1,
    pid?: number,
  ): number {
    const ids: number[] = new Array(framesInnermostFirst.length);
    for (let i = 0; i < framesInnermostFirst.length; i++) ids[i] = this.internFrame(framesInnermostFirst[i]);
    return this.addStack(tid, threadName, ids, timeMs, weight, pid);
  }

  /** Adds one sample whose frames are already interned here (ids innermost first); returns its stack id. */
  addStack(
    tid: number,
    threadName: string,
    frameIdsInnermostFirst: readonly number[],
    timeMs: number,
    weight = 1,
    pid?: number,
  ): number {
    const t = this.thread(tid, threadName, pid);
    const stack = this.internStack(frameIdsInnermostFirst.slice().reverse());
    t.samples.push(stack);
    t.times.push(timeMs);
    t.weights.push(weight);
    return stack;
  }

  build(meta: ProfileMeta): Profile {
    return { meta, frames: this.frames, stacks: this.stacks, threads: [...this.threads.values()] };
  }
}
