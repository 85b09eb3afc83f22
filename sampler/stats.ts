/** Statistics of a recording (RecordStats) and the helpers behind its pause percentiles. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

/** Keeps a bounded uniform sample of values (reservoir), enough for percentiles of long recordings. */
export class Reservoir {
  private readonly values: number[] = [];
  private seen = 0;
  constructor(private readonly size = 100_000) {}
  add(v: number): void {
    this.seen++;
    if (this.values.length < this.size) this.values.push(v);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.size) this.values[j] = v;
    }
  }
  percentile(p: number): number {
    return percentile(
      this.values.slice().sort((a, b) => a - b),
      p,
    );
  }
  get count(): number {
    return this.seen;
  }
}

/** What a recording counts; one slot each in the shared buffer. */
const FIELDS = [
  'samples',
  'withLua',
  'errors',
  'late',
  'empty',
  'offCpu',
  'idle',
  'stopped',
  'truncated',
  'stops',
  'tornLater',
  'tornCut',
  'tornDropped',
  'copierCopies',
  'tickCopies',
  'searchStops',
  'pauseP50Us',
  'pauseP99Us',
  'cpuPerSampleUs',
  'firstSampleMs',
  'attachPauseUs',
  'threads',
  'mergedThreads',
  'startTime',
  'durationMs',
] as const;
type Field = (typeof FIELDS)[number];
const SLOT = Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<Field, number>;
export type Counter =
  | 'samples'
  | 'withLua'
  | 'errors'
  | 'empty'
  | 'offCpu'
  | 'idle'
  | 'stopped'
  | 'truncated'
  | 'stops'
  | 'tornLater'
  | 'tornCut'
  | 'tornDropped'
  | 'copierCopies'
  | 'tickCopies'
  | 'searchStops';

/** Each counter's slot, for RecordStats.count. */
export const COUNTER: Readonly<Record<Counter, number>> = SLOT;

/**
 * The statistics of one recording, the only copy: the sampling worker writes them into a
 * SharedArrayBuffer as it goes, and the main thread reads the same buffer for the live progress
 * line, the end summary and the profile's metadata. One writer (the worker); readers see each
 * field whole (8-byte aligned stores) and everything once the worker has said it is done.
 */
export class RecordStats {
  private readonly slots: Float64Array;
  /** Pause times, kept where they are measured (the worker); `finish` publishes their percentiles. */
  private readonly pauses = new Reservoir();

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(FIELDS.length * 8)) {
    this.slots = new Float64Array(buffer, 0, FIELDS.length);
  }

  // --- written by the sampler

  start(epochMs: number): void {
    this.slots[SLOT.startTime] = epochMs;
  }
  /** Adds one to counter `slot`, a COUNTER value (a name looked up at each call was a megamorphic load per sample). */
  count(slot: number): void {
    this.slots[slot]++;
  }
  /** Adds n to counter `slot`. */
  add(slot: number, n: number): void {
    this.slots[slot] += n;
  }
  setLate(n: number): void {
    this.slots[SLOT.late] = n;
  }
  setThreads(seen: number, merged: number): void {
    this.slots[SLOT.threads] = seen;
    this.slots[SLOT.mergedThreads] = merged;
  }
  pause(us: number): void {
    this.pauses.add(us);
  }
  /** The first sample kept, `ms` after luaprof's process started. */
  firstSample(ms: number): void {
    if (this.slots[SLOT.firstSampleMs] === 0) this.slots[SLOT.firstSampleMs] = ms;
  }
  /** The longest stop of a target thread while luaprof attached (µs; 0: none). */
  attached(longestPauseUs: number): void {
    this.slots[SLOT.attachPauseUs] = longestPauseUs;
  }
  /** `cpuUs`: luaprof's CPU time (every thread) while it sampled. */
  finish(durationMs: number, cpuUs: number): void {
    this.slots[SLOT.pauseP50Us] = this.pauses.percentile(50);
    this.slots[SLOT.pauseP99Us] = this.pauses.percentile(99);
    this.slots[SLOT.cpuPerSampleUs] = cpuUs / Math.max(1, this.copies);
    this.slots[SLOT.durationMs] = durationMs;
  }

  /** Ticks that looked at the target (whatever they found), the unit luaprof's CPU is counted in. */
  private get copies(): number {
    return this.samples + this.errors + this.empty + this.offCpu + this.tornDropped + this.idle;
  }

  // --- read anywhere

  /** Samples kept in the profile. */
  get samples(): number {
    return this.slots[SLOT.samples];
  }
  /** Samples kept that had at least one Lua frame. */
  get withLua(): number {
    return this.slots[SLOT.withLua];
  }
  /** Torn or hostile structures: dropped samples. */
  get errors(): number {
    return this.slots[SLOT.errors];
  }
  /** Samples taken late (the sampler could not keep up). */
  get late(): number {
    return this.slots[SLOT.late];
  }
  /** Ticks that found no Lua frame. */
  get empty(): number {
    return this.slots[SLOT.empty];
  }
  /** Ticks that found the target waiting for a CPU (left out of the profile). */
  get offCpu(): number {
    return this.slots[SLOT.offCpu];
  }
  /** Samples of threads blocked in the kernel (left out unless --idle). */
  get idle(): number {
    return this.slots[SLOT.idle];
  }
  /** Samples of a process stopped by its user (SIGSTOP): idle time (among `idle` unless --idle). */
  get stopped(): number {
    return this.slots[SLOT.stopped];
  }
  /** Samples whose stack was deeper than the walker follows. */
  get truncated(): number {
    return this.slots[SLOT.truncated];
  }
  /** Samples that stopped the thread (--blocking, --native, LuaJIT without switch-out registers, state discovery). */
  get stops(): number {
    return this.slots[SLOT.stops];
  }
  /** Copies of a running thread whose first pass tore and whose next pass was whole (or less torn). */
  get tornLater(): number {
    return this.slots[SLOT.tornLater];
  }
  /** Samples kept with their torn innermost frames cut (marked [torn]). */
  get tornCut(): number {
    return this.slots[SLOT.tornCut];
  }
  /** Samples dropped because every pass of their copy tore through. */
  get tornDropped(): number {
    return this.slots[SLOT.tornDropped];
  }
  /** Samples copied at their due instant on the thread's CPU (sampler/copier: the copier thread or the kernel). */
  get copierCopies(): number {
    return this.slots[SLOT.copierCopies];
  }
  /** Of those, the copies the kernel took at the thread's own timer ticks (copier/tick-copier.ts). */
  get tickCopies(): number {
    return this.slots[SLOT.tickCopies];
  }
  /** Stops taken to search threads for states and the coroutines a host resumes from C, not for a sample. */
  get searchStops(): number {
    return this.slots[SLOT.searchStops];
  }
  /** luaprof's own CPU time (all its threads) per sample taken. */
  get cpuPerSampleUs(): number {
    return this.slots[SLOT.cpuPerSampleUs];
  }
  /** From luaprof's process start to its first sample kept (0: none). */
  get firstSampleMs(): number {
    return this.slots[SLOT.firstSampleMs];
  }
  get attachPauseUs(): number {
    return this.slots[SLOT.attachPauseUs];
  }
  /** Threads sampled, and of them those merged into a profile per name (past --max-threads). */
  get threads(): number {
    return this.slots[SLOT.threads];
  }
  get mergedThreads(): number {
    return this.slots[SLOT.mergedThreads];
  }
  get pauseP50Us(): number {
    return this.slots[SLOT.pauseP50Us];
  }
  get pauseP99Us(): number {
    return this.slots[SLOT.pauseP99Us];
  }
  /** Wall-clock start of sampling, ms since the epoch. */
  get startTime(): number {
    return this.slots[SLOT.startTime];
  }
  /** Length of the sampling (set when it ends). */
  get durationMs(): number {
    return this.slots[SLOT.durationMs];
  }
  /** Sampling ticks per second of recording, whatever each tick found. */
  get achievedHz(): number {
    return this.copies / Math.max(this.durationMs / 1000, 1e-9);
  }
}
