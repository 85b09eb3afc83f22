/**
 * The part of a PUC Lua sample taken while the target is stopped: the CallInfo chain of the running
 * thread (and of coroutines it resumed), each frame's function value, closure and Proto header.
 * Reads are batched (one system call per level) and every pointer and count is checked.
 */
import type { Memory } from '../../os/memory.js';
import {
  CHAINED,
  i32,
  isPlausiblePtr,
  LATE,
  locateLate,
  locatedAt,
  readLate,
  readManyLate,
  readManyStable,
  readStable,
  u64,
  type Range,
} from '../../os/memory.js';
import { CaptureError, MAX_FRAMES, StateGoneError } from '../runtime.js';
import { CHAIN_ENTRY_BYTES, MAX_CHAIN, MAX_CHAIN_RECORD } from '../../os/call-chain.js';
import { tvTag, type PucLayout } from './layout.js';
import { tornFrames } from './tears.js';
import { samePrefix } from '../../same-numbers.js';
import { CopiedRecords } from './copied-records.js';

const MAX_COROUTINE_NESTING = 32;
const MAX_STACK_SPAN = 256 << 10;
/** Slots a 5.4 stack can hold (LUAI_MAXSTACK, 1,000,000, and the room an error handler gets). */
const MAX_STACK_SLOTS = 1_100_000;
/** Closures whose Proto fill() remembers (a guess it checks on every read). */
const MAX_PROTO_GUESSES = 50_000;

export interface RawFrame {
  ci: number;
  /** Address of the stack slot holding the function (CallInfo.func). */
  func: number;
  callstatus: number;
  savedpc: number;
  funcTag: number;
  /** Closure address, or the C function pointer of a light C function. */
  funcValue: number;
  /** Closure bytes (LClosure up to p, CClosure up to upvalue[0]). */
  closure: Buffer | null;
  protoAddr: number;
  proto: Buffer | null;
  /** Tag and value of the first argument (coroutine.resume's thread). */
  arg1Tag: number;
  arg1Value: number;
  /** 5.1: tail calls lost under this entry (CallInfo.tailcalls). */
  tailcalls?: number;
  /** 5.1-5.3: the frame's base (CallInfo.base); 5.4's is func + 1. */
  base?: number;
  /** Its closure and Proto came from the resolver's memory of this very frame (fill() leaves it be). */
  recalled?: boolean;
}

/**
 * A frame's own record, with the closure and Proto given. Every RawFrame is made here or by the
 * capture with the same fields in the same order: one hidden class, whose number fields V8 reads
 * unboxed (frames of two shapes cost a heap number per address compared, ~1.3 KB a sample).
 */
export function rawFrameWith(f: RawFrame, closure: Buffer | null, proto: Buffer | null): RawFrame {
  return {
    ci: f.ci,
    func: f.func,
    callstatus: f.callstatus,
    savedpc: f.savedpc,
    funcTag: f.funcTag,
    funcValue: f.funcValue,
    closure,
    protoAddr: f.protoAddr,
    proto,
    arg1Tag: f.arg1Tag,
    arg1Value: f.arg1Value,
    tailcalls: f.tailcalls,
    base: f.base,
    recalled: false,
  };
}

/**
 * Whether a frame is the one remembered: the same call record, the same function in the same slot,
 * stopped at the same instruction. Its closure is then the one read before (a running function is
 * reachable, and a closure made again at its address would run code at another address), and so is
 * its Proto: nothing of it needs reading again.
 */
export function sameFrame(f: RawFrame, m: RawFrame): boolean {
  return (
    f.ci === m.ci &&
    f.func === m.func &&
    f.savedpc === m.savedpc &&
    f.funcValue === m.funcValue &&
    f.funcTag === m.funcTag &&
    f.callstatus === m.callstatus &&
    f.tailcalls === m.tailcalls &&
    f.base === m.base
  );
}

/** Stack slots from `addr` on, `len` bytes of them, held in `bytes` from `at` on. */
export interface StackSpan {
  addr: number;
  bytes: Buffer;
  at: number;
  len: number;
}

export interface RawThread {
  L: number;
  frames: RawFrame[];
  truncated: boolean;
  /** Innermost frames left out because the copy tore there (a copy of a running thread). */
  cut: number;
  /** The stack slots from the outermost frame's function to the innermost's argument, when read in one piece. */
  stack?: StackSpan;
  /** How many outermost frames are the same as at the resolver's last resolve of this thread (PucResolver.recall). */
  recalled?: number;
}

export interface RawLuaStack {
  G: number;
  threads: RawThread[];
}

/** Remembers each thread's CallInfo list so the whole chain can be fetched in one batched read. */
export class CiChainCache {
  private readonly chains = new Map<number, { list: number[]; at: Map<number, number> }>();
  get(L: number): { list: readonly number[]; at: ReadonlyMap<number, number> } | undefined {
    return this.chains.get(L);
  }
  /** The first n of `chain`, which stays the caller's to reuse (what is kept is a copy). */
  set(L: number, chain: readonly number[], n = chain.length): void {
    // The chain read is usually the one cached (the same frames, called from the same records).
    const had = this.chains.get(L)?.list;
    if (had && samePrefix(had, chain, n)) return;
    if (this.chains.size > 4096) this.chains.clear();
    const list = chain.slice(0, n);
    this.chains.set(L, { list, at: new Map(list.map((a, i) => [a, i])) });
  }
}

/**
 * Call records, innermost first: the first n, each one's bytes from offs[i] in bufs[i]. One is kept
 * and refilled for every walk (the arrays only grow): a walk allocates none of its per-frame lists.
 */
class CallInfos {
  n = 0;
  readonly addrs: number[] = [];
  readonly bufs: Buffer[] = [];
  readonly offs: number[] = [];
  truncated = false;
  /** How many of the first came from the copy's own records of the chain, in its order (copiedList). */
  fromCopiedChain = 0;

  reset(): void {
    this.n = 0;
    this.truncated = false;
    this.fromCopiedChain = 0;
  }

  add(addr: number, buf: Buffer, off: number): void {
    const i = this.n++;
    this.addrs[i] = addr;
    this.bufs[i] = buf;
    this.offs[i] = off;
  }
}

/**
 * A thread's frames as the resolver remembers them, outermost first, the innermost left out
 * (PucResolver.recall): frames whose bytes are the same now are handed back as those very objects.
 */
export type PriorFrames = (L: number) => readonly { raw: RawFrame }[] | undefined;

export class PucCapture {
  /** The call records chain() walked link by link (a record met twice is a cycle). */
  private readonly seen = new Set<number>();
  /** Closure address → the Proto its last read pointed at (fill() reads the guess beside the closure). */
  private readonly protoOf = new Map<number, number>();
  /** A walk's lists, refilled by each (captureThread is never re-entered). */
  private readonly cis = new CallInfos();
  private readonly funcAddrs: number[] = [];
  /** The chained thread's records as the copies walked held them (see capturedAgain). */
  private readonly records = new CopiedRecords();
  private readonly slotBufs: (Buffer | null)[] = [];
  private readonly slotOffs: number[] = [];
  /** fillOne()'s reads, their ranges rewritten by each (a batched read keeps none). */
  private readonly oneRead: Range[] = [{ addr: 0, len: 0 }];
  private readonly twoReads: Range[] = [
    { addr: 0, len: 0 },
    { addr: 0, len: 0 },
  ];

  constructor(
    private readonly layout: PucLayout,
    private readonly chains = new CiChainCache(),
    private readonly prior?: PriorFrames,
    /** The thread whose call list a copier may follow itself (its records are read as CHAINED). */
    private readonly chainedL = 0,
  ) {}

  /** Bytes of a frame's slots the walk reads: its function and first argument. */
  get slotBytes(): number {
    return this.layout.tvalue.size * 2;
  }

  private tag(b: Buffer, off: number): number {
    return tvTag(this.layout, b, off);
  }

  /** Address of the thread's base CallInfo (embedded in lua_State, or the CallInfo array in 5.1). */
  baseCi(L: number, hdr: Buffer): number {
    const s = this.layout.state;
    return s.baseCiIsPointer ? u64(hdr, s.base_ci) : L + s.base_ci;
  }

  /**
   * Reads a lua_State header and checks that it is a thread of global state G (when given).
   * `chained`: CHAINED when a copier copies this state itself at each copy (a hosted coroutine).
   */
  readThread(mem: Memory, L: number, G?: number, chained = 0): Buffer | null {
    const s = this.layout.state;
    if (!isPlausiblePtr(L)) return null;
    const hdr = readLate(mem, L, s.size, LATE.root | chained);
    if (!hdr || (hdr[s.tt] & 0x3f) !== (this.layout.tags.thread & 0x0f)) return null;
    const g = u64(hdr, s.l_G);
    if (!isPlausiblePtr(g) || (G !== undefined && g !== G)) return null;
    return hdr;
  }

  /** A running or resuming coroutine of G: status OK and frames above its base CallInfo. */
  isActive(mem: Memory, L: number, G: number, chained = 0): boolean {
    const hdr = this.readThread(mem, L, G, chained);
    if (!hdr) return false;
    return (
      hdr[this.layout.state.status] === this.layout.threadStatus.ok &&
      u64(hdr, this.layout.state.ci) !== this.baseCi(L, hdr)
    );
  }

  /**
   * The frames of thread `mainL` and of the coroutines it resumed. `hosted`: mainL is a coroutine a
   * host resumes from C, which a copier may copy itself, with its records and slots (os/call-chain.ts).
   * `copiedResumed`: a copier copies the coroutine the chained thread resumes (RESUMED_ARG).
   */
  capture(mem: Memory, mainL: number, G: number, hosted = false, copiedResumed = false): RawLuaStack {
    const threads: RawThread[] = [];
    let L = mainL;
    let resumedByMain = false;
    for (let depth = 0; depth < MAX_COROUTINE_NESTING; depth++) {
      if (threads.some((t) => t.L === L)) break;
      const chained = (hosted && depth === 0) || resumedByMain ? CHAINED : 0;
      const hdr = this.readThread(mem, L, G, chained);
      if (!hdr) {
        if (depth === 0) throw new StateGoneError(`lua_State 0x${L.toString(16)} is no longer valid`);
        break;
      }
      const t = this.captureThread(mem, L, hdr, chained !== 0);
      threads.push(t);
      // A thread whose innermost frames were torn resumes nothing that can be trusted.
      if (t.cut) break;
      const next = this.resumedCoroutine(mem, t, G, copiedResumed);
      if (next === null) break;
      resumedByMain = next.byMain;
      L = next.L;
    }
    return { G, threads };
  }

  /** `hosted`: a copier copies the thread's records and each one's slots itself (see capture()). */
  private captureThread(mem: Memory, L: number, hdr: Buffer, hosted: boolean): RawThread {
    const s = this.layout.state;
    const ci = this.layout.callinfo;
    const current = u64(hdr, s.ci);
    const late = L === this.chainedL || hosted ? LATE.callInfo | CHAINED : LATE.callInfo;
    const entries = !hosted && L === this.chainedL && !s.baseCiIsPointer ? this.copiedRecords(mem) : null;
    const again = entries ? this.capturedAgain(mem, L, hdr, current, entries) : null;
    if (again) return again;
    const cis = s.baseCiIsPointer
      ? this.array(mem, hdr, current, u64(hdr, s.base_ci), late)
      : this.chain(mem, L, current, L + s.base_ci, late);
    const { bufs, offs } = cis;
    const n = cis.n;
    const funcAddrs = this.funcAddrs;
    for (let i = 0; i < n; i++) funcAddrs[i] = u64(bufs[i], offs[i] + ci.func);
    if (this.layout.stkIdRel) this.relocated(funcAddrs, n, u64(hdr, s.stack));
    const span = this.readSlots(mem, hdr, funcAddrs, n, hosted);
    const slotBufs = this.slotBufs;
    const slotOffs = this.slotOffs;
    // The outermost frames whose bytes are those of the frames remembered (never the innermost, whose
    // closure may be read below): those objects, their closure and Proto already read (fill() and
    // recall() leave them be), rather than new ones.
    const prior = this.prior?.(L);
    let kept = 0;
    if (prior)
      while (kept < n - 1 && kept < prior.length) {
        const i = n - 1 - kept;
        const m = prior[kept].raw;
        const fb = slotBufs[i];
        const fo = slotOffs[i];
        if (
          m.ci !== cis.addrs[i] ||
          m.func !== funcAddrs[i] ||
          fb === null ||
          m.savedpc !== u64(bufs[i], offs[i] + ci.savedpc) ||
          m.callstatus !== this.callstatus(bufs[i], offs[i]) ||
          m.funcTag !== this.tag(fb, fo) ||
          m.funcValue !== u64(fb, fo) ||
          m.tailcalls !== (ci.tailcalls !== undefined ? i32(bufs[i], offs[i] + ci.tailcalls) : undefined) ||
          m.base !== (ci.base !== undefined ? u64(bufs[i], offs[i] + ci.base) : undefined)
        )
          break;
        kept++;
      }
    const frames: RawFrame[] = new Array<RawFrame>(n);
    for (let i = n - kept; i < n; i++) frames[i] = prior![n - 1 - i].raw;
    for (let i = 0; i < n - kept; i++)
      frames[i] = this.newFrame(
        hdr,
        i,
        cis.addrs[i],
        bufs[i],
        offs[i],
        funcAddrs[i],
        slotBufs[i],
        slotOffs[i],
      );
    const t = this.finish(mem, L, frames, cis.truncated, span);
    // Records read whole from the copy: the next copy's are compared with them.
    if (
      entries &&
      t.cut === 0 &&
      !cis.truncated &&
      cis.fromCopiedChain === n &&
      n * CHAIN_ENTRY_BYTES === entries.length
    )
      this.records.hold(L, u64(hdr, s.stack), entries, n, 0, frames);
    else if (entries) this.records.drop();
    return t;
  }

  /**
   * The chained thread's frames when its copy's outermost records are, word for word, those of the
   * last copy walked, whose frames the resolver remembers (`prior`, the same objects): those frames,
   * their function slots checked, and only the records inside them walked and made into frames. Null
   * when the copy is no such one: its records are then walked one by one.
   */
  private capturedAgain(
    mem: Memory,
    L: number,
    hdr: Buffer,
    current: number,
    entries: Buffer,
  ): RawThread | null {
    const last = this.records;
    const prior = this.prior?.(L);
    const stack = u64(hdr, this.layout.state.stack);
    const n = entries.length / CHAIN_ENTRY_BYTES;
    if (!last.holds(L, stack) || !prior || n < 2 || n > MAX_FRAMES) return null;
    // Never the innermost (its saved pc may be older than what it runs); only frames the resolver
    // remembers as they were made of those records (the same objects, mostly).
    let most = Math.min(n - 1, prior.length);
    for (let k = 0; k < most; k++) {
      const m = prior[k].raw;
      const f = last.frames[last.count - 1 - k];
      if (f !== m && (f === undefined || !sameFrame(f, m))) {
        most = k;
        break;
      }
    }
    const ci = this.layout.callinfo;
    let kept = last.sameOutermost(entries, n, ci.size, most);
    if (kept === 0) return null;
    // The records inside those: linked one to the next from L->ci, the last to the outermost kept.
    const inner = n - kept;
    const funcAddrs = this.funcAddrs;
    let at = current;
    for (let i = 0; i < inner; i++) {
      const e = i * CHAIN_ENTRY_BYTES;
      if (u64(entries, e) !== at) return null;
      funcAddrs[i] = u64(entries, e + 8 + ci.func);
      at = u64(entries, e + 8 + ci.previous!);
    }
    const frames: RawFrame[] = new Array<RawFrame>(n);
    for (let i = inner; i < n; i++) {
      frames[i] = prior[n - 1 - i].raw;
      funcAddrs[i] = frames[i].func;
    }
    if (at !== frames[inner].ci) return null;
    if (this.layout.stkIdRel) this.relocated(funcAddrs, inner, stack);
    // Every frame's function slot, from one read of the stack.
    const span = this.slotSpan(mem, stack, funcAddrs, n);
    if (!span) return null;
    const { bytes, addr: lo, at: from } = span;
    // A kept record whose slot now holds another function: it and those inside it are made anew.
    let same = 0;
    while (same < kept) {
      const f = frames[n - 1 - same];
      const o = from + f.func - lo;
      if (this.tag(bytes, o) !== f.funcTag || u64(bytes, o) !== f.funcValue) break;
      same++;
    }
    kept = same;
    if (kept === 0) return null;
    for (let i = 0; i < n - kept; i++) {
      const o = i * CHAIN_ENTRY_BYTES + 8;
      const func = funcAddrs[i];
      frames[i] = this.newFrame(hdr, i, u64(entries, o - 8), entries, o, func, bytes, from + func - lo);
    }
    // chain()'s cache (for copies that lack records) is left as it was: it is checked link by link where it serves.
    const t = this.finish(mem, L, frames, false, span);
    if (t.cut === 0) last.hold(L, stack, entries, n, kept, frames);
    else last.drop();
    return t;
  }

  /** A frame of record `ci`, its bytes from `o` in `b`, its function's slot from `fo` in `fb` (null: unread). */
  private newFrame(
    hdr: Buffer,
    i: number,
    ci: number,
    b: Buffer,
    o: number,
    func: number,
    fb: Buffer | null,
    fo: number,
  ): RawFrame {
    const s = this.layout.state;
    const rec = this.layout.callinfo;
    const tvSize = this.layout.tvalue.size;
    // The fields of rawFrameWith(), in its order.
    return {
      ci,
      func,
      callstatus: this.callstatus(b, o),
      // 5.1 keeps the running frame's pc in the lua_State (CallInfo.savedpc is saved at calls).
      savedpc: i === 0 && s.savedpc !== undefined ? u64(hdr, s.savedpc) : u64(b, o + rec.savedpc),
      funcTag: fb ? this.tag(fb, fo) : -1,
      funcValue: fb ? u64(fb, fo) : -1,
      closure: null,
      protoAddr: 0,
      proto: null,
      arg1Tag: fb ? this.tag(fb, fo + tvSize) : -1,
      arg1Value: fb ? u64(fb, fo + tvSize) : -1,
      tailcalls: rec.tailcalls !== undefined ? i32(b, o + rec.tailcalls) : undefined,
      base: rec.base !== undefined ? u64(b, o + rec.base) : undefined,
      recalled: false,
    };
  }

  /** The thread's frames made: the innermost C closure read, torn innermost frames cut. */
  private finish(
    mem: Memory,
    L: number,
    frames: RawFrame[],
    truncated: boolean,
    stack: StackSpan | undefined,
  ): RawThread {
    // coroutine.wrap keeps its coroutine in the C closure: needed now, to follow it while stopped.
    // Read as an object that does not change while the frame runs it (a copy of a running thread
    // that lacks it reads it from the thread): a scheduler's wrap functions are each at their own address.
    const top = frames[0];
    if (top && top.funcTag === this.layout.tags.cClosure && isPlausiblePtr(top.funcValue)) {
      top.closure = readStable(mem, top.funcValue, this.closureBytes);
    }
    const cut = tornFrames(this.layout, frames);
    if (cut) frames.splice(0, cut);
    return { L, frames, truncated, cut, stack, recalled: 0 };
  }

  /** The chained thread's copy's records, in CHAIN_ENTRY_BYTES each (null: none, or not all whole). */
  private copiedRecords(mem: Memory): Buffer | null {
    const entries = mem.copiedChain?.();
    if (!entries || entries.length % CHAIN_ENTRY_BYTES !== 0 || this.layout.callinfo.size > MAX_CHAIN_RECORD)
      return null;
    return entries;
  }

  /** A call record's status bits (none before 5.2). */
  private callstatus(b: Buffer, o: number): number {
    const ci = this.layout.callinfo;
    if (ci.callstatusSize === 2) return b[o + ci.callstatus] | (b[o + ci.callstatus + 1] << 8);
    return ci.callstatusSize === 1 ? b[o + ci.callstatus] : 0;
  }

  /**
   * 5.4.5+: while luaD_reallocstack moves the stack, its StkIdRel fields hold offsets from the stack's
   * start (relstack), turned back into pointers frame by frame after the move (correctstack). The
   * stack's contents are whole all the while (copied by realloc before L->stack changes), so a frame
   * whose function is an offset is read at that offset from L->stack: the sample shows the program
   * growing or shrinking its stack rather than being dropped (2-4% of torn.lua's samples).
   */
  private relocated(funcAddrs: number[], n: number, stack: number): void {
    if (!isPlausiblePtr(stack)) throw new CaptureError('stack pointer is not plausible');
    const maxOffset = MAX_STACK_SLOTS * this.layout.tvalue.size;
    for (let i = 0; i < n; i++) {
      const a = funcAddrs[i];
      // A pointer into the stack is at or above its start (a heap below 16 MB, as in a non-PIE build,
      // could otherwise hold pointers that look like offsets).
      if (a < stack && a < maxOffset && a % this.layout.tvalue.size === 0) funcAddrs[i] = stack + a;
      else if (!isPlausiblePtr(a) || a < stack)
        throw new CaptureError('stack is being reallocated (StkIdRel offsets)');
    }
  }

  /**
   * Function value and first argument of each of the first n frames, into slotBufs and slotOffs (the
   * bytes from slotOffs[i] in slotBufs[i]): from one read of the thread's stack when it is compact
   * (returned, as the span read); from a copy, frame by frame where a copier copies them so (`hosted`).
   */
  private readSlots(
    mem: Memory,
    hdr: Buffer,
    funcAddrs: readonly number[],
    n: number,
    hosted: boolean,
  ): StackSpan | undefined {
    const len = this.slotBytes;
    const bufs = this.slotBufs;
    const offs = this.slotOffs;
    if (hosted && mem.locateLate) {
      for (let i = 0; i < n; i++) {
        bufs[i] = locateLate(mem, funcAddrs[i], len, LATE.stack | CHAINED);
        offs[i] = locatedAt;
      }
      return undefined;
    }
    const span = this.slotSpan(mem, u64(hdr, this.layout.state.stack), funcAddrs, n);
    if (span) {
      for (let i = 0; i < n; i++) {
        bufs[i] = span.bytes;
        offs[i] = span.at + funcAddrs[i] - span.addr;
      }
      return span;
    }
    const ranges: Range[] = new Array<Range>(n);
    for (let i = 0; i < n; i++) ranges[i] = { addr: funcAddrs[i], len };
    const got = readManyLate(mem, ranges, LATE.stack);
    for (let i = 0; i < n; i++) {
      bufs[i] = got[i];
      offs[i] = 0;
    }
    return undefined;
  }

  /**
   * The stack slots of the first n frames' functions and first arguments in one read, where their
   * addresses are plausible, at or above the stack's start (`stack`) and close together; else null.
   */
  private slotSpan(mem: Memory, stack: number, funcAddrs: readonly number[], n: number): StackSpan | null {
    const len = this.slotBytes;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const a = funcAddrs[i];
      if (!isPlausiblePtr(a) || a < stack) return null;
      if (a < lo) lo = a;
      if (a + len > hi) hi = a + len;
    }
    if (n === 0 || hi - lo > MAX_STACK_SPAN) return null;
    const bytes = locateLate(mem, lo, hi - lo, LATE.stack);
    return bytes ? { addr: lo, bytes, at: locatedAt, len: hi - lo } : null;
  }

  /** The frame runs a Lua function (5.1: a function whose closure says it is not C; needs the closure). */
  isLuaFunction(f: RawFrame): boolean {
    if (f.funcTag !== this.layout.tags.luaClosure) return false;
    const isC = this.layout.closure.isC;
    if (isC === undefined) return true;
    return f.closure !== null && f.closure[isC] === 0;
  }

  /** The frame runs a C function (light or closure); 5.1 needs the closure. */
  isCFunction(f: RawFrame): boolean {
    const tags = this.layout.tags;
    if (f.funcTag === tags.lightC) return true;
    if (f.funcTag !== tags.cClosure) return false;
    const isC = this.layout.closure.isC;
    if (isC === undefined) return true;
    return f.closure !== null && f.closure[isC] !== 0;
  }

  /**
   * After the target runs again: closures and Proto headers (immutable once created) of a capture, in
   * one batched read, or from the capture's copy, which holds them once planned. Each distinct closure
   * is read once however many frames run it, with the Proto header its previous read pointed at beside
   * it: the closure read in the same batch says whether that guess still holds (a closure freed and
   * another allocated at its address points elsewhere), and the Protos guessed wrong or never seen
   * take a second read.
   */
  fill(mem: Memory, raw: RawLuaStack): void {
    const protoLen = this.layout.proto.size;
    const frames: RawFrame[] = [];
    for (const t of raw.threads) for (const f of t.frames) if (!f.recalled) frames.push(f);
    if (frames.length === 0) return;
    if (frames.length === 1) return this.fillOne(mem, frames[0]);
    const slot = new Map<number, number>();
    const guessAt = new Map<number, number>();
    const protoAt = new Map<number, Buffer | null>();
    const ranges: Range[] = [];
    for (const f of frames) {
      if (f.closure !== null || slot.has(f.funcValue)) continue;
      const r = this.closureRange(f);
      if (!r) continue;
      slot.set(f.funcValue, ranges.length);
      ranges.push(r);
    }
    const closures = ranges.length;
    for (let i = 0; i < closures; i++) {
      const p = this.protoOf.get(ranges[i].addr);
      if (p !== undefined && !guessAt.has(p)) {
        guessAt.set(p, ranges.length);
        ranges.push({ addr: p, len: protoLen });
      }
    }
    const bufs = ranges.length ? readManyStable(mem, ranges) : [];
    const missing: Range[] = [];
    for (const f of frames) {
      const k = slot.get(f.funcValue);
      if (f.closure === null && k !== undefined) f.closure = bufs[k];
      const p = this.protoOfClosure(f);
      if (p === 0 || protoAt.has(p)) continue;
      const g = guessAt.get(p);
      if (g !== undefined && bufs[g]) protoAt.set(p, bufs[g]);
      else {
        protoAt.set(p, null);
        missing.push({ addr: p, len: protoLen });
      }
    }
    if (missing.length) {
      const more = readManyStable(mem, missing);
      missing.forEach((r, i) => protoAt.set(r.addr, more[i]));
    }
    for (const f of frames) if (f.protoAddr !== 0) f.proto = protoAt.get(f.protoAddr) ?? null;
  }

  /** The read of a frame's closure, when its value is one at a plausible address. */
  private closureRange(f: RawFrame): Range | null {
    return this.hasClosure(f) ? { addr: f.funcValue, len: this.closureBytes } : null;
  }

  /** The frame's value is a closure at a plausible address. */
  private hasClosure(f: RawFrame): boolean {
    const tags = this.layout.tags;
    return (f.funcTag === tags.luaClosure || f.funcTag === tags.cClosure) && isPlausiblePtr(f.funcValue);
  }

  /** Bytes of a closure the walk reads (an LClosure up to p, a CClosure up to upvalue[0]). */
  private get closureBytes(): number {
    return this.layout.closure.cupvalue + this.layout.tvalue.size;
  }

  /**
   * The Proto a Lua frame's closure (read) points at, set as its protoAddr and remembered as the next
   * read's guess; 0 when the frame runs no Lua function or the pointer is not plausible.
   */
  private protoOfClosure(f: RawFrame): number {
    if (f.closure === null || !this.isLuaFunction(f)) return 0;
    const p = u64(f.closure, this.layout.closure.lp);
    if (!isPlausiblePtr(p)) return 0;
    f.protoAddr = p;
    if (this.protoOf.size >= MAX_PROTO_GUESSES) this.protoOf.clear();
    this.protoOf.set(f.funcValue, p);
    return p;
  }

  /**
   * fill() of a lone frame, the usual case once a thread's outer frames are recalled: the same reads
   * (the closure with the Proto guessed beside it, then the Proto if the guess was wrong), without
   * the maps that share reads among many frames.
   */
  private fillOne(mem: Memory, f: RawFrame): void {
    const protoLen = this.layout.proto.size;
    let guessed: number | undefined;
    let guessBytes: Buffer | null = null;
    if (f.closure === null) {
      if (!this.hasClosure(f)) return;
      guessed = this.protoOf.get(f.funcValue);
      const reads = guessed === undefined ? this.oneRead : this.twoReads;
      reads[0].addr = f.funcValue;
      reads[0].len = this.closureBytes;
      if (guessed !== undefined) {
        reads[1].addr = guessed;
        reads[1].len = protoLen;
      }
      const bufs = readManyStable(mem, reads);
      f.closure = bufs[0];
      if (guessed !== undefined) guessBytes = bufs[1];
    }
    const p = this.protoOfClosure(f);
    if (p === 0) return;
    if (guessed === p && guessBytes) {
      f.proto = guessBytes;
      return;
    }
    this.oneRead[0].addr = p;
    this.oneRead[0].len = protoLen;
    f.proto = readManyStable(mem, this.oneRead)[0];
  }

  /**
   * 5.1: CallInfo is an array; frames run from L->ci down to (not including) L->base_ci, innermost
   * first. One read covers the (bounded) part of the array that is in use; a copier that copies the
   * records itself (`late` has CHAINED) copies each apart, and at most MAX_CHAIN of them.
   */
  private array(mem: Memory, hdr: Buffer, current: number, base: number, late: number): CallInfos {
    const size = this.layout.callinfo.size;
    const end = this.layout.state.end_ci !== undefined ? u64(hdr, this.layout.state.end_ci) : -1;
    if (
      !isPlausiblePtr(base) ||
      !isPlausiblePtr(current) ||
      current < base ||
      (current - base) % size !== 0 ||
      (end !== -1 && current >= end)
    ) {
      throw new CaptureError('broken CallInfo array');
    }
    const count = (current - base) / size;
    const n = Math.min(count, MAX_FRAMES);
    const cis = this.cis;
    cis.reset();
    if (n === 0) return cis;
    const lo = current - (n - 1) * size;
    let at = current;
    if (late & CHAINED)
      for (; at >= lo && cis.n < MAX_CHAIN; at -= size) {
        const b = locateLate(mem, at, size, late);
        if (!b) throw new CaptureError('unreadable CallInfo');
        cis.add(at, b, locatedAt);
      }
    if (at >= lo) {
      const block = locateLate(mem, lo, at + size - lo, LATE.callInfo);
      const blockAt = locatedAt;
      if (!block) throw new CaptureError('unreadable CallInfo array');
      for (; at >= lo; at -= size) cis.add(at, block, blockAt + at - lo);
    }
    cis.truncated = count > n;
    return cis;
  }

  /** The CallInfo chain from the current one down to (not including) base_ci, innermost first. */
  private chain(mem: Memory, L: number, current: number, baseCi: number, late: number): CallInfos {
    const ci = this.layout.callinfo;
    if (ci.previous === undefined) throw new CaptureError('CallInfo list without previous links');
    // Frames outside the last few calls rarely change: the chain read last time serves from where
    // the walk meets it (one batched read), checked link by link.
    const cached = this.chains.get(L);
    const cis = this.cis;
    cis.reset();
    const seen = this.seen;
    // Set.clear() allocates a new table: only a set that holds something is cleared.
    if (seen.size > 0) seen.clear();
    let at = current;
    if (late & CHAINED && L === this.chainedL) {
      at = this.copiedList(mem, at, baseCi, cis);
      cis.fromCopiedChain = cis.n;
      if (at === baseCi) {
        this.chains.set(L, cis.addrs, cis.n);
        return cis;
      }
      // The copier follows MAX_CHAIN records at most: no copy holds those past them unless a plan does.
      if (cis.n >= MAX_CHAIN) late &= ~CHAINED;
      for (let i = 0; i < cis.n; i++) seen.add(cis.addrs[i]);
    }
    let tryCache = cached !== undefined;
    while (at !== baseCi) {
      if (cis.n >= MAX_FRAMES) {
        cis.truncated = true;
        break;
      }
      if (!isPlausiblePtr(at) || seen.has(at)) throw new CaptureError('broken CallInfo chain');
      const k = tryCache ? cached?.at.get(at) : undefined;
      if (k !== undefined) {
        if (this.followCached(mem, cached!, k, baseCi, cis, late)) break;
        tryCache = false; // the chain changed below here: walk it link by link
      }
      seen.add(at);
      const b = locateLate(mem, at, ci.size, late);
      if (!b) throw new CaptureError('unreadable CallInfo');
      const off = locatedAt;
      cis.add(at, b, off);
      at = u64(b, off + ci.previous);
    }
    if (cis.n > MAX_FRAMES) {
      cis.n = MAX_FRAMES;
      cis.truncated = true;
    }
    if (!cis.truncated) this.chains.set(L, cis.addrs, cis.n);
    return cis;
  }

  /**
   * Appends the records of the chained thread's list that the copier copied, in its order, while each
   * is the one the last points at (one buffer, no lookup per record); returns where the walk goes on.
   */
  private copiedList(mem: Memory, current: number, baseCi: number, cis: CallInfos): number {
    const entries = mem.copiedChain?.();
    const ci = this.layout.callinfo;
    let at = current;
    if (!entries || ci.size > MAX_CHAIN_RECORD) return at;
    for (let e = 0; e + CHAIN_ENTRY_BYTES <= entries.length && at !== baseCi; e += CHAIN_ENTRY_BYTES) {
      // The address word whole: an entry tagged with another length (bits 48-63) reads as -1.
      if (u64(entries, e) !== at) break;
      if (cis.n >= MAX_FRAMES) break;
      cis.add(at, entries, e + 8);
      at = u64(entries, e + 8 + ci.previous!);
    }
    return at;
  }

  /**
   * Appends the cached chain from index k on (read in one batch) when every link still holds, down
   * to base_ci; false (nothing appended) when one does not.
   */
  private followCached(
    mem: Memory,
    cached: { list: readonly number[]; at: ReadonlyMap<number, number> },
    k: number,
    baseCi: number,
    cis: CallInfos,
    late: number,
  ): boolean {
    const ci = this.layout.callinfo;
    const list = cached.list;
    // The records walked before meeting the cached chain must not be in it further on (a cycle).
    for (let i = 0; i < cis.n; i++) if ((cached.at.get(cis.addrs[i]) ?? -1) >= k) return false;
    // A copy serves each read on its own; a live process takes them in one batched read.
    const batch = mem.readLate
      ? null
      : readManyLate(
          mem,
          list.slice(k).map((a) => ({ addr: a, len: ci.size })),
          late,
        );
    const start = cis.n;
    for (let i = k; i < list.length; i++) {
      const b = batch ? batch[i - k] : locateLate(mem, list[i], ci.size, late);
      const o = batch ? 0 : locatedAt;
      const expected = i + 1 < list.length ? list[i + 1] : baseCi;
      if (!b || u64(b, o + ci.previous!) !== expected) {
        cis.n = start;
        return false;
      }
      cis.add(list[i], b, o);
    }
    return true;
  }

  /**
   * A thread's innermost frame is `coroutine.resume(co)` or a `coroutine.wrap` function when it
   * handed control to a coroutine: the coroutine is its first argument or the wrap closure's upvalue.
   * `byMain`: the coroutine the chained thread resumes, which a copier copies itself with its records
   * and slots when `copiedResumed` (os/call-chain.ts RESUMED_ARG).
   */
  private resumedCoroutine(
    mem: Memory,
    t: RawThread,
    G: number,
    copiedResumed: boolean,
  ): { L: number; byMain: boolean } | null {
    const top = t.frames[0];
    if (!top) return null;
    const tags = this.layout.tags;
    if (!this.isCFunction(top)) return null;
    const candidates: { L: number; byMain: boolean }[] = [];
    // A copier copies the one of the chained thread's innermost record (os/call-chain.ts RESUMED_ARG),
    // found in this order: the wrap closure's upvalue first, as a slot past a call without arguments
    // (a wrap function's) may hold a stale thread.
    const byMain = copiedResumed && this.chainedL !== 0 && t.L === this.chainedL;
    if (top.funcTag === tags.cClosure && top.closure) {
      const off = this.layout.closure.cupvalue;
      if (this.tag(top.closure, off) === tags.thread) candidates.push({ L: u64(top.closure, off), byMain });
    }
    if (top.arg1Tag === tags.thread) candidates.push({ L: top.arg1Value, byMain });
    for (const co of candidates) {
      if (co.L === t.L) continue;
      const hdr = this.readThread(mem, co.L, G, co.byMain ? CHAINED : 0);
      if (!hdr) continue;
      const s = this.layout.state;
      // A running (or normal) coroutine has status LUA_OK and frames above its base_ci.
      if (hdr[s.status] !== this.layout.threadStatus.ok || u64(hdr, s.ci) === this.baseCi(co.L, hdr))
        continue;
      return co;
    }
    return null;
  }
}
