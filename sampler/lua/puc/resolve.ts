/** Turns a captured PUC Lua stack into named frames, after the target has been let go. */
import type { Memory } from '../../os/memory.js';
import type { PucLayout } from './layout.js';
import type { LuaFrame } from '../frames.js';
import {
  PucCapture,
  rawFrameWith,
  sameFrame,
  type RawFrame,
  type RawLuaStack,
  type RawThread,
} from './capture.js';
import { GlobalNames, plainGlobalName } from './globals.js';
import { NameInference, type NameInfo } from './names.js';
import { ProtoCache, type ProtoInfo } from './proto.js';
import { tornCalls } from './tears.js';
import { ownCopy } from '../../os/memory.js';

/** A frame as the last resolve of its thread found it, with what it resolved to. */
interface Remembered {
  raw: RawFrame;
  proto: ProtoInfo | null;
  frame: LuaFrame;
  /** The global names' scan it was named with (a new scan may name it otherwise). */
  scans: number;
}
/** Threads whose frames are remembered (beyond it, all are forgotten). */
const MAX_REMEMBERED_THREADS = 256;

/** Every frame remembered was named with scan `scans` of the global names. */
function namedWith(list: readonly Remembered[], scans: number): boolean {
  for (const m of list) if (m.scans !== scans) return false;
  return true;
}

export class PucResolver {
  private readonly protos: ProtoCache;
  private readonly names: NameInference;
  private readonly kinds: PucCapture;
  readonly globals: GlobalNames;
  private readonly calleeLocal = (p: ProtoInfo, pc: number) => this.names.calleeLocal(p, pc);
  /** Each frame's Proto, for the thread being resolved (refilled by each). */
  private readonly protoList: (ProtoInfo | null)[] = [];
  /** The last frameOf() made a frame a new scan of the global names may name. */
  private madeUnnamedGlobal = false;
  /** The innermost frame last made, and what it was made of (see innermostFrame). */
  private lastInnermost: {
    L: number;
    proto: ProtoInfo | null;
    line: number;
    caller: RawFrame | undefined;
    funcValue: number;
    callstatus: number;
    tailcalls: number | undefined;
    scans: number;
    frame: LuaFrame;
  } | null = null;
  /** Each thread's frames at its last resolve, outermost first, the innermost left out (see recall). */
  private readonly remembered = new Map<number, Remembered[]>();

  constructor(
    mem: Memory,
    private readonly layout: PucLayout,
    G: number,
    private readonly clock: () => number = () => Date.now(),
  ) {
    this.protos = new ProtoCache(mem, layout);
    this.names = new NameInference(layout);
    this.kinds = new PucCapture(layout);
    this.globals = new GlobalNames(mem, layout, G);
    if (layout.traceback.globalNames !== 'none') this.globals.refresh(this.clock(), 0);
  }

  /** A thread's frames as remembered, outermost first, the innermost left out (for PucCapture). */
  rememberedOf(L: number): readonly Remembered[] | undefined {
    return this.remembered.get(L);
  }

  /**
   * Marks the outermost frames of each thread that are the same as at its last resolve, and gives them
   * the closure and Proto read then (fill() reads only the others). The innermost frame is never
   * recalled: its saved pc may be older than the instruction it runs. Returns how many were.
   */
  recall(raw: RawLuaStack): number {
    let total = 0;
    for (const t of raw.threads) {
      const list = this.remembered.get(t.L);
      const n = t.frames.length;
      let kept = 0;
      if (list)
        while (kept < n - 1 && kept < list.length) {
          const f = t.frames[n - 1 - kept];
          const m = list[kept].raw;
          // The capture hands back the remembered frame itself where the bytes are the same.
          if (f !== m) {
            if (!sameFrame(f, m)) break;
            f.closure = m.closure;
            f.proto = m.proto;
            f.protoAddr = m.protoAddr;
          }
          f.recalled = true;
          kept++;
        }
      t.recalled = kept;
      total += kept;
    }
    return total;
  }

  /**
   * Frames innermost first: the running coroutine's frames above those of the thread that resumed it,
   * with the raw frame each came from. Frames a copy of a running thread tore are left out (`torn`),
   * and so is every thread they would have resumed.
   */
  resolve(raw: RawLuaStack): { frames: LuaFrame[]; raws: RawFrame[]; truncated: boolean; torn: boolean } {
    const perThread: { frames: LuaFrame[]; raws: RawFrame[] }[] = [];
    let truncated = false;
    let torn = false;
    for (const t of raw.threads) {
      const r = this.resolveThread(t);
      perThread.push(r);
      truncated ||= t.truncated;
      if (t.cut > 0 || r.cut > 0) {
        torn = true;
        break;
      }
    }
    // One thread (the usual case): its own lists.
    if (perThread.length === 1)
      return { frames: perThread[0].frames, raws: perThread[0].raws, truncated, torn };
    // Outermost thread's frames last (a loop: flatMap cost ~7% of the sampler's CPU).
    const frames: LuaFrame[] = [];
    const raws: RawFrame[] = [];
    for (let i = perThread.length - 1; i >= 0; i--) {
      for (const f of perThread[i].frames) frames.push(f);
      for (const r of perThread[i].raws) raws.push(r);
    }
    return { frames, raws, truncated, torn };
  }

  private resolveThread(t: RawThread): { frames: LuaFrame[]; raws: RawFrame[]; cut: number } {
    const n = t.frames.length;
    // Frames from `recalled` on (innermost first) are the ones remembered, in the same order.
    const recalled = n - (t.recalled ?? 0);
    const memory = recalled < n ? this.remembered.get(t.L)! : null;
    // Its first n entries are this thread's (past them, an earlier walk's): setting an array's length
    // is a call into the runtime, ~1.5% of the sampler's CPU.
    const protos = this.protoList;
    for (let i = 0; i < n; i++) {
      const f = t.frames[i];
      protos[i] =
        i >= recalled
          ? memory![n - 1 - i].proto
          : f.proto && this.kinds.isLuaFunction(f)
            ? this.protos.get(f.protoAddr, f.proto)
            : null;
    }
    const cut = tornCalls(this.layout, t, protos, this.calleeLocal, recalled - 1);
    const out = new Array<LuaFrame>(n - cut);
    for (let i = cut; i < n; i++) {
      const proto = protos[i];
      const known = i >= recalled ? memory![n - 1 - i] : null;
      if (known && known.scans === this.globals.scans) {
        out[i - cut] = known.frame;
        continue;
      }
      out[i - cut] = i === 0 ? this.innermostFrame(t, proto) : this.frameOf(t, i, proto);
    }
    this.remember(t, protos, out, cut);
    return { frames: out, raws: cut === 0 ? t.frames : t.frames.slice(cut), cut };
  }

  /**
   * The innermost frame: the one last made for this thread while nothing it is made of changed (the
   * same Proto at the same line, the same caller frame, call status and function, the same global
   * names). The usual sample runs on in the line of the one before, and a frame that is the very same
   * object is numbered without a lookup (StackIds).
   */
  private innermostFrame(t: RawThread, proto: ProtoInfo | null): LuaFrame {
    const f = t.frames[0];
    const line = proto !== null ? proto.line(proto.pcOf(f.savedpc)) : 0;
    const last = this.lastInnermost;
    if (
      last !== null &&
      last.L === t.L &&
      last.proto === proto &&
      last.line === line &&
      last.caller === t.frames[1] &&
      last.funcValue === f.funcValue &&
      last.callstatus === f.callstatus &&
      last.tailcalls === f.tailcalls &&
      last.scans === this.globals.scans
    )
      return last.frame;
    const frame = this.frameOf(t, 0, proto, line);
    // A global the names' last scan did not hold: the next sample asks for a new scan again.
    if (this.madeUnnamedGlobal) {
      this.lastInnermost = null;
      return frame;
    }
    this.lastInnermost = {
      L: t.L,
      proto,
      line,
      caller: t.frames[1],
      funcValue: f.funcValue,
      callstatus: f.callstatus,
      tailcalls: f.tailcalls,
      scans: this.globals.scans,
      frame,
    };
    return frame;
  }

  /** Frame i of a thread, named as lua_getinfo names it; `line`: its line, when already known. */
  private frameOf(
    t: RawThread,
    i: number,
    proto: ProtoInfo | null,
    line = proto !== null ? proto.line(proto.pcOf(t.frames[i].savedpc)) : 0,
  ): LuaFrame {
    const bits = this.layout.callinfo.bits;
    const rules = this.layout.traceback;
    const f = t.frames[i];
    let frame: LuaFrame;
    if (proto !== null) {
      frame = {
        kind: 'lua',
        what: proto.isMain ? 'main' : 'Lua',
        name: '',
        namewhat: '',
        file: proto.shortSrc,
        lineDefined: proto.lineDefined,
      };
      if (line > 0) frame.line = line;
    } else {
      frame = { kind: 'c', what: 'C', name: '', namewhat: '', file: '[C]' };
    }
    frame.traceback = rules;
    const tail =
      bits.tail !== undefined ? (f.callstatus & bits.tail) !== 0 : (f.tailcalls ?? 0) > 0 && proto !== null;
    if (tail) frame.tailcall = true;
    const fromCall = this.getFuncName(t, i, tail, i + 1 < t.frames.length ? this.protoList[i + 1] : null);
    if (fromCall) {
      frame.namewhat = fromCall.namewhat;
      frame.name = fromCall.name;
    }
    // pushglobalfuncname: 5.3+ tries it first for every frame; 5.2 only for C functions without a name.
    let global: string | undefined;
    this.madeUnnamedGlobal = false;
    const wantGlobal =
      rules.globalNames !== 'none' && (rules.globalFirst || (frame.what === 'C' && fromCall === null));
    if (wantGlobal) {
      global = this.globals.lookup(f.funcValue);
      const mayBeNewGlobal = frame.kind === 'c' ? fromCall === null : fromCall?.namewhat === 'global';
      if (global === undefined && mayBeNewGlobal && this.globals.refresh(this.clock())) {
        global = this.globals.lookup(f.funcValue);
      }
      if (global !== undefined) frame.globalName = global;
      else this.madeUnnamedGlobal = mayBeNewGlobal;
    }
    // Profiles name a global "print" on every release; the traceback text keeps 5.2's "_G.print".
    frame.name =
      (global !== undefined ? plainGlobalName(global) : undefined) ??
      (fromCall
        ? fromCall.name
        : frame.what === 'main'
          ? 'main chunk'
          : frame.what === 'Lua'
            ? `function <${frame.file}:${frame.lineDefined}>`
            : '?');
    return frame;
  }

  /** Remembers a thread's resolved frames but the innermost, outermost first (those recalled stay as they were). */
  private remember(
    t: RawThread,
    protos: readonly (ProtoInfo | null)[],
    out: readonly LuaFrame[],
    cut: number,
  ): void {
    const n = t.frames.length;
    const had = this.remembered.get(t.L);
    // All but the innermost recalled, each named with this scan: what is remembered stands.
    const recalled = t.recalled ?? 0;
    if (had && recalled === n - 1 - cut && had.length === recalled && namedWith(had, this.globals.scans))
      return;
    const list: Remembered[] = [];
    for (let i = n - 1; i > cut; i--) {
      const f = t.frames[i];
      const before = f.recalled ? had?.[n - 1 - i] : undefined;
      if (before) {
        // Named again after a new scan of the global names.
        before.frame = out[i - cut];
        before.scans = this.globals.scans;
        list.push(before);
        continue;
      }
      // The copy's bytes are overwritten by the next copy: what is remembered is its own.
      const raw = rawFrameWith(f, f.closure && ownCopy(f.closure), f.proto && ownCopy(f.proto));
      list.push({ raw, proto: protos[i], frame: out[i - cut], scans: this.globals.scans });
    }
    if (!had && this.remembered.size >= MAX_REMEMBERED_THREADS) this.remembered.clear();
    this.remembered.set(t.L, list);
  }

  /** lua_getinfo 'n' for frame i (getfuncname), per family. */
  private getFuncName(
    t: RawThread,
    i: number,
    tail: boolean,
    callerProto: ProtoInfo | null,
  ): NameInfo | null {
    const bits = this.layout.callinfo.bits;
    const callee = t.frames[i];
    const caller: RawFrame | undefined = t.frames[i + 1];
    const fromCode = () =>
      caller && callerProto ? this.names.calledFrom(callerProto, callerProto.pcOf(caller.savedpc)) : null;
    switch (this.layout.family) {
      case '5.1':
        // `(isLua(ci) && ci->tailcalls > 0) || !isLua(ci - 1)` → no name.
        return tail ? null : fromCode();
      case '5.2':
        return tail || !this.callerIsLua(caller) ? null : fromCode();
      default: {
        if (this.layout.names.finOnCallee) {
          // 5.3, 5.4.0-5.4.3: getfuncname looks at the callee's CIST_FIN, then funcnamefromcode at CIST_HOOKED.
          if (bits.fin !== undefined && callee.callstatus & bits.fin)
            return { namewhat: 'metamethod', name: '__gc' };
          if (tail || !this.callerIsLua(caller)) return null;
          if (bits.hooked !== undefined && caller!.callstatus & bits.hooked)
            return { namewhat: 'hook', name: '?' };
          return fromCode();
        }
        // 5.4.4+: funcnamefromcall on the caller.
        if (tail || !caller) return null;
        if (bits.hooked !== undefined && caller.callstatus & bits.hooked)
          return { namewhat: 'hook', name: '?' };
        if (bits.fin !== undefined && caller.callstatus & bits.fin)
          return { namewhat: 'metamethod', name: '__gc' };
        return this.callerIsLua(caller) ? fromCode() : null;
      }
    }
  }

  private callerIsLua(caller: RawFrame | undefined): boolean {
    if (!caller) return false;
    const bits = this.layout.callinfo.bits;
    if (bits.lua !== undefined) return (caller.callstatus & bits.lua) !== 0;
    if (bits.c !== undefined) return (caller.callstatus & bits.c) === 0;
    return this.kinds.isLuaFunction(caller);
  }
}
