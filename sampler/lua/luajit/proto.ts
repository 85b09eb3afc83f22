/**
 * Decoded LuaJIT prototypes (GCproto + bytecode + lineinfo + varinfo), cached by address. A proto is
 * immutable once created; a reused address is told apart by its header (chunkname, firstline, sizebc).
 */
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, ownCopy, readMany, u64 } from '../../os/memory.js';
import type { LjLayout } from './layout.js';
import { readGCstr, shortName } from './strings.js';
import { sharedBytes } from '../shared-bytes.js';

const MAX_BC = 1 << 20;
const MAX_VARINFO = 1 << 20;

export class LjProto {
  private bcCache: Uint32Array | null | undefined;
  private liCache: Uint8Array | Uint16Array | Uint32Array | null | undefined;
  private vars: { name: string; startpc: number; endpc: number }[] | null | undefined;
  private readonly kstr = new Map<number, string | null>();
  private uvnames: (string | null)[] | undefined;

  constructor(
    private readonly mem: Memory,
    private readonly l: LjLayout,
    readonly addr: number,
    readonly header: Buffer,
    readonly chunkname: string,
  ) {}

  get sizebc(): number {
    return this.header.readUInt32LE(this.l.proto.sizebc);
  }
  get firstline(): number {
    return this.header.readInt32LE(this.l.proto.firstline);
  }
  get numline(): number {
    return this.header.readInt32LE(this.l.proto.numline);
  }
  get numparams(): number {
    return this.header[this.l.proto.numparams];
  }
  get isVararg(): boolean {
    return (this.header[this.l.proto.flags] & this.l.proto.varargFlag) !== 0;
  }
  get bcAddr(): number {
    return this.addr + this.l.proto.size;
  }
  /** lj_debug_getinfo: "main" needs line info (a stripped function with firstline 0 is "Lua"). */
  get isMain(): boolean {
    return this.firstline === 0 && this.numline !== 0;
  }
  get shortSrc(): string {
    return shortName(this.chunkname, this.firstline);
  }

  /** Bytecode position of the instruction before a saved pc (debug_framepc), or -1. */
  posOf(pc: number): number {
    const pos = (pc - this.bcAddr) / 4 - 1;
    return Number.isInteger(pos) && pos >= 0 && pos < this.sizebc ? pos : -1;
  }

  bytecode(): Uint32Array | null {
    if (this.bcCache !== undefined) return this.bcCache;
    const n = this.sizebc;
    let r: Uint32Array | null = null;
    if (n > 0 && n <= MAX_BC) {
      const b = this.mem.read(this.bcAddr, n * 4);
      if (b) r = new Uint32Array(sharedBytes.copy(b));
    }
    return (this.bcCache = r);
  }

  /** lj_debug_line: 0 when unknown (stripped). */
  line(pos: number): number {
    if (pos < 0 || pos > this.sizebc) return 0;
    const li = this.lineinfo();
    if (!li) return 0;
    const first = this.firstline;
    if (pos === this.sizebc) return first + this.numline;
    if (pos === 0) return first;
    const d = li[pos - 1];
    return d === undefined ? 0 : first + d;
  }

  private lineinfo(): Uint8Array | Uint16Array | Uint32Array | null {
    if (this.liCache !== undefined) return this.liCache;
    const at = u64(this.header, this.l.proto.lineinfo);
    const n = this.sizebc;
    const nl = this.numline;
    let r: Uint8Array | Uint16Array | Uint32Array | null = null;
    if (isPlausiblePtr(at, 1) && n > 0 && n <= MAX_BC && nl >= 0) {
      const w = nl < 256 ? 1 : nl < 65536 ? 2 : 4;
      const b = this.mem.read(at, (n - 1) * w);
      if (b) {
        const copy = sharedBytes.copy(b);
        r = w === 1 ? new Uint8Array(copy) : w === 2 ? new Uint16Array(copy) : new Uint32Array(copy);
      }
    }
    return (this.liCache = r);
  }

  /** debug_varname: the name of a local slot at a bytecode position. */
  varname(pos: number, slot: number): string | null {
    const vars = this.varinfo();
    if (!vars) return null;
    for (const v of vars) {
      if (v.startpc > pos) break;
      if (pos < v.endpc && slot-- === 0) return v.name;
    }
    return null;
  }

  private varinfo(): { name: string; startpc: number; endpc: number }[] | null {
    if (this.vars !== undefined) return this.vars;
    const at = u64(this.header, this.l.proto.varinfo);
    let r: { name: string; startpc: number; endpc: number }[] | null = null;
    if (isPlausiblePtr(at, 1)) {
      // The varinfo blob is not length-prefixed: read in growing chunks until its terminator.
      for (let len = 512; len <= MAX_VARINFO && r === null; len *= 4) {
        const b = this.mem.read(at, len) ?? this.readUpTo(at, len);
        if (!b) break;
        r = this.parseVarinfo(b, b.length < len);
        if (b.length < len && r === null) break;
      }
    }
    return (this.vars = r);
  }

  private readUpTo(at: number, len: number): Buffer | null {
    // Near the end of a mapping: shrink until readable.
    for (let n = len >> 1; n >= 64; n >>= 1) {
      const b = this.mem.read(at, n);
      if (b) return b;
    }
    return null;
  }

  private parseVarinfo(b: Buffer, final: boolean): { name: string; startpc: number; endpc: number }[] | null {
    const out: { name: string; startpc: number; endpc: number }[] = [];
    let p = 0;
    let lastpc = 0;
    const uleb = (): number | null => {
      let v = 0;
      let shift = 0;
      for (;;) {
        if (p >= b.length || shift > 28) return null;
        const c = b[p++];
        v += (c & 0x7f) * 2 ** shift;
        if (c < 0x80) return v;
        shift += 7;
      }
    };
    for (let guard = 0; guard < 1 << 16; guard++) {
      if (p >= b.length) return final ? out : null;
      const vn = b[p];
      let name: string;
      if (vn < this.l.varnames.length + 1) {
        if (vn === 0) return out;
        name = this.l.varnames[vn - 1];
        p++;
      } else {
        const end = b.indexOf(0, p);
        if (end < 0) return final ? out : null;
        name = b.toString('latin1', p, end);
        p = end + 1;
      }
      const s = uleb();
      if (s === null) return final ? out : null;
      const startpc = (lastpc = lastpc + s);
      const e = uleb();
      if (e === null) return final ? out : null;
      out.push({ name, startpc, endpc: startpc + e });
    }
    return out;
  }

  /** proto_kgc(pt, ~idx) as a string constant. */
  kgcString(idx: number): string | null {
    if (this.kstr.has(idx)) return this.kstr.get(idx)!;
    const k = u64(this.header, this.l.proto.k);
    const n = this.header.readUInt32LE(this.l.proto.sizekgc);
    let r: string | null = null;
    if (isPlausiblePtr(k) && idx >= 0 && idx < n) {
      const b = this.mem.read(k - (idx + 1) * 8, 8);
      if (b) r = readGCstr(this.mem, this.l, u64(b, 0), 256);
    }
    this.kstr.set(idx, r);
    return r;
  }

  /** lj_debug_uvname */
  uvname(idx: number): string {
    if (!this.uvnames) {
      const at = u64(this.header, this.l.proto.uvinfo);
      const n = this.header.readUInt8(this.l.proto.sizeuv);
      const names: (string | null)[] = [];
      if (isPlausiblePtr(at, 1) && n > 0) {
        const b = this.mem.read(at, Math.min(4096, n * 64)) ?? this.readUpTo(at, 4096);
        let p = 0;
        for (let i = 0; b && i < n; i++) {
          const end = b.indexOf(0, p);
          if (end < 0) break;
          names.push(b.toString('latin1', p, end));
          p = end + 1;
        }
      }
      this.uvnames = names;
    }
    // lj_debug_uvname: "" when the prototype carries no upvalue names (stripped).
    return this.uvnames[idx] ?? '';
  }
}

export class LjProtoCache {
  private readonly byAddr = new Map<number, LjProto>();
  private readonly names = new Map<number, string>();

  constructor(
    private readonly mem: Memory,
    private readonly l: LjLayout,
    private readonly max = 50_000,
  ) {}

  /** The prototype of a Lua function whose bytecode starts at bcAddr (GCfuncL.pc). */
  get(bcAddr: number): LjProto | null {
    const addr = bcAddr - this.l.proto.size;
    if (!isPlausiblePtr(addr)) return null;
    return this.fromHeader(addr, this.mem.read(addr, this.l.proto.size));
  }

  /**
   * The prototypes of several functions, by bytecode address: their headers read in one batch (a
   * cached prototype is checked against its header at every use: the memory of a freed one is reused).
   */
  getMany(bcAddrs: Iterable<number>): Map<number, LjProto | null> {
    const size = this.l.proto.size;
    const bcs = [...new Set(bcAddrs)].filter((bc) => isPlausiblePtr(bc - size));
    const headers = readMany(
      this.mem,
      bcs.map((bc) => ({ addr: bc - size, len: size })),
    );
    return new Map(bcs.map((bc, i) => [bc, this.fromHeader(bc - size, headers[i])]));
  }

  private fromHeader(addr: number, h: Buffer | null): LjProto | null {
    if (!h || h[9] !== this.l.gct.proto) return null;
    const hit = this.byAddr.get(addr);
    if (hit && hit.header.equals(h)) return hit;
    const sizebc = h.readUInt32LE(this.l.proto.sizebc);
    if (sizebc === 0 || sizebc > MAX_BC) return null;
    const cn = u64(h, this.l.proto.chunkname);
    let name = this.names.get(cn);
    if (name === undefined) {
      name = readGCstr(this.mem, this.l, cn) ?? '?';
      this.names.set(cn, name);
    }
    if (this.byAddr.size >= this.max) {
      this.byAddr.clear();
      this.names.clear();
    }
    const p = new LjProto(this.mem, this.l, addr, ownCopy(h), name);
    this.byAddr.set(addr, p);
    return p;
  }
}
