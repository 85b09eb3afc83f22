/** Turns a captured LuaJIT stack into named frames, after the target has been let go. */
import type { Memory } from '../../os/memory.js';
import { u64 } from '../../os/memory.js';
import type { LuaFrame } from '../frames.js';
import type { RawLevel, RawLuaJitStack, RawThread } from './capture.js';
import { LjGlobalNames } from './globals.js';
import type { LjLayout } from './layout.js';
import { LjNames, type LjName } from './names.js';
import { LjProtoCache, type LjProto } from './proto.js';

/** lj_ff.h: FF_LUA_ 0, FF_C 1, then the fast functions. */
const FF_C = 1;

export class LuaJitResolver {
  readonly protos: LjProtoCache;
  readonly names: LjNames;
  readonly globals: LjGlobalNames;

  constructor(
    mem: Memory,
    private readonly l: LjLayout,
    G: number,
    private readonly clock: () => number = () => Date.now(),
  ) {
    this.protos = new LjProtoCache(mem, l);
    this.names = new LjNames(l);
    this.globals = new LjGlobalNames(mem, l, G);
    this.globals.refresh(this.clock(), 0);
  }

  /**
   * Frames innermost first, and per frame the address of the lua_CFunction it runs (GCfuncC.f of a
   * plain C function, FF_C): where --native splices.
   */
  resolve(raw: RawLuaJitStack): { frames: LuaFrame[]; truncated: boolean; cfuncs: (number | undefined)[] } {
    const frames: LuaFrame[] = [];
    const cfuncs: (number | undefined)[] = [];
    let truncated = false;
    // Loops, not flatMap: it allocated an array per level, at every sample (6% of the sampler's CPU).
    const pcs: number[] = [];
    for (const t of raw.threads)
      for (const lv of t.levels) if (this.isLua(lv)) pcs.push(u64(lv.fhdr!, this.l.func.pc));
    const protos = this.protos.getMany(pcs);
    raw.threads.forEach((t, i) => {
      const fs = this.resolveThread(t, protos);
      const cs = t.levels.map((lv, k) => (fs[k].kind === 'c' ? this.cfuncOf(lv) : undefined));
      if (i === 0) {
        const before = fs.length;
        this.markState(raw, t, fs, protos);
        for (let k = before; k < fs.length; k++) cs.unshift(undefined);
      }
      frames.push(...fs);
      cfuncs.push(...cs);
      truncated ||= t.truncated;
    });
    return { frames, truncated, cfuncs };
  }

  /** The C function a C frame runs (lua_CFunction of FF_C; fast functions have no frame of their own). */
  private cfuncOf(lv: RawLevel): number | undefined {
    const h = lv.fhdr;
    if (!h || h.length < this.l.func.f + 8 || h[this.l.func.ffid] !== FF_C) return undefined;
    const f = u64(h, this.l.func.f);
    return f > 0 ? f : undefined;
  }

  /** vmstate on top of the running thread's frames: trace, GC, compiler. */
  private markState(
    raw: RawLuaJitStack,
    t: RawThread,
    fs: LuaFrame[],
    protos: Map<number, LjProto | null>,
  ): void {
    const v = raw.vmstate;
    const st = this.l.vmst;
    if (raw.trace) {
      const tr = raw.trace;
      const pt = tr.startpt ? this.protos.get(tr.startpt + this.l.proto.size) : null;
      if (!pt) {
        fs.unshift({ kind: 'jit', name: `[trace ${tr.no}]`, what: 'C', namewhat: '', file: '[JIT]' });
        return;
      }
      const line = pt.line(pt.posOf(tr.startpc + 4));
      const top = t.levels[0];
      const topPt = top ? this.protoOf(top, protos) : null;
      if (topPt && topPt.addr === pt.addr && fs[0]) {
        fs[0].kind = 'jit';
        if (line > 0) fs[0].line = line;
        else delete fs[0].line;
        return;
      }
      // The trace started in a function inlined into the frame at jit_base (or one it returned from).
      const f: LuaFrame = {
        kind: 'jit',
        what: pt.isMain ? 'main' : 'Lua',
        name: pt.isMain ? 'main chunk' : `function <${pt.shortSrc}:${pt.firstline}>`,
        namewhat: '',
        file: pt.shortSrc,
        lineDefined: pt.firstline,
      };
      if (line > 0) f.line = line;
      fs.unshift(f);
      return;
    }
    if (v === ~st.gc) fs.unshift({ kind: 'gc', name: '[GC]', what: 'C', namewhat: '', file: '[C]' });
    else if (v === ~st.record || v === ~st.opt || v === ~st.asm)
      fs.unshift({ kind: 'c', name: '[JIT compiler]', what: 'C', namewhat: '', file: '[C]' });
    else if (v === ~st.exit)
      fs.unshift({ kind: 'jit', name: '[trace exit]', what: 'C', namewhat: '', file: '[C]' });
  }

  /** A frame of a Lua function (ffid 0), whose header names its bytecode. */
  private isLua(lv: RawLevel): boolean {
    return lv.fhdr !== null && lv.fhdr.length >= this.l.func.pc + 8 && lv.fhdr[this.l.func.ffid] === 0;
  }

  private protoOf(lv: RawLevel, protos: Map<number, LjProto | null>): LjProto | null {
    return this.isLua(lv) ? (protos.get(u64(lv.fhdr!, this.l.func.pc)) ?? null) : null;
  }

  private resolveThread(t: RawThread, byBc: Map<number, LjProto | null>): LuaFrame[] {
    const protos = t.levels.map((lv) => this.protoOf(lv, byBc));
    const out: LuaFrame[] = [];
    for (let i = 0; i < t.levels.length; i++) {
      const lv = t.levels[i];
      const pt = protos[i];
      const called = this.callSiteName(t, i, protos[i + 1] ?? null);
      let f: LuaFrame;
      if (pt) {
        const pc = i === 0 ? t.topPc : t.levels[i - 1].callerPc;
        const line = pc ? pt.line(pt.posOf(pc)) : 0;
        const what = pt.isMain ? 'main' : 'Lua';
        f = {
          kind: 'lua',
          what,
          name: called?.name
            ? called.name
            : what === 'main'
              ? 'main chunk'
              : `function <${pt.shortSrc}:${pt.firstline}>`,
          namewhat: called?.namewhat ?? '',
          file: pt.shortSrc,
          lineDefined: pt.firstline,
        };
        if (line > 0) f.line = line;
      } else {
        const ffid = lv.fhdr ? lv.fhdr[this.l.func.ffid] : -1;
        const lib = this.libraryName(lv.func, ffid, called);
        f = {
          kind: 'c',
          what: 'C',
          name: lib ?? (called?.name || '?'),
          namewhat: called?.namewhat ?? '',
          file: ffid > 1 && !called ? `[builtin#${ffid}]` : '[C]',
        };
      }
      // LuaJIT's traceback prints every named frame as "function 'name'" (the call-site name).
      if (called) f.description = `in function '${called.name}'`;
      out.push(f);
    }
    return out;
  }

  private libraryName(func: number, ffid: number, called: LjName | null): string | undefined {
    let n = this.globals.lookup(func) ?? (ffid > 1 ? this.globals.ffidName(ffid) : undefined);
    if (n === undefined && !called && this.globals.refresh(this.clock()))
      n = this.globals.lookup(func) ?? this.globals.ffidName(ffid);
    return n;
  }

  /** lj_debug_funcname for level i: the caller (level i+1) must be a Lua function with a pc at the call. */
  private callSiteName(t: RawThread, i: number, callerPt: LjProto | null): LjName | null {
    const lv = t.levels[i];
    if (!callerPt || !lv.callerPc) return null;
    const type = lv.linkType;
    if ((type & 3) !== 0 && type !== 2) return null;
    return this.names.calledFrom(callerPt, lv.callerPc);
  }
}
