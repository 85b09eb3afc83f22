/**
 * The part of a LuaJIT sample taken while the target is stopped: vmstate, the running thread
 * (G->cur_L), the slots of its Lua stack below the live frame base, the headers of the functions
 * in those frames and, inside a trace, the trace's start. Reads are batched; every pointer, count and
 * span is bounded; frames are walked over the copied stack, not through further reads.
 */
import type { Memory } from '../../os/memory.js';
import type { Registers } from '../../os/registers.js';
import { isPlausiblePtr, readMany, readManyStable, readStable, u64 } from '../../os/memory.js';
import { CaptureError, MAX_FRAMES, NeedsRegistersError, StateGoneError } from '../runtime.js';
import type { LjLayout } from './layout.js';

/** lua_State.status of a coroutine suspended in coroutine.yield. */
const LUA_YIELD = 1;

const MAX_STACK_SPAN = 512 << 10;
const MAX_THREAD_NESTING = 16;
const GCMASK_HI = 0x7fff; // GC64: 47-bit pointers

/** What the frame below a level links with (frame type and where the caller's pc comes from). */
export interface RawLevel {
  /** GCfunc address. */
  func: number;
  /** Function header (GCfuncC up to the first upvalue), or null when unreadable. */
  fhdr: Buffer | null;
  /** The caller's current pc as this frame's link records it (Lua or continuation link), or 0. */
  callerPc: number;
  /** Link type: 0 Lua, 1 C, 2 continuation, 3 vararg (collapsed), 4+ with the P bit (pcall). */
  linkType: number;
  /** Address of the frame's first slot (its base: local slot 0), for dump --locals. */
  base?: number;
  /** A vararg function's original frame (below its FRAME_VARG frame): the base of the slots that hold its arguments. */
  varargBase?: number;
}

export interface RawThread {
  L: number;
  levels: RawLevel[];
  /** pc of the innermost level when it is a Lua function (register PC or the C frame's saved pc), or 0. */
  topPc: number;
  truncated: boolean;
}

export interface RawLuaJitStack {
  G: number;
  vmstate: number;
  /** Running trace (vmstate >= 0): its number, start prototype and start pc. */
  trace: { no: number; startpt: number; startpc: number } | null;
  /** Innermost first: the running thread, then the threads that resumed it. */
  threads: RawThread[];
  /** Where the innermost base came from: "register" (rdx), "rbp" (BASE saved around a C call), "return" (the caller of a
   * returning frame), "state", "jit". */
  baseFrom: string;
  /** The innermost frame base the walk started from. */
  base: number;
  /** The running thread's C frame (L->cframe without its flag bits): the VM's stack pointer, or 0. */
  cframe?: number;
}

/** Split access to a raw 8-byte slot: GC64 tags live in the top 17 bits. */
function hi32(b: Buffer, off: number): number {
  return b.readUInt32LE(off + 4);
}
function gcval(b: Buffer, off: number): number {
  return (hi32(b, off) & GCMASK_HI) * 0x1_0000_0000 + b.readUInt32LE(off);
}
function itype(b: Buffer, off: number): number {
  return hi32(b, off) >>> 15;
}
/** A small signed ftsz (frame size + type) or a pointer; -1 when neither. */
function ftsz(b: Buffer, off: number): number {
  return u64(b, off);
}

export class LuaJitCapture {
  /** Operand A of the call instruction before a return pc, by pc address (bytecode is immutable). */
  private readonly callA = new Map<number, number>();
  private readonly itypeFunc: number;
  private readonly itypeThread: number;
  /** Known fast-function ids that resume coroutines (filled from the build's own library tables). */
  resumeFfid = -1;
  wrapAuxFfid = -1;
  /** G->cur_L as the last capture read it (0 before any). */
  lastRunning = 0;

  constructor(
    readonly layout: LjLayout,
    readonly G: number,
    readonly mainL: number,
  ) {
    this.itypeFunc = (~layout.gct.func >>> 0) & 0x1ffff;
    this.itypeThread = (~layout.gct.thread >>> 0) & 0x1ffff;
  }

  /** Reads a lua_State header and checks that it is a thread of this global state. */
  readThread(mem: Memory, L: number): Buffer | null {
    if (!isPlausiblePtr(L)) return null;
    const h = mem.read(L, this.layout.state.size);
    return h && this.threadOk(h) ? h : null;
  }

  private threadOk(h: Buffer): boolean {
    return h[9] === this.layout.gct.thread && u64(h, this.layout.state.glref) === this.G;
  }

  /** `running`: the thread was not stopped and there are no registers (captureRunning). */
  capture(mem: Memory, regs?: Partial<Registers>, running = false): RawLuaJitStack {
    const l = this.layout;
    const G = this.G;
    const J = G - l.gg.g + l.gg.J;
    const gStart = l.global.vmstate;
    const gLen = l.global.jit_base + 8 - gStart;
    const [gb, jb] = readMany(mem, [
      { addr: G + gStart, len: gLen },
      { addr: J + l.jit.trace, len: l.jit.sizetrace + 4 - l.jit.trace },
    ]);
    if (!gb) throw new CaptureError('global_State unreadable');
    const vmstate = gb.readInt32LE(0);
    if (running && (vmstate === ~l.vmst.interp || vmstate === ~l.vmst.exit))
      throw new NeedsRegistersError('interpreter running: frame base in a register');
    let L = u64(gb, l.global.cur_L - gStart);
    this.lastRunning = L;
    const jitBase = u64(gb, l.global.jit_base - gStart);
    let traceSlot = 0;
    if (vmstate >= 0 && jb) {
      const arr = u64(jb, 0);
      const size = jb.readUInt32LE(l.jit.sizetrace - l.jit.trace);
      if (isPlausiblePtr(arr) && vmstate < size && size <= 1 << 20) traceSlot = arr + vmstate * 8;
    }
    const [lh0, ts] = readMany(mem, [
      { addr: isPlausiblePtr(L) ? L : this.mainL, len: l.state.size },
      { addr: traceSlot, len: traceSlot ? 8 : 0 },
    ]);
    let lh = lh0;
    // A coroutine that yielded back to a host's lua_resume stays G->cur_L until the next resume: the host
    // runs its own code then, not the coroutine, whose frames would show it inside coroutine.yield.
    const suspended = lh !== null && L !== this.mainL && lh[l.state.status] === LUA_YIELD;
    if (!isPlausiblePtr(L) || !lh || !this.threadOk(lh) || suspended) {
      L = this.mainL;
      lh = this.readThread(mem, L);
      if (!lh) throw new StateGoneError(`lua_State 0x${L.toString(16)} is no longer valid`);
    }
    const traceAddr = ts && ts.length === 8 ? u64(ts, 0) : 0;

    // The live frame base: jit_base in a trace; while the interpreter runs (vmstate INTERP, DISPATCH in
    // r14), BASE from a register; L->base otherwise. The interpreter keeps BASE in rdx, but rdx is also
    // the third C argument and is not callee-saved: around the C calls it makes without leaving the
    // INTERP state and without storing L->base (lj_tab_len for BC_LEN on a table, lj_tab_getinth,
    // lj_tab_get, next, libm, write barriers) it saves BASE in rbp (RB, callee-saved) first and restores
    // it after. So rdx is tried first, then rbp; each only when the frame there passes checkRegBase.
    const stack = u64(lh, l.state.stack);
    const stackEnd = stack + lh.readUInt32LE(l.state.stacksize) * 8;
    const inStack = (p: number) => p > stack + 8 && p <= stackEnd && p % 8 === 0;
    let base = u64(lh, l.state.base);
    let baseFrom = 'state';
    const regCands: { base: number; from: string }[] = [];
    if (vmstate >= 0 && inStack(jitBase)) {
      base = jitBase;
      baseFrom = 'jit';
    } else if (vmstate === ~l.vmst.interp && regs && regs.r14 === G + l.gg.g2disp) {
      if (regs.rdx !== undefined && inStack(regs.rdx)) regCands.push({ base: regs.rdx, from: 'register' });
      if (regs.rbp !== undefined && inStack(regs.rbp) && regs.rbp !== regs.rdx)
        regCands.push({ base: regs.rbp, from: 'rbp' });
    }
    const hi = Math.max(base, ...regCands.map((c) => c.base));
    if (!inStack(base) && regCands.length === 0) throw new CaptureError('frame base outside the Lua stack');
    const lo = Math.max(stack, hi - MAX_STACK_SPAN);
    const cframe = u64(lh, l.state.cframe);
    const cfRaw = cframe > 0 ? cframe - (cframe % 4) : 0;
    const [sb, cfpc, th] = readMany(mem, [
      { addr: lo, len: hi - lo },
      { addr: isPlausiblePtr(cfRaw) ? cfRaw + l.cframe.pc : 0, len: isPlausiblePtr(cfRaw) ? 8 : 0 },
      {
        addr: isPlausiblePtr(traceAddr) ? traceAddr : 0,
        len: isPlausiblePtr(traceAddr) ? l.trace.headerLen : 0,
      },
    ]);
    if (!sb) throw new CaptureError('Lua stack unreadable');
    const view = { lo, buf: sb };

    let topPc = 0;
    // Returning to a Lua caller (BC_RET_Z after a C function or a Lua frame), the VM has loaded PC from the
    // frame's link and is moving the results over the returning function's slot, BASE still in rdx: the
    // caller's base then lies A+2 slots below, A the operand of the call before PC.
    const pc = regs?.rbx ?? 0;
    if (regCands.length > 0 && regCands[0].from === 'register' && pc % 4 === 0 && isPlausiblePtr(pc, 4)) {
      const a = this.callOperandA(mem, pc);
      if (a >= 0 && inStack(regCands[0].base - 8 * (2 + a)))
        regCands.push({ base: regCands[0].base - 8 * (2 + a), from: 'return' });
    }
    for (const c of regCands) {
      // Accept BASE only when the frame there holds a function the register PC is inside of, or a fast function.
      const ok = this.checkRegBase(mem, view, c.base, pc);
      if (ok !== null) {
        base = c.base;
        baseFrom = c.from;
        topPc = ok;
        break;
      }
    }
    if (baseFrom === 'state' && cfpc && cfpc.length === 8) topPc = u64(cfpc, 0);

    let trace: RawLuaJitStack['trace'] = null;
    if (
      th &&
      th.length === l.trace.headerLen &&
      th[9] === l.gct.trace &&
      th.readUInt16LE(l.trace.traceno) === vmstate
    ) {
      trace = { no: vmstate, startpt: u64(th, l.trace.startpt), startpc: u64(th, l.trace.startpc) };
    } else if (vmstate >= 0) {
      trace = { no: vmstate, startpt: 0, startpc: 0 };
    }

    const first = this.walk(mem, L, stack, base, view);
    first.topPc = topPc;
    const threads = [first];
    if (L !== this.mainL) this.addResumers(mem, L, threads);
    this.readFuncs(mem, threads);
    return { G, vmstate, trace, threads, baseFrom, base, cframe: isPlausiblePtr(cfRaw) ? cfRaw : 0 };
  }

  /**
   * A capture from a running thread (process_vm_readv, no stop, no registers), only where the frame
   * base is in memory: in a trace (G->jit_base), a C function, the collector or the trace compiler
   * (L->base stored before the VM calls them). In the interpreter BASE lives in a register (rdx, or rbp
   * around C calls) and L->base is stale: CaptureError, that sample needs the registers. The trace exit
   * handler (EXIT) is refused too. The copy is kept only when G->vmstate, G->cur_L and the base it
   * started from, read again after it, are unchanged.
   */
  captureRunning(copy: Memory, live: Memory): RawLuaJitStack {
    const l = this.layout;
    const raw = this.capture(copy, undefined, true);
    const L = raw.threads[0].L;
    const [gb, lb] = readMany(live, [
      { addr: this.G + l.global.vmstate, len: l.global.jit_base + 8 - l.global.vmstate },
      { addr: L + l.state.base, len: 8 },
    ]);
    if (!gb || !lb) throw new CaptureError('global_State unreadable');
    const at = (off: number) => u64(gb, off - l.global.vmstate);
    const base = raw.vmstate >= 0 ? at(l.global.jit_base) : u64(lb, 0);
    if (gb.readInt32LE(0) !== raw.vmstate || at(l.global.cur_L) !== L || base !== raw.base)
      throw new CaptureError('torn copy: the thread moved on during it');
    return raw;
  }

  private slotIn(view: { lo: number; buf: Buffer }, addr: number): number {
    const off = addr - view.lo;
    return off >= 0 && off + 8 <= view.buf.length ? off : -1;
  }

  /** Returns the top pc when rdx is a believable BASE (0 for a fast function), else null. */
  private checkRegBase(
    mem: Memory,
    view: { lo: number; buf: Buffer },
    base: number,
    pc: number,
  ): number | null {
    const fo = this.slotIn(view, base - 16);
    if (fo < 0 || itype(view.buf, fo) !== this.itypeFunc) return null;
    const fn = gcval(view.buf, fo);
    const h = readStable(mem, fn, this.layout.func.headerLen);
    if (!h || h[9] !== this.layout.gct.func) return null;
    const ffid = h[this.layout.func.ffid];
    if (ffid === 0) {
      const bc = u64(h, this.layout.func.pc);
      const pt = bc - this.layout.proto.size;
      const sz = readStable(mem, pt + this.layout.proto.sizebc, 4);
      if (!sz) return null;
      const n = sz.readUInt32LE(0);
      // PC is past the instruction being run, except at BC_CALL's entry, where it is the callee's first
      // (FUNCF) instruction before its dispatch: that is the function's first line.
      if (pc === bc) return bc + 4;
      return pc > bc && pc <= bc + n * 4 ? pc : null;
    }
    // A fast function runs inside the VM with BASE at its own frame: its link must look like one.
    const lo = this.slotIn(view, base - 8);
    return lo >= 0 && ffid > 1 && ftsz(view.buf, lo) > 0 ? 0 : null;
  }

  /** lj_debug_frame's walk from a frame base down to the bottom of the stack, over the copied slots. */
  private walk(
    mem: Memory,
    L: number,
    stack: number,
    base: number,
    view: { lo: number; buf: Buffer },
  ): RawThread {
    const levels: RawLevel[] = [];
    const bot = stack + 8;
    let frame = base - 8;
    let truncated = false;
    let collapse = false;
    for (let steps = 0; frame > bot; steps++) {
      if (levels.length >= MAX_FRAMES || steps > MAX_FRAMES * 4) {
        truncated = true;
        break;
      }
      const lo = this.slotIn(view, frame);
      const fo = this.slotIn(view, frame - 8);
      if (lo < 0 || fo < 0) {
        truncated = true;
        break;
      }
      const link = ftsz(view.buf, lo);
      if (link <= 0) throw new CaptureError('bad frame link');
      const fn = gcval(view.buf, fo);
      const type = link % 8;
      let callerPc = 0;
      if ((type & 3) === 0) callerPc = link;
      else if (type === 2) {
        const co = this.slotIn(view, frame - 16);
        if (co >= 0) callerPc = u64(view.buf, co);
      }
      if (collapse) {
        // The original frame of a vararg function: its link (to the caller) belongs to the level above.
        const last = levels[levels.length - 1];
        last.callerPc = callerPc;
        last.linkType = type;
        // BC_FUNCV copied the function and its fixed parameters up; the extra arguments stayed here.
        if (fn === last.func) last.varargBase = frame + 8;
        collapse = false;
      } else if (fn !== L) {
        if (itype(view.buf, fo) !== this.itypeFunc) throw new CaptureError('frame slot is not a function');
        levels.push({ func: fn, fhdr: null, callerPc, linkType: type, base: frame + 8 });
      }
      if (type === 3) collapse = true;
      let prev: number;
      if ((type & 3) === 0) {
        const a = this.callOperandA(mem, link);
        if (a < 0) throw new CaptureError('unreadable call instruction');
        prev = frame - 8 * (2 + a);
      } else {
        prev = frame - (link - type);
      }
      if (prev >= frame) throw new CaptureError('frame chain does not descend');
      frame = prev;
    }
    return { L, levels, topPc: 0, truncated };
  }

  /** bc_a(pc[-1]): the register of the call that a Lua frame link returns to. Cached by pc. */
  private callOperandA(mem: Memory, pc: number): number {
    if (!isPlausiblePtr(pc, 4)) return -1;
    const hit = this.callA.get(pc);
    if (hit !== undefined) return hit;
    const b = mem.read(pc - 4, 4);
    if (!b) return -1;
    const a = b[1];
    if (this.callA.size > 100_000) this.callA.clear();
    this.callA.set(pc, a);
    return a;
  }

  /** Function headers of every level, in one batched read. */
  private readFuncs(mem: Memory, threads: RawThread[]): void {
    const levels: RawLevel[] = [];
    for (const t of threads) for (const lv of t.levels) levels.push(lv);
    const bufs = readManyStable(
      mem,
      levels.map((lv) => ({ addr: isPlausiblePtr(lv.func) ? lv.func : 0, len: this.layout.func.headerLen })),
    );
    levels.forEach((lv, i) => {
      const b = bufs[i];
      lv.fhdr = b && b[9] === this.layout.gct.func ? Buffer.from(b) : null;
    });
  }

  /**
   * Threads that resumed the running one: from the main thread down through frames of
   * coroutine.resume (its first argument) and coroutine.wrap functions (their first upvalue).
   */
  private addResumers(mem: Memory, running: number, threads: RawThread[]): void {
    if (this.resumeFfid < 0) return;
    const l = this.layout;
    const chain: RawThread[] = [];
    const seen = new Set<number>();
    let L = this.mainL;
    for (let depth = 0; depth < MAX_THREAD_NESTING && L !== running; depth++) {
      if (seen.has(L)) return;
      seen.add(L);
      const h = this.readThread(mem, L);
      if (!h) return;
      const base = u64(h, l.state.base);
      const stack = u64(h, l.state.stack);
      if (!isPlausiblePtr(base) || base <= stack + 8 || base - stack > 1 << 26) return;
      const lo = Math.max(stack, base - MAX_STACK_SPAN);
      const sb = mem.read(lo, base + 8 - lo);
      if (!sb) return;
      const view = { lo, buf: sb };
      let t: RawThread;
      try {
        t = this.walk(mem, L, stack, base, view);
      } catch {
        return;
      }
      chain.push(t);
      // The innermost frame resumes the next thread.
      const fo = this.slotIn(view, base - 16);
      if (fo < 0) return;
      const fn = gcval(sb, fo);
      const fh = mem.read(fn, l.func.headerLen);
      if (!fh || fh[9] !== l.gct.func) return;
      const ffid = fh[l.func.ffid];
      let next = -1;
      const ao = this.slotIn(view, base);
      if (ffid === this.resumeFfid && ao >= 0 && itype(sb, ao) === this.itypeThread) next = gcval(sb, ao);
      else if (
        ffid === this.wrapAuxFfid &&
        fh[l.func.nupvalues] >= 1 &&
        itype(fh, l.func.upvalue) === this.itypeThread
      )
        next = gcval(fh, l.func.upvalue);
      if (next < 0) return;
      L = next;
    }
    if (L !== running) return;
    for (let i = chain.length - 1; i >= 0; i--) threads.push(chain[i]);
  }
}
