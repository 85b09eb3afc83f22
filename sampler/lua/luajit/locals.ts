/**
 * LuaJIT (GC64) local variables of captured interpreted frames, as debug.getlocal lists them:
 * lj_debug_getlocal's debug_varname over the prototype's varinfo at the frame's bytecode position,
 * slot k at base + 8k. Values are GC64 TValues (the type in the top 17 bits). Runs while the thread
 * is stopped; tables are read by their header only. Frames inside a JIT trace have no readable slots.
 */
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, u64 } from '../../os/memory.js';
import { inertLatin1 } from '../../../report/terminal-text.js';
import {
  formatCFunction,
  formatFloat,
  formatString,
  hexAddr,
  STRING_SHOWN,
  type LuaValue,
} from '../values.js';
import type { FrameLocals } from '../puc/locals.js';
import type { RawLevel, RawLuaJitStack, RawThread } from './capture.js';
import type { LjGlobalNames } from './globals.js';
import type { LjLayout } from './layout.js';
import { LjProtoCache, type LjProto } from './proto.js';

const MAX_LOCALS = 250;
/** Varargs shown per frame at most. */
const MAX_VARARGS = 256;
/** The name lj_debug's debug_localname gives varargs. */
const VARARG_NAME = '(*vararg)';
/** LJ_TISNUM (~13u): type words below it are numbers (doubles). */
const TISNUM = 0xfffffff2;
/** GCupval.v: after the GC header, the two flag bytes and the 16-byte TValue/links union. */
const UPVAL_V = 32;

export class LjLocals {
  private readonly protos: LjProtoCache;

  constructor(
    private readonly mem: Memory,
    private readonly l: LjLayout,
    private readonly globals: LjGlobalNames,
  ) {
    this.protos = new LjProtoCache(mem, l);
  }

  /** The locals of every level of a capture, in the resolver's order (running thread first, innermost first). */
  read(raw: RawLuaJitStack, upvalues: boolean): (FrameLocals | null)[] {
    return raw.threads.flatMap((t) => t.levels.map((lv, i) => this.level(t, i, lv, upvalues)));
  }

  private level(t: RawThread, i: number, lv: RawLevel, upvalues: boolean): FrameLocals | null {
    if (!lv.fhdr || lv.fhdr[this.l.func.ffid] !== 0) return null;
    const pt = this.protos.get(u64(lv.fhdr, this.l.func.pc));
    if (!pt) return { locals: null, unavailable: 'unreadable function prototype' };
    const pc = i === 0 ? t.topPc : t.levels[i - 1].callerPc;
    const pos = pc ? pt.posOf(pc) : -1;
    if (pos < 0 || lv.base === undefined)
      return { locals: null, unavailable: 'no current pc for this frame' };
    const names: string[] = [];
    for (let slot = 0; slot < MAX_LOCALS; slot++) {
      const n = pt.varname(pos, slot);
      if (n === null) break;
      names.push(n);
    }
    const slots = names.length ? this.mem.read(lv.base, names.length * 8) : Buffer.alloc(0);
    if (!slots) return { locals: null, unavailable: 'unreadable stack slots' };
    const out: FrameLocals = { locals: names.map((n, k) => this.value(n, slots, k * 8)) };
    out.locals!.push(...this.varargs(lv, pt));
    if (upvalues) out.upvalues = this.upvalues(lv.func, lv.fhdr, pt);
    return out;
  }

  /**
   * debug.getlocal(level, -k): a vararg function's extra arguments, in its original frame after the
   * fixed parameters, up to the FRAME_VARG frame BC_FUNCV set up above them (LJ_FR2: function and link
   * slots between them).
   */
  private varargs(lv: RawLevel, pt: LjProto): LuaValue[] {
    if (lv.varargBase === undefined || lv.base === undefined) return [];
    if (!pt.isVararg) return [];
    const numparams = pt.numparams;
    const count = (lv.base - lv.varargBase) / 8 - numparams - 2;
    if (!Number.isInteger(count) || count <= 0) return [];
    const n = Math.min(count, MAX_VARARGS);
    const slots = this.mem.read(lv.varargBase + numparams * 8, n * 8);
    if (!slots) return [];
    return Array.from({ length: n }, (_, k) => this.value(VARARG_NAME, slots, k * 8));
  }

  private upvalues(func: number, fhdr: Buffer, pt: LjProto): LuaValue[] {
    const n = fhdr[this.l.func.nupvalues];
    if (!n) return [];
    // GCfuncL.uvptr sits where GCfuncC keeps its C function pointer.
    const refs = this.mem.read(func + this.l.func.f, n * 8);
    if (!refs) return [];
    const out: LuaValue[] = [];
    for (let i = 0; i < n; i++) {
      const uv = u64(refs, i * 8);
      const vb = isPlausiblePtr(uv) ? this.mem.read(uv + UPVAL_V, 8) : null;
      const v = vb ? u64(vb, 0) : -1;
      const tv = isPlausiblePtr(v) ? this.mem.read(v, 8) : null;
      const name = pt.uvname(i);
      out.push(tv ? this.value(name, tv, 0) : { name, type: 'nil', value: '<unreadable>' });
    }
    return out;
  }

  /** One GC64 TValue at buf[off], rendered. */
  value(name: string, buf: Buffer, off: number): LuaValue {
    // itype(o): the top 17 bits, sign-extended (it64 >> 47).
    const it = (buf.readInt32LE(off + 4) >> 15) >>> 0;
    if (it < TISNUM) return { name, type: 'number', value: formatFloat(buf.readDoubleLE(off), false) };
    const gc = (buf.readUInt32LE(off + 4) & 0x7fff) * 0x1_0000_0000 + buf.readUInt32LE(off);
    switch (~it >>> 0) {
      case 0:
        return { name, type: 'nil', value: 'nil' };
      case 1:
        return { name, type: 'boolean', value: 'false' };
      case 2:
        return { name, type: 'boolean', value: 'true' };
      case 3:
        return { name, type: 'userdata', value: `userdata: ${hexAddr(gc)}` };
      case 4:
        return { name, type: 'string', value: this.string(gc) ?? `<unreadable string at ${hexAddr(gc)}>` };
      case 6:
        return { name, type: 'thread', value: `thread: ${hexAddr(gc)}` };
      case 8:
        return { name, type: 'function', ...this.func(gc) };
      case 10:
        return { name, type: 'cdata', value: `cdata: ${hexAddr(gc)}` };
      case 11:
        return { name, type: 'table', value: this.table(gc) };
      case 12:
        return { name, type: 'userdata', value: `userdata: ${hexAddr(gc)}` };
      default:
        return { name, type: 'nil', value: `<bad type 0x${it.toString(16)}>` };
    }
  }

  private string(addr: number): string | null {
    const h = isPlausiblePtr(addr) ? this.mem.read(addr, this.l.str.size) : null;
    if (!h || h[9] !== this.l.gct.str) return null;
    const len = h.readUInt32LE(this.l.str.len);
    const n = Math.min(len, STRING_SHOWN);
    const body = n ? this.mem.read(addr + this.l.str.size, n) : Buffer.alloc(0);
    return body ? formatString(body, len) : null;
  }

  /** table: 0x… (N array, M hash): LuaJIT's array part counts slot 0, which Lua code does not use. */
  private table(addr: number): string {
    const t = this.l.tab;
    const h = isPlausiblePtr(addr) ? this.mem.read(addr, t.size) : null;
    if (!h || h[9] !== this.l.gct.tab) return `table: ${hexAddr(addr)}`;
    const asize = h.readUInt32LE(t.asize);
    const hmask = h.readUInt32LE(t.hmask);
    return `table: ${hexAddr(addr)} (${Math.max(0, asize - 1)} array, ${hmask === 0 ? 0 : hmask + 1} hash)`;
  }

  /** function <file:line> for Lua functions; a C function by its library or fast-function name, else its code's address. */
  private func(addr: number): Pick<LuaValue, 'value' | 'cfunc'> {
    const f = this.l.func;
    const h = isPlausiblePtr(addr) ? this.mem.read(addr, f.headerLen) : null;
    if (!h || h[9] !== this.l.gct.func) return { value: `function: ${hexAddr(addr)}` };
    const ffid = h[f.ffid];
    if (ffid === 0) {
      const pt = this.protos.get(u64(h, f.pc));
      if (pt) return { value: `function <${inertLatin1(pt.shortSrc)}:${pt.firstline}>` };
      return { value: `function: ${hexAddr(addr)}` };
    }
    const name = this.globals.lookup(addr) ?? (ffid > 1 ? this.globals.ffidName(ffid) : undefined);
    if (name !== undefined) return { value: formatCFunction(inertLatin1(name), addr) };
    // GCfuncC.f: the C function's code.
    return { value: formatCFunction(undefined, addr), cfunc: u64(h, f.f) };
  }
}
