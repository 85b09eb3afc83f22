/**
 * .eh_frame / .eh_frame_hdr: CIE/FDE parsing, FDE lookup (binary search through the hdr table, or
 * a lazily built linear index when there is no hdr) and the CFI interpreter that computes the
 * unwind row in effect at an address. All addresses here are ELF virtual addresses (unbiased).
 * Malformed input yields null; work is bounded by the size of the section.
 */
import { Cursor, DW_EH_PE_omit, encodedSize } from './dwarf.js';

/** Register rules. */
export const R_UNSPEC = 0;
export const R_UNDEF = 1;
export const R_OFFSET = 2;
export const R_VAL_OFFSET = 3;
export const R_REG = 4;
export const R_EXPR = 5;
export const R_VAL_EXPR = 6;
export const R_SAME = 7;

/** DWARF register numbers we track: 0..15 GPRs, 16 = return address (rip). */
export const NREGS = 17;
export const REG_RSP = 7;
export const REG_RBP = 6;
export const REG_RA = 16;

export interface Cie {
  pos: number;
  version: number;
  aug: string;
  codeAlign: number;
  dataAlign: number;
  raReg: number;
  fdeEnc: number;
  lsdaEnc: number;
  hasAugData: boolean;
  signal: boolean;
  initStart: number;
  initEnd: number;
}

export interface Fde {
  pos: number;
  cie: Cie;
  start: number;
  end: number;
  instrStart: number;
  instrEnd: number;
}

export interface Row {
  /** CFA = reg(cfaReg) + cfaOff, or cfaExpr evaluated when cfaExpr is set (cfaReg = -1). */
  cfaReg: number;
  cfaOff: number;
  cfaExpr: Buffer | null;
  rule: Uint8Array;
  val: Float64Array;
  expr: (Buffer | null)[] | null;
  raReg: number;
  signal: boolean;
  /** FDE range [start, end) (ELF vaddrs). */
  start: number;
  end: number;
}

export interface EhFrameInput {
  ehFrame: Buffer;
  ehFrameVaddr: number;
  hdr?: Buffer | null;
  hdrVaddr?: number;
}

const MAX_STATE_STACK = 64;
const MAX_CIES = 4096;

interface State {
  cfaReg: number;
  cfaOff: number;
  cfaExpr: Buffer | null;
  rule: Uint8Array;
  val: Float64Array;
  expr: (Buffer | null)[];
}

function newState(): State {
  return {
    cfaReg: -1,
    cfaOff: 0,
    cfaExpr: null,
    rule: new Uint8Array(NREGS),
    val: new Float64Array(NREGS),
    expr: new Array<Buffer | null>(NREGS).fill(null),
  };
}

function cloneState(s: State): State {
  return {
    cfaReg: s.cfaReg,
    cfaOff: s.cfaOff,
    cfaExpr: s.cfaExpr,
    rule: s.rule.slice(),
    val: s.val.slice(),
    expr: s.expr.slice(),
  };
}

export class EhFrame {
  private readonly eh: Buffer;
  private readonly ehVaddr: number;
  private readonly hdr: Buffer | null;
  private readonly hdrVaddr: number;
  private tableEnc = DW_EH_PE_omit;
  private tablePos = 0;
  private tableCount = 0;
  private entrySize = 0;
  private readonly cies = new Map<number, Cie | null>();
  private index: { starts: Float64Array; pos: Int32Array } | null = null;

  constructor(input: EhFrameInput) {
    this.eh = input.ehFrame;
    this.ehVaddr = input.ehFrameVaddr;
    this.hdr = input.hdr ?? null;
    this.hdrVaddr = input.hdrVaddr ?? 0;
    this.initHdr();
  }

  /** True when lookups go through the .eh_frame_hdr binary search table. */
  get usesHdr(): boolean {
    return this.tableCount > 0;
  }

  private initHdr(): void {
    const h = this.hdr;
    if (!h || h.length < 4) return;
    try {
      const c = new Cursor(h, 0, h.length);
      const version = c.u8();
      const ptrEnc = c.u8();
      const countEnc = c.u8();
      const tableEnc = c.u8();
      if (version !== 1) return;
      c.encoded(ptrEnc, this.hdrVaddr, this.hdrVaddr);
      if (countEnc === DW_EH_PE_omit || tableEnc === DW_EH_PE_omit) return;
      const count = c.encoded(countEnc, this.hdrVaddr, this.hdrVaddr);
      const es = encodedSize(tableEnc);
      if (es === 0 || ((tableEnc & 0x70) !== 0x30 && (tableEnc & 0x70) !== 0x00)) return;
      const maxCount = Math.floor((h.length - c.pos) / (2 * es));
      if (!Number.isSafeInteger(count) || count <= 0) return;
      this.tableCount = Math.min(count, maxCount);
      this.tableEnc = tableEnc;
      this.tablePos = c.pos;
      this.entrySize = 2 * es;
    } catch {
      this.tableCount = 0;
    }
  }

  private tableEntry(i: number, second: boolean): number {
    const h = this.hdr!;
    const off = this.tablePos + i * this.entrySize + (second ? this.entrySize / 2 : 0);
    if (this.tableEnc === 0x3b) return h.readInt32LE(off) + this.hdrVaddr;
    const c = new Cursor(h, off, h.length);
    return c.encoded(this.tableEnc, this.hdrVaddr, this.hdrVaddr);
  }

  /** Finds the FDE covering vaddr, or null. */
  findFde(vaddr: number): Fde | null {
    try {
      let pos = -1;
      if (this.tableCount > 0) {
        let lo = 0;
        let hi = this.tableCount - 1;
        let best = -1;
        while (lo <= hi) {
          const mid = (lo + hi) >>> 1;
          if (this.tableEntry(mid, false) <= vaddr) {
            best = mid;
            lo = mid + 1;
          } else hi = mid - 1;
        }
        if (best < 0) return null;
        pos = this.tableEntry(best, true) - this.ehVaddr;
      } else {
        const idx = this.buildIndex();
        const s = idx.starts;
        let lo = 0;
        let hi = s.length - 1;
        let best = -1;
        while (lo <= hi) {
          const mid = (lo + hi) >>> 1;
          if (s[mid] <= vaddr) {
            best = mid;
            lo = mid + 1;
          } else hi = mid - 1;
        }
        if (best < 0) return null;
        pos = idx.pos[best];
      }
      const fde = this.parseFde(pos);
      if (!fde || vaddr < fde.start || vaddr >= fde.end) return null;
      return fde;
    } catch {
      return null;
    }
  }

  /** Builds (once) a sorted index of all FDEs by scanning .eh_frame. */
  private buildIndex(): { starts: Float64Array; pos: Int32Array } {
    if (this.index) return this.index;
    const list: { start: number; pos: number }[] = [];
    for (const f of this.scanFdes()) list.push({ start: f.start, pos: f.pos });
    list.sort((a, b) => a.start - b.start);
    this.index = {
      starts: Float64Array.from(list.map((x) => x.start)),
      pos: Int32Array.from(list.map((x) => x.pos)),
    };
    return this.index;
  }

  /** Every parsable FDE in section order (bounded by the section size). */
  *scanFdes(): Generator<Fde> {
    const b = this.eh;
    let pos = 0;
    while (pos + 4 <= b.length) {
      const len32 = b.readUInt32LE(pos);
      if (len32 === 0) break; // terminator
      let hdrLen = 4;
      let len = len32;
      if (len32 === 0xffffffff) {
        if (pos + 12 > b.length) break;
        const hi = b.readUInt32LE(pos + 8);
        if (hi !== 0) break;
        len = b.readUInt32LE(pos + 4);
        hdrLen = 12;
      }
      const next = pos + hdrLen + len;
      if (len < 4 || next > b.length || next <= pos) break;
      const id = b.readUInt32LE(pos + hdrLen);
      if (id !== 0) {
        const f = this.parseFde(pos);
        if (f) yield f;
      }
      pos = next;
    }
  }

  /** Parses the CIE at pos (cached). */
  parseCie(pos: number): Cie | null {
    const hit = this.cies.get(pos);
    if (hit !== undefined) return hit;
    let cie: Cie | null;
    try {
      cie = this.parseCieUncached(pos);
    } catch {
      cie = null;
    }
    if (this.cies.size < MAX_CIES) this.cies.set(pos, cie);
    return cie;
  }

  private parseCieUncached(pos: number): Cie | null {
    const b = this.eh;
    if (pos < 0 || pos + 4 > b.length) return null;
    const c = new Cursor(b, pos, b.length);
    let len = c.u32();
    if (len === 0xffffffff) {
      len = c.u64();
    }
    const end = c.pos + len;
    if (len < 4 || end > b.length) return null;
    c.end = end;
    const id = c.u32();
    if (id !== 0) return null;
    const version = c.u8();
    if (version !== 1 && version !== 3 && version !== 4) return null;
    const aug = c.cstr();
    if (aug.includes('eh')) c.u64();
    if (version === 4) {
      const addrSize = c.u8();
      c.u8(); // segment selector size
      if (addrSize !== 8) return null;
    }
    const codeAlign = c.uleb();
    const dataAlign = c.sleb();
    const raReg = version === 1 ? c.u8() : c.uleb();
    let fdeEnc = 0;
    let lsdaEnc = DW_EH_PE_omit;
    let signal = false;
    let hasAugData = false;
    if (aug.startsWith('z')) {
      hasAugData = true;
      const augLen = c.uleb();
      const augEnd = c.pos + augLen;
      if (augEnd > end) return null;
      for (let i = 1; i < aug.length; i++) {
        const ch = aug[i];
        if (ch === 'R') fdeEnc = c.u8();
        else if (ch === 'L') lsdaEnc = c.u8();
        else if (ch === 'P') {
          const penc = c.u8();
          c.encoded(penc & 0x7f, this.ehVaddr);
        } else if (ch === 'S') signal = true;
        else if (ch === 'B' || ch === 'G') {
          /* no data */
        } else break; // unknown: the rest of the aug data is skipped via augLen
      }
      c.pos = augEnd;
    } else if (aug !== '' && aug !== 'eh') {
      return null; // unknown augmentation without 'z': cannot parse further
    }
    return {
      pos,
      version,
      aug,
      codeAlign,
      dataAlign,
      raReg,
      fdeEnc,
      lsdaEnc,
      hasAugData,
      signal,
      initStart: c.pos,
      initEnd: end,
    };
  }

  /** Parses the FDE at pos. */
  parseFde(pos: number): Fde | null {
    try {
      const b = this.eh;
      if (pos < 0 || pos + 8 > b.length) return null;
      const c = new Cursor(b, pos, b.length);
      let len = c.u32();
      if (len === 0xffffffff) len = c.u64();
      const end = c.pos + len;
      if (len < 8 || end > b.length) return null;
      c.end = end;
      const idPos = c.pos;
      const ciePtr = c.u32();
      if (ciePtr === 0) return null;
      const cie = this.parseCie(idPos - ciePtr);
      if (!cie) return null;
      const start = c.encoded(cie.fdeEnc, this.ehVaddr);
      const range = c.encoded(cie.fdeEnc & 0x0f, this.ehVaddr);
      if (!Number.isFinite(start) || !Number.isFinite(range) || range < 0) return null;
      if (cie.hasAugData) {
        const n = c.uleb();
        c.skip(n);
      }
      return { pos, cie, start, end: start + range, instrStart: c.pos, instrEnd: end };
    } catch {
      return null;
    }
  }

  /** The unwind row in effect at vaddr, or null (no FDE, or CFI we cannot execute). */
  rowAt(vaddr: number): Row | null {
    const fde = this.findFde(vaddr);
    if (!fde) return null;
    return this.rowFor(fde, vaddr);
  }

  rowFor(fde: Fde, vaddr: number): Row | null {
    try {
      const cie = fde.cie;
      const st = newState();
      if (!this.exec(cie, cie.initStart, cie.initEnd, st, null, Infinity, fde.start)) return null;
      const init = cloneState(st);
      if (!this.exec(cie, fde.instrStart, fde.instrEnd, st, init, vaddr, fde.start)) return null;
      if (st.cfaReg < 0 && !st.cfaExpr) return null;
      if (cie.raReg >= NREGS) return null;
      const hasExpr = st.expr.some((e) => e !== null);
      return {
        cfaReg: st.cfaExpr ? -1 : st.cfaReg,
        cfaOff: st.cfaOff,
        cfaExpr: st.cfaExpr,
        rule: st.rule,
        val: st.val,
        expr: hasExpr ? st.expr : null,
        raReg: cie.raReg,
        signal: cie.signal,
        start: fde.start,
        end: fde.end,
      };
    } catch {
      return null;
    }
  }

  /**
   * Runs CFA instructions from [from, to) until the location passes `target`.
   * Returns false on an unknown opcode or malformed operands.
   */
  private exec(
    cie: Cie,
    from: number,
    to: number,
    st: State,
    init: State | null,
    target: number,
    startLoc: number,
  ): boolean {
    const c = new Cursor(this.eh, from, to);
    const stack: State[] = [];
    let loc = startLoc;
    const ca = cie.codeAlign;
    const da = cie.dataAlign;
    const setRule = (reg: number, rule: number, v: number, e: Buffer | null = null): void => {
      if (reg < NREGS) {
        st.rule[reg] = rule;
        st.val[reg] = v;
        st.expr[reg] = e;
      }
    };
    const restore = (reg: number): void => {
      if (reg < NREGS) {
        if (init) {
          st.rule[reg] = init.rule[reg];
          st.val[reg] = init.val[reg];
          st.expr[reg] = init.expr[reg];
        } else setRule(reg, R_UNSPEC, 0);
      }
    };
    const advance = (delta: number): boolean => {
      loc += delta * ca;
      return loc <= target;
    };
    while (c.pos < c.end) {
      const op = c.u8();
      const hi = op & 0xc0;
      const low = op & 0x3f;
      if (hi === 0x40) {
        if (!advance(low)) return true;
        continue;
      }
      if (hi === 0x80) {
        setRule(low, R_OFFSET, c.uleb() * da);
        continue;
      }
      if (hi === 0xc0) {
        restore(low);
        continue;
      }
      switch (op) {
        case 0x00: // nop
          break;
        case 0x01: {
          // set_loc
          const nl = c.encoded(cie.fdeEnc, this.ehVaddr);
          if (nl > target) return true;
          loc = nl;
          break;
        }
        case 0x02:
          if (!advance(c.u8())) return true;
          break;
        case 0x03:
          if (!advance(c.u16())) return true;
          break;
        case 0x04:
          if (!advance(c.u32())) return true;
          break;
        case 0x05: {
          const r = c.uleb();
          setRule(r, R_OFFSET, c.uleb() * da);
          break;
        }
        case 0x06:
          restore(c.uleb());
          break;
        case 0x07:
          setRule(c.uleb(), R_UNDEF, 0);
          break;
        case 0x08:
          setRule(c.uleb(), R_SAME, 0);
          break;
        case 0x09: {
          const r = c.uleb();
          const r2 = c.uleb();
          setRule(r, R_REG, r2);
          break;
        }
        case 0x0a:
          if (stack.length >= MAX_STATE_STACK) return false;
          stack.push(cloneState(st));
          break;
        case 0x0b: {
          const s = stack.pop();
          if (!s) return false;
          st.cfaReg = s.cfaReg;
          st.cfaOff = s.cfaOff;
          st.cfaExpr = s.cfaExpr;
          st.rule = s.rule;
          st.val = s.val;
          st.expr = s.expr;
          break;
        }
        case 0x0c:
          st.cfaReg = c.uleb();
          st.cfaOff = c.uleb();
          st.cfaExpr = null;
          break;
        case 0x0d:
          st.cfaReg = c.uleb();
          st.cfaExpr = null;
          break;
        case 0x0e:
          st.cfaOff = c.uleb();
          break;
        case 0x0f:
          st.cfaExpr = c.block(c.uleb());
          st.cfaReg = -1;
          break;
        case 0x10: {
          const r = c.uleb();
          const e = c.block(c.uleb());
          setRule(r, R_EXPR, 0, e);
          break;
        }
        case 0x11: {
          const r = c.uleb();
          setRule(r, R_OFFSET, c.sleb() * da);
          break;
        }
        case 0x12:
          st.cfaReg = c.uleb();
          st.cfaOff = c.sleb() * da;
          st.cfaExpr = null;
          break;
        case 0x13:
          st.cfaOff = c.sleb() * da;
          break;
        case 0x14: {
          const r = c.uleb();
          setRule(r, R_VAL_OFFSET, c.uleb() * da);
          break;
        }
        case 0x15: {
          const r = c.uleb();
          setRule(r, R_VAL_OFFSET, c.sleb() * da);
          break;
        }
        case 0x16: {
          const r = c.uleb();
          const e = c.block(c.uleb());
          setRule(r, R_VAL_EXPR, 0, e);
          break;
        }
        case 0x2e:
          c.uleb();
          break; // GNU_args_size
        case 0x2f: {
          const r = c.uleb();
          setRule(r, R_OFFSET, -c.uleb() * da);
          break;
        } // GNU_negative_offset_extended
        default:
          return false;
      }
    }
    return true;
  }
}
