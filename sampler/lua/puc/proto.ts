/**
 * Decoded function prototypes. Everything in a Proto is immutable once the chunk is loaded, so a
 * decoded Proto is cached by address (validated by its code and lineinfo pointers, which a reused
 * address would not repeat).
 */
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, ownCopy, u64 } from '../../os/memory.js';
import { tvTag, type PucLayout } from './layout.js';
import { chunkId } from '../strings.js';
import { readTString } from './strings.js';
import { sharedBytes } from '../shared-bytes.js';

const MAX_CODE = 1 << 20;
const MAX_LOCVARS = 1 << 16;
const MAX_UPVALUES = 256;
const MAX_K = 1 << 20;
const NO_LINE = -0x8000_0000;

export interface LocVar {
  name: string;
  startpc: number;
  endpc: number;
}

export class ProtoInfo {
  private codeCache: Uint32Array | null | undefined;
  private lineCache: Int8Array | Int32Array | null | undefined;
  private absCache: Int32Array | null | undefined;
  private locCache: LocVar[] | undefined;
  private upCache: (string | null)[] | undefined;
  private readonly kNames = new Map<number, string | null>();
  /** line() by instruction index, for line info given as deltas (5.4). */
  private lineMemo: Int32Array | null = null;
  /** The header's fields every sample needs, decoded once (a Proto never changes). */
  readonly lineDefined: number;
  readonly codeAddr: number;
  readonly sizecode: number;
  readonly isMain: boolean;

  constructor(
    private readonly mem: Memory,
    private readonly layout: PucLayout,
    readonly addr: number,
    private readonly header: Buffer,
    readonly source: string,
    readonly shortSrc: string,
  ) {
    this.lineDefined = this.i32(layout.proto.linedefined);
    this.codeAddr = this.ptr(layout.proto.code);
    this.sizecode = this.i32(layout.proto.sizecode);
    this.isMain = this.lineDefined === 0;
  }

  private i32(off: number): number {
    return this.header.readInt32LE(off);
  }
  private ptr(off: number): number {
    return u64(this.header, off);
  }

  /** Instruction index of a saved pc (pcRel): -1 before the first instruction, -2 when outside the code. */
  pcOf(savedpc: number): number {
    const pc = (savedpc - this.codeAddr) / 4 - 1;
    return Number.isInteger(pc) && pc >= -1 && pc < this.sizecode ? pc : -2;
  }

  code(): Uint32Array | null {
    if (this.codeCache !== undefined) return this.codeCache;
    const n = this.sizecode;
    let result: Uint32Array | null = null;
    if (n > 0 && n <= MAX_CODE && isPlausiblePtr(this.codeAddr, 4)) {
      const b = this.mem.read(this.codeAddr, n * 4);
      if (b) result = new Uint32Array(sharedBytes.copy(b), 0, n);
    }
    this.codeCache = result;
    return result;
  }

  /** Current line for an instruction index, or -1 when unknown (stripped bytecode, bad pc). */
  line(pc: number): number {
    if (pc === -1) return this.lineInfoPresent() ? this.lineDefined : -1;
    if (pc < 0) return -1;
    if (this.layout.proto.lineinfoSize === 1) {
      const li = this.lineInfo8();
      if (!li || pc >= li.length) return -1;
      // 5.4 sums line deltas from the last absolute line (up to 128 instructions back): once per pc.
      this.lineMemo ??= new Int32Array(li.length).fill(NO_LINE);
      const known = this.lineMemo[pc];
      if (known !== NO_LINE) return known;
      const abs = this.absLineInfo();
      let basepc = -1;
      let line = this.lineDefined;
      if (abs && abs.length >= 2 && pc >= abs[0]) {
        let i = 0;
        while (i + 1 < abs.length / 2 && pc >= abs[(i + 1) * 2]) i++;
        basepc = abs[i * 2];
        line = abs[i * 2 + 1];
      }
      while (basepc++ < pc) line += li[basepc];
      this.lineMemo[pc] = line;
      return line;
    }
    const li = this.lineInfo32();
    return li && pc < li.length ? li[pc] : -1;
  }

  private lineInfoPresent(): boolean {
    return this.i32(this.layout.proto.sizelineinfo) > 0;
  }

  private lineInfo8(): Int8Array | null {
    if (this.lineCache !== undefined) return this.lineCache as Int8Array | null;
    const p = this.layout.proto;
    const n = this.i32(p.sizelineinfo);
    const at = this.ptr(p.lineinfo);
    let result: Int8Array | null = null;
    if (n > 0 && n <= MAX_CODE && isPlausiblePtr(at, 1)) {
      const b = this.mem.read(at, n);
      if (b) result = new Int8Array(sharedBytes.copy(b));
    }
    this.lineCache = result;
    return result;
  }

  private lineInfo32(): Int32Array | null {
    if (this.lineCache !== undefined) return this.lineCache as Int32Array | null;
    const p = this.layout.proto;
    const n = this.i32(p.sizelineinfo);
    const at = this.ptr(p.lineinfo);
    let result: Int32Array | null = null;
    if (n > 0 && n <= MAX_CODE && isPlausiblePtr(at, 4)) {
      const b = this.mem.read(at, n * 4);
      if (b) result = new Int32Array(sharedBytes.copy(b));
    }
    this.lineCache = result;
    return result;
  }

  /** Flattened {pc, line} pairs. */
  private absLineInfo(): Int32Array | null {
    if (this.absCache !== undefined) return this.absCache;
    const p = this.layout.proto;
    let result: Int32Array | null = null;
    if (p.sizeabslineinfo !== undefined && p.abslineinfo !== undefined) {
      const n = this.i32(p.sizeabslineinfo);
      const at = this.ptr(p.abslineinfo);
      if (n > 0 && n <= MAX_CODE && isPlausiblePtr(at, 4)) {
        const b = this.mem.read(at, n * 8);
        if (b) result = new Int32Array(sharedBytes.copy(b));
      }
    }
    this.absCache = result;
    return result;
  }

  locVars(): LocVar[] {
    if (this.locCache) return this.locCache;
    const p = this.layout.proto;
    const lv = this.layout.locvar;
    const n = this.i32(p.sizelocvars);
    const at = this.ptr(p.locvars);
    const out: LocVar[] = [];
    if (n > 0 && n <= MAX_LOCVARS && isPlausiblePtr(at)) {
      const b = this.mem.read(at, n * lv.size);
      if (b) {
        for (let i = 0; i < n; i++) {
          const base = i * lv.size;
          const nameAddr = u64(b, base + lv.varname);
          const name = isPlausiblePtr(nameAddr) ? readTString(this.mem, nameAddr, this.layout, 256) : null;
          out.push({
            name: name ?? '?',
            startpc: b.readInt32LE(base + lv.startpc),
            endpc: b.readInt32LE(base + lv.endpc),
          });
        }
      }
    }
    this.locCache = out;
    return out;
  }

  /** luaF_getlocalname */
  localName(localNumber: number, pc: number): string | null {
    for (const v of this.locVars()) {
      if (v.startpc > pc) break;
      if (pc < v.endpc) {
        localNumber--;
        if (localNumber === 0) return v.name;
      }
    }
    return null;
  }

  upvalueName(idx: number): string {
    if (!this.upCache) {
      const p = this.layout.proto;
      const ud = this.layout.upvaldesc;
      const n = this.i32(p.sizeupvalues);
      const at = this.ptr(p.upvalues);
      const names: (string | null)[] = [];
      if (n > 0 && n <= MAX_UPVALUES && isPlausiblePtr(at)) {
        const b = this.mem.read(at, n * ud.size);
        if (b) {
          for (let i = 0; i < n; i++) {
            const s = u64(b, i * ud.size + ud.name);
            names.push(isPlausiblePtr(s) ? readTString(this.mem, s, this.layout, 256) : null);
          }
        }
      }
      this.upCache = names;
    }
    return this.upCache[idx] ?? '?';
  }

  /** 5.1: number of upvalues of nested function p[idx] (CLOSURE is followed by that many pseudo-instructions). */
  childNups(idx: number): number | null {
    const p = this.layout.proto;
    if (p.nups === undefined) return null;
    const n = this.i32(p.sizep);
    const at = this.ptr(p.p);
    if (idx < 0 || idx >= n || n > MAX_K || !isPlausiblePtr(at)) return null;
    const pb = this.mem.read(at + idx * 8, 8);
    if (!pb) return null;
    const child = u64(pb, 0);
    if (!isPlausiblePtr(child)) return null;
    const nb = this.mem.read(child + p.nups, 1);
    return nb ? nb[0] : null;
  }

  /** The string value of constant k[idx], or null when it is not a string. */
  constantString(idx: number): string | null {
    if (this.kNames.has(idx)) return this.kNames.get(idx)!;
    const p = this.layout.proto;
    const tv = this.layout.tvalue;
    const n = this.i32(p.sizek);
    const at = this.ptr(p.k);
    let result: string | null = null;
    if (idx >= 0 && idx < n && n <= MAX_K && isPlausiblePtr(at)) {
      const b = this.mem.read(at + idx * tv.size, tv.size);
      if (b) {
        const tag = tvTag(this.layout, b, 0);
        if (tag === this.layout.tags.shortString || tag === this.layout.tags.longString) {
          const s = u64(b, 0);
          if (isPlausiblePtr(s)) result = readTString(this.mem, s, this.layout, 256);
        }
      }
    }
    this.kNames.set(idx, result);
    return result;
  }
}

/** Cache of decoded Protos, keyed by address and checked against the header read in the pause. */
export class ProtoCache {
  private readonly byAddr = new Map<number, ProtoInfo>();
  private readonly sources = new Map<number, string>();

  constructor(
    private readonly mem: Memory,
    private readonly layout: PucLayout,
    private readonly maxEntries = 50_000,
  ) {}

  get(addr: number, header: Buffer): ProtoInfo | null {
    const p = this.layout.proto;
    const hit = this.byAddr.get(addr);
    if (hit && hit.codeAddr === u64(header, p.code) && hit.lineDefined === header.readInt32LE(p.linedefined))
      return hit;
    const code = u64(header, p.code);
    const sizecode = header.readInt32LE(p.sizecode);
    if (!isPlausiblePtr(code, 4) || sizecode <= 0 || sizecode > MAX_CODE) return null;
    const srcAddr = u64(header, p.source);
    let source = this.sources.get(srcAddr);
    if (source === undefined) {
      source = (isPlausiblePtr(srcAddr) ? readTString(this.mem, srcAddr, this.layout) : null) ?? '=?';
      this.sources.set(srcAddr, source);
    }
    if (this.byAddr.size >= this.maxEntries) {
      this.byAddr.clear();
      this.sources.clear();
    }
    const info = new ProtoInfo(this.mem, this.layout, addr, ownCopy(header), source, chunkId(source));
    this.byAddr.set(addr, info);
    return info;
  }
}
