/**
 * The part of a PUC Lua sample taken while the target is stopped: the CallInfo chain of the running
 * thread (and of coroutines it resumed), each frame's function value, closure and Proto header.
 * Reads are batched (one system call per level) and every pointer and count is checked.
 */
import type { Memory } from '../../os/memory.js';
import {
  isPlausiblePtr,
  LATE,
  readLate,
  readManyLate,
  readManyStable,
  u64,
  type Range,
} from '../../os/memory.js';
import { CaptureError, MAX_FRAMES, StateGoneError } from '../runtime.js';
import type { PucLayout } from './layout.js';
import { tornFrames } from './tears.js';

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

export interface RawThread {
  L: number;
  frames: RawFrame[];
  truncated: boolean;
  /** Innermost frames left out because the copy tore there (a copy of a running thread). */
  cut: number;
  /** The stack slots from the outermost frame's function to the innermost's argument, when read in one piece. */
  stack?: { addr: number; bytes: Buffer };
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
  set(L: number, chain: number[]): void {
    // The chain read is usually the one cached (the same frames, called from the same records).
    const had = this.chains.get(L)?.list;
    if (had && had.length === chain.length && had.every((a, i) => a === chain[i])) return;
    if (this.chains.size > 4096) this.chains.clear();
    this.chains.set(L, { list: chain, at: new Map(chain.map((a, i) => [a, i])) });
  }
}

export class PucCapture {
  /** Closure address → the Proto its last read pointed at (fill() reads the guess beside the closure). */
  private readonly protoOf = new Map<number, number>();

  constructor(
    private readonly layout: PucLayout,
    private readonly chains = new CiChainCache(),
  ) {}

  private tag(b: Buffer, off: number): number {
    const tv = this.layout.tvalue;
    return tv.ttSize === 1 ? b[off + tv.tt] : b.readInt32LE(off + tv.tt);
  }

  /** Address of the thread's base CallInfo (embedded in lua_State, or the CallInfo array in 5.1). */
  baseCi(L: number, hdr: Buffer): number {
    const s = this.layout.state;
    return s.baseCiIsPointer ? u64(hdr, s.base_ci) : L + s.base_ci;
  }

  /** Reads a lua_State header and checks that it is a thread of global state G (when given). */
  readThread(mem: Memory, L: number, G?: number): Buffer | null {
    const s = this.layout.state;
    if (!isPlausiblePtr(L)) return null;
    const hdr = readLate(mem, L, s.size, LATE.root);
    if (!hdr || (hdr[s.tt] & 0x3f) !== (this.layout.tags.thread & 0x0f)) return null;
    const g = u64(hdr, s.l_G);
    if (!isPlausiblePtr(g) || (G !== undefined && g !== G)) return null;
    return hdr;
  }

  /** A running or resuming coroutine of G: status OK and frames above its base CallInfo. */
  isActive(mem: Memory, L: number, G: number): boolean {
    const hdr = this.readThread(mem, L, G);
    if (!hdr) return false;
    return (
      hdr[this.layout.state.status] === this.layout.threadStatus.ok &&
      u64(hdr, this.layout.state.ci) !== this.baseCi(L, hdr)
    );
  }

  capture(mem: Memory, mainL: number, G: number): RawLuaStack {
    const threads: RawThread[] = [];
    const seen = new Set<number>();
    let L = mainL;
    for (let depth = 0; depth < MAX_COROUTINE_NESTING; depth++) {
      if (seen.has(L)) break;
      seen.add(L);
      const hdr = this.readThread(mem, L, G);
      if (!hdr) {
        if (depth === 0) throw new StateGoneError(`lua_State 0x${L.toString(16)} is no longer valid`);
        break;
      }
      const t = this.captureThread(mem, L, hdr);
      threads.push(t);
      // A thread whose innermost frames were torn resumes nothing that can be trusted.
      if (t.cut) break;
      const next = this.resumedCoroutine(mem, t, G);
      if (next === null) break;
      L = next;
    }
    return { G, threads };
  }

  private captureThread(mem: Memory, L: number, hdr: Buffer): RawThread {
    const s = this.layout.state;
    const ci = this.layout.callinfo;
    const tvSize = this.layout.tvalue.size;
    const current = u64(hdr, s.ci);
    const cis = s.baseCiIsPointer
      ? this.array(mem, hdr, current, u64(hdr, s.base_ci))
      : this.chain(mem, L, current, L + s.base_ci);
    const funcAddrs = cis.bufs.map((b) => u64(b, ci.func));
    if (this.layout.stkIdRel) this.relocated(funcAddrs, u64(hdr, s.stack));
    const { slots, span } = this.readSlots(mem, hdr, funcAddrs);
    const frames: RawFrame[] = [];
    for (let i = 0; i < cis.addrs.length; i++) {
      const b = cis.bufs[i];
      const fb = slots[i];
      frames.push({
        ci: cis.addrs[i],
        func: funcAddrs[i],
        callstatus:
          ci.callstatusSize === 2
            ? b.readUInt16LE(ci.callstatus)
            : ci.callstatusSize === 1
              ? b[ci.callstatus]
              : 0,
        // 5.1 keeps the running frame's pc in the lua_State (CallInfo.savedpc is saved at calls).
        savedpc: i === 0 && s.savedpc !== undefined ? u64(hdr, s.savedpc) : u64(b, ci.savedpc),
        funcTag: fb ? this.tag(fb, 0) : -1,
        funcValue: fb ? u64(fb, 0) : -1,
        closure: null,
        protoAddr: 0,
        proto: null,
        arg1Tag: fb ? this.tag(fb, tvSize) : -1,
        arg1Value: fb ? u64(fb, tvSize) : -1,
      });
      if (ci.tailcalls !== undefined) frames[i].tailcalls = b.readInt32LE(ci.tailcalls);
      if (ci.base !== undefined) frames[i].base = u64(b, ci.base);
    }
    // coroutine.wrap keeps its coroutine in the C closure: needed now, to follow it while stopped.
    const top = frames[0];
    if (top && top.funcTag === this.layout.tags.cClosure && isPlausiblePtr(top.funcValue)) {
      top.closure = mem.read(top.funcValue, this.layout.closure.cupvalue + tvSize);
    }
    const cut = tornFrames(this.layout, frames);
    if (cut) frames.splice(0, cut);
    return span
      ? { L, frames, truncated: cis.truncated, cut, stack: span }
      : { L, frames, truncated: cis.truncated, cut };
  }

  /**
   * 5.4.5+: while luaD_reallocstack moves the stack, its StkIdRel fields hold offsets from the stack's
   * start (relstack), turned back into pointers frame by frame after the move (correctstack). The
   * stack's contents are whole all the while (copied by realloc before L->stack changes), so a frame
   * whose function is an offset is read at that offset from L->stack: the sample shows the program
   * growing or shrinking its stack rather than being dropped (2-4% of torn.lua's samples).
   */
  private relocated(funcAddrs: number[], stack: number): void {
    if (!isPlausiblePtr(stack)) throw new CaptureError('stack pointer is not plausible');
    const maxOffset = MAX_STACK_SLOTS * this.layout.tvalue.size;
    for (let i = 0; i < funcAddrs.length; i++) {
      const a = funcAddrs[i];
      // A pointer into the stack is at or above its start (a heap below 16 MB, as in a non-PIE build,
      // could otherwise hold pointers that look like offsets).
      if (a < stack && a < maxOffset && a % this.layout.tvalue.size === 0) funcAddrs[i] = stack + a;
      else if (!isPlausiblePtr(a) || a < stack)
        throw new CaptureError('stack is being reallocated (StkIdRel offsets)');
    }
  }

  /** Function value and first argument of each frame, from one read of the thread's stack when it is compact. */
  private readSlots(
    mem: Memory,
    hdr: Buffer,
    funcAddrs: number[],
  ): { slots: (Buffer | null)[]; span?: { addr: number; bytes: Buffer } } {
    const len = this.layout.tvalue.size * 2;
    const stack = u64(hdr, this.layout.state.stack);
    let lo = Infinity;
    let hi = -Infinity;
    let valid = funcAddrs.length > 0;
    for (const a of funcAddrs) {
      if (!isPlausiblePtr(a) || a < stack) valid = false;
      if (a < lo) lo = a;
      if (a + len > hi) hi = a + len;
    }
    if (valid) {
      if (hi - lo <= MAX_STACK_SPAN) {
        const bytes = readLate(mem, lo, hi - lo, LATE.stack);
        if (bytes)
          return {
            slots: funcAddrs.map((a) => bytes.subarray(a - lo, a - lo + len)),
            span: { addr: lo, bytes },
          };
      }
    }
    const ranges = funcAddrs.map((addr) => ({ addr, len }));
    return { slots: readManyLate(mem, ranges, LATE.stack) };
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
    const tags = this.layout.tags;
    const c = this.layout.closure;
    const protoLen = this.layout.proto.size;
    const closureLen = c.cupvalue + this.layout.tvalue.size;
    const frames: RawFrame[] = [];
    for (const t of raw.threads) for (const f of t.frames) if (!f.recalled) frames.push(f);
    const slot = new Map<number, number>();
    const ranges: Range[] = [];
    for (const f of frames) {
      if (f.closure !== null || slot.has(f.funcValue)) continue;
      if ((f.funcTag !== tags.luaClosure && f.funcTag !== tags.cClosure) || !isPlausiblePtr(f.funcValue))
        continue;
      slot.set(f.funcValue, ranges.length);
      ranges.push({ addr: f.funcValue, len: closureLen });
    }
    const closures = ranges.length;
    const guessAt = new Map<number, number>();
    for (let i = 0; i < closures; i++) {
      const p = this.protoOf.get(ranges[i].addr);
      if (p !== undefined && !guessAt.has(p)) {
        guessAt.set(p, ranges.length);
        ranges.push({ addr: p, len: protoLen });
      }
    }
    const bufs = ranges.length ? readManyStable(mem, ranges) : [];
    const protoAt = new Map<number, Buffer | null>();
    const missing: Range[] = [];
    for (const f of frames) {
      const k = slot.get(f.funcValue);
      if (f.closure === null && k !== undefined) f.closure = bufs[k];
      if (f.closure === null || !this.isLuaFunction(f)) continue;
      const p = u64(f.closure, c.lp);
      if (!isPlausiblePtr(p)) continue;
      f.protoAddr = p;
      if (this.protoOf.size >= MAX_PROTO_GUESSES) this.protoOf.clear();
      this.protoOf.set(f.funcValue, p);
      if (protoAt.has(p)) continue;
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

  /**
   * 5.1: CallInfo is an array; frames run from L->ci down to (not including) L->base_ci, innermost
   * first. One read covers the (bounded) part of the array that is in use.
   */
  private array(
    mem: Memory,
    hdr: Buffer,
    current: number,
    base: number,
  ): { addrs: number[]; bufs: Buffer[]; truncated: boolean } {
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
    if (n === 0) return { addrs: [], bufs: [], truncated: false };
    const lo = current - (n - 1) * size;
    const block = readLate(mem, lo, n * size, LATE.callInfo);
    if (!block) throw new CaptureError('unreadable CallInfo array');
    const addrs: number[] = [];
    const bufs: Buffer[] = [];
    for (let at = current; at >= lo; at -= size) {
      addrs.push(at);
      bufs.push(block.subarray(at - lo, at - lo + size));
    }
    return { addrs, bufs, truncated: count > n };
  }

  /** The CallInfo chain from the current one down to (not including) base_ci, innermost first. */
  private chain(
    mem: Memory,
    L: number,
    current: number,
    baseCi: number,
  ): { addrs: number[]; bufs: Buffer[]; truncated: boolean } {
    const ci = this.layout.callinfo;
    if (ci.previous === undefined) throw new CaptureError('CallInfo list without previous links');
    // Frames outside the last few calls rarely change: the chain read last time serves from where
    // the walk meets it (one batched read), checked link by link.
    const cached = this.chains.get(L);
    const addrs: number[] = [];
    const bufs: Buffer[] = [];
    const seen = new Set<number>();
    let at = current;
    let truncated = false;
    let tryCache = cached !== undefined;
    while (at !== baseCi) {
      if (addrs.length >= MAX_FRAMES) {
        truncated = true;
        break;
      }
      if (!isPlausiblePtr(at) || seen.has(at)) throw new CaptureError('broken CallInfo chain');
      const k = tryCache ? cached?.at.get(at) : undefined;
      if (k !== undefined) {
        if (this.followCached(mem, cached!.list, k, baseCi, addrs, bufs, seen)) break;
        tryCache = false; // the chain changed below here: walk it link by link
      }
      seen.add(at);
      const b = readLate(mem, at, ci.size, LATE.callInfo);
      if (!b) throw new CaptureError('unreadable CallInfo');
      addrs.push(at);
      bufs.push(b);
      at = u64(b, ci.previous);
    }
    if (addrs.length > MAX_FRAMES) {
      addrs.length = bufs.length = MAX_FRAMES;
      truncated = true;
    }
    if (!truncated) this.chains.set(L, addrs);
    return { addrs, bufs, truncated };
  }

  /**
   * Appends the cached chain from index k on (read in one batch) when every link still holds, down
   * to base_ci; false (nothing appended) when one does not.
   */
  private followCached(
    mem: Memory,
    cached: readonly number[],
    k: number,
    baseCi: number,
    addrs: number[],
    bufs: Buffer[],
    seen: Set<number>,
  ): boolean {
    const ci = this.layout.callinfo;
    for (let i = k; i < cached.length; i++) if (seen.has(cached[i])) return false;
    // A copy serves each read on its own; a live process takes them in one batched read.
    const batch = mem.readLate
      ? null
      : readManyLate(
          mem,
          cached.slice(k).map((a) => ({ addr: a, len: ci.size })),
          LATE.callInfo,
        );
    const start = addrs.length;
    for (let i = k; i < cached.length; i++) {
      const b = batch ? batch[i - k] : mem.readLate!(cached[i], ci.size, LATE.callInfo);
      const expected = i + 1 < cached.length ? cached[i + 1] : baseCi;
      if (!b || u64(b, ci.previous!) !== expected) {
        addrs.length = bufs.length = start;
        return false;
      }
      addrs.push(cached[i]);
      bufs.push(b);
    }
    for (let i = k; i < cached.length; i++) seen.add(cached[i]);
    return true;
  }

  /**
   * A thread's innermost frame is `coroutine.resume(co)` or a `coroutine.wrap` function when it
   * handed control to a coroutine: the coroutine is its first argument or the wrap closure's upvalue.
   */
  private resumedCoroutine(mem: Memory, t: RawThread, G: number): number | null {
    const top = t.frames[0];
    if (!top) return null;
    const tags = this.layout.tags;
    if (!this.isCFunction(top)) return null;
    const candidates: number[] = [];
    if (top.arg1Tag === tags.thread) candidates.push(top.arg1Value);
    if (top.funcTag === tags.cClosure && top.closure) {
      const off = this.layout.closure.cupvalue;
      if (this.tag(top.closure, off) === tags.thread) candidates.push(u64(top.closure, off));
    }
    for (const co of candidates) {
      if (co === t.L) continue;
      const hdr = this.readThread(mem, co, G);
      if (!hdr) continue;
      const s = this.layout.state;
      // A running (or normal) coroutine has status LUA_OK and frames above its base_ci.
      if (hdr[s.status] !== this.layout.threadStatus.ok || u64(hdr, s.ci) === this.baseCi(co, hdr)) continue;
      return co;
    }
    return null;
  }
}
