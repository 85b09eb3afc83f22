/** The in-memory profile model shared by the sampler (producer) and the reports (consumers). */
import { StackTrie } from './stack-trie.js';
import { TimelineStore, type TimelineStoreOptions } from './timeline-store.js';

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
  /** Stops taken to search threads for states and the coroutines a host resumes from C, not for a sample. */
  searchStops?: number;
  /** Samples kept with their torn innermost frames cut, marked [torn]. */
  tornCut?: number;
  /** Copies whose first pass tore and whose next pass served instead. */
  tornLater?: number;
  /** Samples dropped because every pass of their copy tore through. */
  tornDropped?: number;
  /** Samples whose copy was taken on the thread's CPU at its instant (sampler/copier: the copier thread or the kernel). */
  copierCopies?: number;
  /** Of those, the copies the kernel took at the thread's own timer ticks, in its context (sampler/copier/tick-copier.ts). */
  tickCopies?: number;
  /** luaprof's own CPU time per sample taken. */
  cpuPerSampleUs?: number;
  /** From luaprof's process start to its first sample. */
  firstSampleMs?: number;
  /** The longest stop of a target thread while luaprof attached (µs; 0: it was not stopped). */
  attachPauseUs?: number;
  /** Threads sampled, when some of them were merged: those past --max-threads share a profile per name. */
  threadsSeen?: number;
  mergedThreads?: number;
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

/** Frame ids by kind, name, file, line defined and (with byLine) current line: no key string built per frame. */
type FrameIds = Map<
  string,
  Map<string, Map<string, Map<number | undefined, Map<number | undefined, number>>>>
>;

function level<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}

/** Gives each distinct frame an id (first seen, first numbered); with byLine the current line is part of a frame's identity. */
export class FrameTable {
  readonly frames: Frame[] = [];
  private readonly ids: FrameIds = new Map();

  constructor(readonly byLine = false) {}

  intern(f: Frame): number {
    const byName = this.ids.get(f.kind) ?? level(this.ids, f.kind, () => new Map());
    const byFile = byName.get(f.name) ?? level(byName, f.name, () => new Map());
    const file = f.file ?? '';
    const byDefined = byFile.get(file) ?? level(byFile, file, () => new Map());
    const byLine = byDefined.get(f.lineDefined) ?? level(byDefined, f.lineDefined, () => new Map());
    const line = this.byLine ? f.line : undefined;
    let id = byLine.get(line);
    if (id === undefined) {
      id = this.frames.length;
      const stored: Frame = { kind: f.kind, name: f.name };
      if (f.file !== undefined) stored.file = f.file;
      if (this.byLine && f.line !== undefined) stored.line = f.line;
      if (f.lineDefined !== undefined) stored.lineDefined = f.lineDefined;
      this.frames.push(stored);
      byLine.set(line, id);
    }
    return id;
  }
}

/** A thread of a ProfileBuilder: who it is; its samples are in the builder's timeline store. */
export interface BuilderThread {
  tid: number;
  pid?: number;
  name: string;
  /** Its number in the store: threads in the order their first sample came. */
  readonly index: number;
}

export interface ProfileBuilderOptions extends TimelineStoreOptions {
  /** Frames keyed by current line rather than by function. */
  byLine?: boolean;
}

/**
 * Interns frames and stacks while samples arrive, and keeps one timeline per thread (keyed pid:tid)
 * in a TimelineStore: compact, and spilled to a temporary file past a chunk when given a directory.
 * `build` reads the timelines back into the Profile and closes the store: no sample can be added after.
 */
export class ProfileBuilder {
  readonly stacks: number[][] = [];
  private readonly frameTable: FrameTable;
  /** Stacks by their frame ids: a sample's stack is found without building a key. */
  private readonly stackTrie = new StackTrie();
  private readonly threads = new Map<number, Map<number, BuilderThread>>();
  /** Threads in the order their first sample came. */
  private readonly order: BuilderThread[] = [];
  private readonly store: TimelineStore;
  private built: ThreadProfile[] | null = null;

  constructor(options: boolean | ProfileBuilderOptions = {}) {
    const o = typeof options === 'boolean' ? { byLine: options } : options;
    this.frameTable = new FrameTable(o.byLine ?? false);
    this.store = new TimelineStore(o);
  }

  get frames(): Frame[] {
    return this.frameTable.frames;
  }

  internFrame(f: Frame): number {
    return this.frameTable.intern(f);
  }

  internStack(frameIdsRootFirst: readonly number[]): number {
    const node = this.stackTrie.rootFirst(frameIdsRootFirst);
    if (node.id < 0) node.id = this.stacks.push(frameIdsRootFirst.slice()) - 1;
    return node.id;
  }

  /** internStack of ids given innermost first, each mapped through `map` (nothing copied unless the stack is new). */
  internStackInnermostFirst(ids: readonly number[], map: ((id: number) => number) | null = null): number {
    const node = this.stackTrie.innermostFirst(ids, map);
    if (node.id < 0) {
      const rootFirst = new Array<number>(ids.length);
      for (let i = 0; i < ids.length; i++) rootFirst[ids.length - 1 - i] = map ? map(ids[i]) : ids[i];
      node.id = this.stacks.push(rootFirst) - 1;
    }
    return node.id;
  }

  thread(tid: number, name: string, pid?: number): BuilderThread {
    // Keyed pid:tid (an absent pid is its own key), without building a string per sample.
    const pidKey = pid ?? -1;
    let byTid = this.threads.get(pidKey);
    if (!byTid) {
      byTid = new Map();
      this.threads.set(pidKey, byTid);
    }
    let t = byTid.get(tid);
    if (!t) {
      t =
        pid === undefined
          ? { tid, name, index: this.order.length }
          : { tid, pid, name, index: this.order.length };
      byTid.set(tid, t);
      this.order.push(t);
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

  /**
   * Adds one sample whose frames are already interned here (ids innermost first), or interned in
   * another table that `map` turns into this one's ids; returns its stack id.
   */
  addStack(
    tid: number,
    threadName: string,
    frameIdsInnermostFirst: readonly number[],
    timeMs: number,
    weight = 1,
    pid?: number,
    map: ((id: number) => number) | null = null,
  ): number {
    const stack = this.internStackInnermostFirst(frameIdsInnermostFirst, map);
    this.push(this.thread(tid, threadName, pid), stack, timeMs, weight);
    return stack;
  }

  /** Appends one sample of an interned stack to a thread's timeline. */
  push(thread: BuilderThread, stack: number, timeMs: number, weight = 1): void {
    if (this.built) throw new Error('ProfileBuilder: sample added after build');
    this.store.push(thread.index, stack, timeMs, weight);
  }

  /** Samples written to the temporary file so far. */
  get samplesInFile(): number {
    return this.store.samplesInFile;
  }

  /** The profile; the first call reads the timelines back and closes the store (its file with it). */
  build(meta: ProfileMeta): Profile {
    if (!this.built) {
      const timelines = this.store.readBack(this.order.length);
      this.store.close();
      this.built = this.order.map((t, i) => {
        const out: ThreadProfile = { tid: t.tid, name: t.name, ...timelines[i] };
        if (t.pid !== undefined) out.pid = t.pid;
        return out;
      });
    }
    return { meta, frames: this.frames, stacks: this.stacks, threads: this.built.slice() };
  }

  /** Releases the store (and its temporary file) of a profile that will not be built. */
  dispose(): void {
    this.store.close();
  }
}
