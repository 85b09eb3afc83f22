/**
 * Mixed stacks (`--native`): the native frames of a thread with its Lua frames spliced in where the
 * interpreter runs them, in true call order.
 *
 * The key: a Lua CallInfo that runs a C function holds the function's address (light C function value,
 * or CClosure.f), and that address is the start of a native frame's function (FDE/symbol bounds). Those
 * C-function frames cut both stacks into segments that correspond one to one. Inside a segment, the
 * Lua functions of the group are run by the interpreter frames (luaV_execute, luaD_*: "internal"
 * frames of the Lua core); the first run of internal frames of the segment is replaced by the Lua
 * frames of the group, and API frames (lua_pcallk, luaL_*) and host frames stay where they are.
 */
import type { Frame } from '../aggregator/profile.js';

export interface NativeSym {
  pc: number;
  /** Ready-to-print label (name, or module+0xoffset). */
  label: string;
  /** Path of the object the pc is in ("" when unknown). */
  module: string;
  /** Start of the function (symbol or FDE), when known. */
  start?: number;
  /** Size of the function (FDE or symbol), when known: picks luaV_execute out of a run. */
  size?: number;
  /** An interpreter-internal frame of the Lua core (replaced by Lua frames). */
  internal: boolean;
  /** The symbol name of a host function (outside the Lua core), when it has one. */
  hostName?: string;
  /** JIT-compiled Lua (a LuaJIT trace): the Lua frames of the segment run here. */
  jit?: boolean;
  /** The interpreter's own code, named by the runtime (LuaJIT's VM): it runs the Lua frames. */
  vm?: boolean;
}

export interface SpliceLua {
  frame: Frame;
  /** For frames that run a C function: the function's address. */
  cfunc?: number;
  /** The frame runs a Lua function (not C). */
  isLua: boolean;
}

export interface SpliceResult {
  /** Innermost first. */
  frames: Frame[];
  /** Lua C-function frames that found their native frame. */
  matched: number;
}

/** Names of Lua core functions that are interpreter machinery (when the core has symbols). */
const INTERNAL_STATIC = new Set([
  'ccall',
  'precallC',
  'f_call',
  'resume',
  'unroll',
  'finishCcall',
  'finishpcallk',
  'precover',
  'luai_threadyield',
  'tryfuncTM',
  'callclosemethod',
  'prepCallInfo',
  'moveresults',
  'retHook',
  'rethook',
]);

/** An interpreter-internal function name of the Lua core (luaV_execute, luaD_call, ccall …). */
export function isInternalName(name: string): boolean {
  return /^lua[A-Z]_/.test(name) || INTERNAL_STATIC.has(name);
}

/**
 * Each NativeSym's frame, made once: NativeStacks hands out one NativeSym per pc, so a native frame
 * that did not change is the same object as in the last sample, which StackIds numbers without a lookup.
 */
const frameOfSym = new WeakMap<NativeSym, Frame>();

export function nativeFrame(n: NativeSym): Frame {
  let f = frameOfSym.get(n);
  if (f === undefined) {
    f = { kind: 'native', name: n.label, ...(n.module ? { file: n.module } : {}) };
    frameOfSym.set(n, f);
  }
  return f;
}

/** A C function called from Lua: the host's own (demangled) name when it has one, else Lua's name for it. */
function luaFrameOut(l: SpliceLua, n: NativeSym | null): Frame {
  if (n && !l.isLua && (n.hostName !== undefined || l.frame.name === '?' || l.frame.name === ''))
    return { ...l.frame, name: n.hostName ?? n.label };
  return l.frame;
}

/**
 * Splices Lua frames (innermost first) into native frames (innermost first). `onTopOfLua` (e.g. the
 * [GC] frame) is put right above the innermost Lua frame, under native frames it called.
 */
export function splice(
  native: readonly NativeSym[],
  lua: readonly SpliceLua[],
  onTopOfLua?: Frame,
  opts: { coreUnnamed?: boolean } = {},
): SpliceResult {
  // Match C-function CallInfos to native frames, innermost first, both sequences in order.
  const matches: { l: number; n: number }[] = [];
  let from = 0;
  for (let i = 0; i < lua.length; i++) {
    const c = lua[i].cfunc;
    if (c === undefined || lua[i].isLua) continue;
    for (let k = from; k < native.length; k++) {
      if (native[k].start === c) {
        matches.push({ l: i, n: k });
        from = k + 1;
        break;
      }
    }
  }
  const out: Frame[] = [];
  let topMarked = onTopOfLua === undefined;
  const pushLuaGroup = (group: readonly SpliceLua[]) => {
    if (group.length === 0) return;
    if (!topMarked) {
      out.push(onTopOfLua!);
      topMarked = true;
    }
    for (const g of group) out.push(luaFrameOut(g, null));
  };
  const segment = (nat: readonly NativeSym[], group: readonly SpliceLua[], innermost: boolean) => {
    if (innermost && group.length === 0) {
      for (const n of nat) out.push(nativeFrame(n));
      return;
    }
    // Compiled code runs the Lua frames of its trace: they go right under it, and what it called
    // (VM helpers included) stays on top. Under it, the VM's frames (the one the trace runs on, one that
    // resumed its coroutine) run those same Lua frames; other frames under a trace stay as they are.
    const jit = nat.findIndex((n) => n.jit);
    if (jit >= 0) {
      for (let k = 0; k <= jit; k++) out.push(nativeFrame(nat[k]));
      pushLuaGroup(group);
      for (let k = jit + 1; k < nat.length; k++) if (!nat[k].vm) out.push(nativeFrame(nat[k]));
      return;
    }
    const a = nat.findIndex((n) => n.internal);
    if (a < 0) {
      pushLuaGroup(group);
      for (const n of nat) out.push(nativeFrame(n));
      return;
    }
    let b = a;
    while (b < nat.length && nat[b].internal) b++;
    // The largest function of the run is the interpreter loop (luaV_execute).
    let best = a;
    for (let k = a; k < b; k++) if ((nat[k].size ?? 0) > (nat[best].size ?? 0)) best = k;
    let replaceFrom = a;
    // The VM's callees (table lookups, the collector) stay above the Lua frame that called them.
    if (innermost && group.length > 0 && group[0].isLua) replaceFrom = best;
    // A core without any names (Lua linked into a stripped host): host frames are unnamed too and
    // cannot be told from the interpreter's, so only the run up to the interpreter loop is replaced.
    let resume = b;
    if (opts.coreUnnamed && group.length > 0) resume = best + 1;
    for (let k = 0; k < replaceFrom; k++) out.push(nativeFrame(nat[k]));
    pushLuaGroup(group);
    for (let k = resume; k < nat.length; k++) out.push(nativeFrame(nat[k]));
  };
  let nFrom = 0;
  let lFrom = 0;
  for (let m = 0; m <= matches.length; m++) {
    const nTo = m < matches.length ? matches[m].n : native.length;
    const lTo = m < matches.length ? matches[m].l : lua.length;
    segment(native.slice(nFrom, nTo), lua.slice(lFrom, lTo), m === 0);
    if (m < matches.length) {
      const c = lua[matches[m].l];
      if (!topMarked) {
        out.push(onTopOfLua!);
        topMarked = true;
      }
      out.push(luaFrameOut(c, native[matches[m].n]));
      nFrom = matches[m].n + 1;
      lFrom = matches[m].l + 1;
    }
  }
  return { frames: out, matched: matches.length };
}
