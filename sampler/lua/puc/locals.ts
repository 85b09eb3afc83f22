/**
 * PUC Lua (5.1-5.4) local variables of captured frames, as debug.getlocal lists them: the named
 * locals active at the frame's pc (luaF_getlocalname: locvars whose startpc <= pc < endpc, the k-th
 * of them in register k-1), parameters first, then the varargs (5.2+); and with upvalues, the closure's upvalues by their
 * Proto names. Runs while the thread is stopped (values change as it runs); every read is bounded
 * and never follows a table, only its header.
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
  type LuaType,
  type LuaValue,
} from '../values.js';
import type { RawFrame, RawLuaStack } from './capture.js';
import { PucCapture } from './capture.js';
import { GlobalNames } from './globals.js';
import { tvTag, type PucLayout } from './layout.js';
import { ProtoCache, type ProtoInfo } from './proto.js';

/** MAXVARS of every release: more active locals than this is a torn or hostile Proto. */
const MAX_LOCALS = 250;
const MAX_UPVALUES = 255;
/** Table.flags sits after the CommonHeader (next, tt, marked) in every release. */
const TABLE_FLAGS = 10;
/** 5.4: Table.flags bit 7 set means alimit is not the real array size (BITRAS). */
const BITRAS = 0x80;

/** Varargs shown per frame at most. */
const MAX_VARARGS = 256;

/**
 * Where each family keeps what findvararg needs (ldebug.c): Proto.numparams (after the CommonHeader,
 * or at the end of 5.2's Proto), 5.4's Proto.is_vararg and CallInfo.u.l.nextraargs (after savedpc and
 * trap), and the name debug.getlocal gives varargs. 5.1 lists none.
 */
const VARARGS: Partial<Record<PucLayout['family'], { numparams: number; isVararg?: number; name: string }>> =
  {
    '5.2': { numparams: 120, name: '(*vararg)' },
    '5.3': { numparams: 10, name: '(*vararg)' },
    '5.4': { numparams: 10, isVararg: 11, name: '(vararg)' },
  };

/** Basic type (the tag's low four bits) to Lua's type() name. */
const TYPE_NAMES: (LuaType | undefined)[] = [
  'nil',
  'boolean',
  'userdata',
  'number',
  'string',
  'table',
  'function',
  'userdata',
  'thread',
];

/** A Lua frame's locals (null with a reason when they cannot be read), and its upvalues when asked. */
export interface FrameLocals {
  locals: LuaValue[] | null;
  upvalues?: LuaValue[];
  unavailable?: string;
}

export class PucLocals {
  private readonly kinds: PucCapture;
  private readonly protos: ProtoCache;
  private readonly globals: GlobalNames;
  private globalsRead = false;

  constructor(
    private readonly mem: Memory,
    private readonly layout: PucLayout,
    G: number,
  ) {
    this.kinds = new PucCapture(layout);
    this.protos = new ProtoCache(mem, layout);
    this.globals = new GlobalNames(mem, layout, G);
  }

  /**
   * The locals of every frame of a capture, in the order the resolver lists its frames (the running
   * coroutine's first, each thread innermost first); null for frames that run no Lua function.
   */
  read(stack: RawLuaStack, upvalues: boolean): (FrameLocals | null)[] {
    this.kinds.fill(this.mem, stack);
    return [...stack.threads].reverse().flatMap((t) => t.frames.map((f) => this.frame(f, upvalues)));
  }

  /** The locals (and upvalues) of one frame, or null when it runs no Lua function. */
  frame(f: RawFrame, upvalues: boolean): FrameLocals | null {
    if (!f.proto || !this.kinds.isLuaFunction(f)) return null;
    const proto = this.protos.get(f.protoAddr, f.proto);
    if (!proto) return { locals: null, unavailable: 'unreadable function prototype' };
    const saved = proto.pcOf(f.savedpc);
    if (saved === -2) return { locals: null, unavailable: 'saved pc outside the function' };
    // A function that has saved no pc since it was entered (5.2+ save it at calls) runs past its
    // entry, where its parameters are already set.
    const pc = Math.max(saved, 0);
    const names = proto
      .locVars()
      .filter((v) => v.startpc <= pc && pc < v.endpc)
      .map((v) => v.name);
    const out: FrameLocals = { locals: this.registers(f, names) };
    if (!out.locals) return { locals: null, unavailable: 'unreadable stack slots' };
    out.locals.push(...this.varargs(f));
    if (upvalues) out.upvalues = this.upvalues(f, proto);
    return out;
  }

  /** The values of the first names.length registers of frame f, named. */
  private registers(f: RawFrame, names: string[]): LuaValue[] | null {
    if (names.length === 0) return [];
    if (names.length > MAX_LOCALS) return null;
    const size = this.layout.tvalue.size;
    // 5.1-5.3 keep a frame's base in its CallInfo; 5.4's is the slot after the function.
    const base = f.base ?? f.func + size;
    if (!isPlausiblePtr(base)) return null;
    const slots = this.mem.read(base, names.length * size);
    if (!slots) return null;
    return names.map((name, i) => this.value(name, slots.subarray(i * size, (i + 1) * size)));
  }

  /** The frame's extra arguments, as debug.getlocal(level, -k) names them (5.2+). */
  private varargs(f: RawFrame): LuaValue[] {
    const v = VARARGS[this.layout.family];
    if (!v || !f.proto) return [];
    const size = this.layout.tvalue.size;
    const nparams = f.proto[v.numparams];
    let first: number;
    let count: number;
    if (v.isVararg !== undefined) {
      // 5.4 moves a vararg function above its extra arguments: they sit just below its slot.
      if (!f.proto[v.isVararg]) return [];
      const b = this.mem.read(f.ci + this.layout.callinfo.savedpc + 12, 4);
      count = b ? b.readInt32LE(0) : 0;
      first = f.func - count * size;
    } else {
      // 5.2/5.3 leave the function where it was and start the frame above the extra arguments.
      if (f.base === undefined) return [];
      count = (f.base - f.func) / size - 1 - nparams;
      first = f.func + (1 + nparams) * size;
    }
    if (!Number.isInteger(count) || count <= 0) return [];
    const n = Math.min(count, MAX_VARARGS);
    const slots = this.mem.read(first, n * size);
    if (!slots) return [];
    return Array.from({ length: n }, (_, i) => this.value(v.name, slots.subarray(i * size, (i + 1) * size)));
  }

  private upvalues(f: RawFrame, proto: ProtoInfo): LuaValue[] {
    const c = this.layout.closure;
    const n = f.closure ? Math.min(f.closure[c.nupvalues], MAX_UPVALUES) : 0;
    if (!n) return [];
    const ptrs = this.mem.read(f.funcValue + c.lupvals, n * 8);
    if (!ptrs) return [];
    // UpVal.v: after the CommonHeader, but first in 5.3 (whose upvalues are not collectable objects).
    const vOffset = this.layout.family === '5.3' ? 0 : 16;
    const size = this.layout.tvalue.size;
    const out: LuaValue[] = [];
    for (let i = 0; i < n; i++) {
      const name = proto.upvalueName(i);
      const uv = u64(ptrs, i * 8);
      const vb = isPlausiblePtr(uv) ? this.mem.read(uv + vOffset, 8) : null;
      const v = vb ? u64(vb, 0) : -1;
      const tv = isPlausiblePtr(v) ? this.mem.read(v, size) : null;
      out.push(tv ? this.value(name, tv) : { name, type: 'nil', value: '<unreadable>' });
    }
    return out;
  }

  /** One TValue, rendered. */
  value(name: string, tv: Buffer): LuaValue {
    const tag = tvTag(this.layout, tv, 0);
    const family = this.layout.family;
    const variant = (tag >> 4) & 3;
    const type = TYPE_NAMES[tag & 0x0f];
    if (type === undefined || tag < 0) return { name, type: 'nil', value: `<bad tag 0x${tag.toString(16)}>` };
    const p = u64(tv, 0);
    switch (tag & 0x0f) {
      case 0:
        return { name, type, value: 'nil' };
      case 1: {
        const on = family === '5.4' ? variant === 1 : tv.readInt32LE(0) !== 0;
        return { name, type, value: on ? 'true' : 'false' };
      }
      case 3: {
        const integer = (family === '5.3' && variant === 1) || (family === '5.4' && variant === 0);
        const value = integer
          ? tv.readBigInt64LE(0).toString()
          : formatFloat(tv.readDoubleLE(0), family === '5.3' || family === '5.4');
        return { name, type, value };
      }
      case 4:
        return { name, type, value: this.string(p) ?? `<unreadable string at ${hexAddr(p)}>` };
      case 5:
        return { name, type, value: this.table(p) };
      case 6:
        return { name, type, ...this.func(tag, p) };
      default:
        return { name, type, value: `${type}: ${hexAddr(p)}` };
    }
  }

  /** A string object's first STRING_SHOWN bytes, quoted and escaped, with its length when cut. */
  private string(addr: number): string | null {
    if (!isPlausiblePtr(addr)) return null;
    const ts = this.layout.tstring;
    const head = this.mem.read(addr, ts.contents);
    if (!head) return null;
    let len: number;
    if (ts.shrlen !== undefined) {
      const tt = head[this.layout.state.tt] & 0x3f;
      const shr = head[ts.shrlen];
      const isLong =
        ts.longMarker !== undefined ? shr === ts.longMarker : tt === (this.layout.tags.longString & 0x3f);
      len = isLong ? u64(head, ts.len) : shr;
    } else len = u64(head, ts.len);
    if (len < 0) return null;
    const n = Math.min(len, STRING_SHOWN);
    const body = n ? this.mem.read(addr + ts.contents, n) : Buffer.alloc(0);
    return body ? formatString(body, len) : null;
  }

  /** table: 0x… (N array, M hash), from the table's header only. */
  private table(addr: number): string {
    const tl = this.layout.table;
    const sizeOff = tl.sizearray ?? tl.alimit;
    const end = Math.max(tl.node, tl.array, sizeOff ?? 0) + 8;
    const h = isPlausiblePtr(addr) ? this.mem.read(addr, end) : null;
    if (!h) return `table: ${hexAddr(addr)}`;
    let array = sizeOff !== undefined ? h.readUInt32LE(sizeOff) : 0;
    if (tl.alimit !== undefined && tl.sizearray === undefined && h[TABLE_FLAGS] & BITRAS && array > 0) {
      // 5.4: alimit is a hint; the real size is the next power of two.
      array = 2 ** Math.ceil(Math.log2(array));
    }
    const lsize = h[tl.lsizenode];
    let hash = lsizenode(lsize);
    if (lsize === 0 && this.emptyNode(u64(h, tl.node))) hash = 0;
    return `table: ${hexAddr(addr)} (${array} array, ${hash} hash)`;
  }

  /** A one-node hash part whose key is nil: the shared dummy node of tables without one. */
  private emptyNode(node: number): boolean {
    const nl = this.layout.node;
    const b = isPlausiblePtr(node) ? this.mem.read(node, nl.size) : null;
    if (!b) return false;
    const tag = nl.keyTtSize === 1 ? b[nl.keyTt] : b.readInt32LE(nl.keyTt);
    return (tag & 0x0f) === 0;
  }

  /** function <file:line> for Lua functions; a C function by its library name, else the address of its code. */
  private func(tag: number, addr: number): Pick<LuaValue, 'value' | 'cfunc'> {
    const tags = this.layout.tags;
    const c = this.layout.closure;
    let cfunc = tag === tags.lightC ? addr : -1;
    let code = cfunc;
    if (cfunc < 0 && isPlausiblePtr(addr)) {
      const cl = this.mem.read(addr, Math.max(c.lp, c.cf) + 8);
      const isLua = cl && (c.isC !== undefined ? cl[c.isC] === 0 : tag === tags.luaClosure);
      if (cl && isLua) {
        const pa = u64(cl, c.lp);
        const ph = isPlausiblePtr(pa) ? this.mem.read(pa, this.layout.proto.size) : null;
        const proto = ph ? this.protos.get(pa, ph) : null;
        if (proto) return { value: `function <${inertLatin1(proto.shortSrc)}:${proto.lineDefined}>` };
      } else if (cl) {
        cfunc = addr;
        code = u64(cl, c.cf);
      }
    }
    if (cfunc < 0) return { value: `function: ${hexAddr(addr)}` };
    if (!this.globalsRead) {
      this.globalsRead = true;
      if (this.layout.traceback.globalNames !== 'none') this.globals.refresh(Date.now(), 0);
    }
    const name = this.globals.plainName(addr);
    if (name !== undefined) return { value: formatCFunction(inertLatin1(name), addr) };
    return { value: formatCFunction(undefined, addr), cfunc: code };
  }
}

const lsizenode = (l: number) => (l < 31 ? 2 ** l : 0);
