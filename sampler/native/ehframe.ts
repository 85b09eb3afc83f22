/**
 * .eh_frame / .eh_frame_hdr: CIE/FDE parsing and FDE lookup (binary search through the hdr table, or
 * a lazily built linear index when there is no hdr). The CFI interpreter that turns an FDE into the
 * unwind row in effect at an address is in cfi.ts. All addresses here are ELF virtual addresses
 * (unbiased). Malformed input yields null; work is bounded by the size of the section.
 */
import { rowForFde, type Row } from './cfi.js';
import { Cursor, DW_EH_PE_omit, encodedSize } from './dwarf.js';

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

export interface EhFrameInput {
  ehFrame: Buffer;
  ehFrameVaddr: number;
  hdr?: Buffer | null;
  hdrVaddr?: number;
}

const MAX_CIES = 4096;

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

  /** The unwind row in effect at vaddr within fde, or null (CFI we cannot execute). */
  rowFor(fde: Fde, vaddr: number): Row | null {
    return rowForFde(this.eh, this.ehVaddr, fde, vaddr);
  }
}
