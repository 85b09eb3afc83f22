/**
 * The memory a sampling worker shares with its copier thread (copier-thread.ts): the plan of the copy
 * (process_vm_readv's remote iovecs, behind a sequence word that is odd while the plan is written),
 * slots the copier copies into in turn, and the words each side waits on.
 */
/** Copies in flight at most: a burst of short intervals is copied on time and walked after. */
export const SLOTS = 16;
/** A plan has at most this many spans (PrefetchMemory's plans are cut there too). */
export const MAX_PLAN_IOVECS = 1024;
/** Bytes a slot holds: a plan larger than this is copied the usual way. */
export const SLOT_BYTES = 4 << 20;

/** Int32 words of the control block. */
export const W = {
  /** RUN, or STOP (the copier thread ends). */
  state: 0,
  /** The CPU the copier sleeps on (the copied thread's); -1: copy nothing until told a CPU. */
  cpu: 1,
  /** Incremented before and after the plan is written: odd while it is. 0: no plan yet. */
  planSeq: 2,
  planCount: 3,
  planBytes: 4,
  /** Copies made, and copies the sampling worker is done with (the slot of copy n is n % SLOTS). */
  produced: 5,
  consumed: 6,
  /** The copier sleeps on this word (notified to end a sleep early). */
  sleep: 7,
  /** Samples the copier gave up (behind, no free slot, no plan, a move to another CPU). */
  late: 8,
  /** Set once the copier thread runs, real-time and ready. */
  ready: 9,
  /** Whether the copier could make itself real-time (1) or not (0). */
  realtime: 10,
  /** The sampling worker waits on `produced` (1): the copier wakes it; else it wakes on its own timer. */
  waiting: 11,
  /** A word only the sampling worker sleeps on (its own timer). */
  walkerSleep: 12,
} as const;
const CONTROL_WORDS = 16;

/** Per slot: Int32 words (plan sequence the copy used, -1 when the plan changed under it; bytes read). */
const SLOT_I32 = 2;
/** Per slot: Float64 words (CLOCK_MONOTONIC ns: due, copy start, copy end). */
const SLOT_F64 = 3;
/** Float64 words after the slots': the time the next copy is due (CLOCK_MONOTONIC ns). */
const NEXT_DUE = SLOTS * SLOT_F64;

export const STATE_RUN = 0;
export const STATE_STOP = 1;

export interface ChannelBuffers {
  control: SharedArrayBuffer;
  times: SharedArrayBuffer;
  plan: SharedArrayBuffer;
  slots: SharedArrayBuffer;
}

export function newChannel(): ChannelBuffers {
  return {
    control: new SharedArrayBuffer(4 * (CONTROL_WORDS + SLOTS * SLOT_I32)),
    times: new SharedArrayBuffer(8 * (SLOTS * SLOT_F64 + 1)),
    plan: new SharedArrayBuffer(16 * MAX_PLAN_IOVECS),
    slots: new SharedArrayBuffer(SLOTS * SLOT_BYTES),
  };
}

/** What one copy was: its slot's bytes and times. */
export interface SlotRecord {
  planSeq: number;
  got: number;
  dueNs: number;
  fromNs: number;
  toNs: number;
}

/** Typed views of a channel, the same on both sides. */
export class Channel {
  readonly words: Int32Array;
  private readonly times: Float64Array;
  /** The plan's remote iovecs ({addr, len} u64 pairs). */
  readonly plan: Buffer;
  private readonly slotBufs: Buffer[];

  constructor(readonly buffers: ChannelBuffers) {
    this.words = new Int32Array(buffers.control);
    this.times = new Float64Array(buffers.times);
    this.plan = Buffer.from(buffers.plan);
    this.slotBufs = Array.from({ length: SLOTS }, (_, i) =>
      Buffer.from(buffers.slots, i * SLOT_BYTES, SLOT_BYTES),
    );
  }

  slot(i: number): Buffer {
    return this.slotBufs[i];
  }

  writeSlot(i: number, r: SlotRecord): void {
    const w = CONTROL_WORDS + i * SLOT_I32;
    this.words[w] = r.planSeq;
    this.words[w + 1] = r.got;
    const t = i * SLOT_F64;
    this.times[t] = r.dueNs;
    this.times[t + 1] = r.fromNs;
    this.times[t + 2] = r.toNs;
  }

  /** When the copier's next copy is due (CLOCK_MONOTONIC ns; written before it sleeps). */
  get nextDueNs(): number {
    return this.times[NEXT_DUE];
  }

  set nextDueNs(ns: number) {
    this.times[NEXT_DUE] = ns;
  }

  readSlot(i: number): SlotRecord {
    const w = CONTROL_WORDS + i * SLOT_I32;
    const t = i * SLOT_F64;
    return {
      planSeq: this.words[w],
      got: this.words[w + 1],
      dueNs: this.times[t],
      fromNs: this.times[t + 1],
      toNs: this.times[t + 2],
    };
  }
}
