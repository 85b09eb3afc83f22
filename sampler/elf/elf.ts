/**
 * A defensive ELF64 little-endian reader. Every offset and size read from the file is bounds-checked;
 * a malformed file yields null from parseElf (or empty results from the lazy accessors), never an
 * exception.
 */

export interface ElfSection {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  shndx: number;
}

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_NOTE = 4;
export const PT_GNU_EH_FRAME = 0x6474e550;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const STT_FUNC = 2;
export const STT_GNU_IFUNC = 10;
export const ET_EXEC = 2;
export const ET_DYN = 3;

const MAX_SECTIONS = 65535;
const MAX_SEGMENTS = 4096;
const MAX_SYMBOLS = 4_000_000;

/** Reads a u64 as a number (values past 2^53 come back as -1; no valid address is that large). */
function u64(b: Buffer, off: number): number {
  const lo = b.readUInt32LE(off);
  const hi = b.readUInt32LE(off + 4);
  if (hi > 0x1fffff) return -1;
  return hi * 0x1_0000_0000 + lo;
}

function cstr(b: Buffer, off: number, end: number): string {
  if (off < 0 || off >= end || end > b.length) return '';
  let i = off;
  const lim = Math.min(end, off + 4096);
  while (i < lim && b[i] !== 0) i++;
  return b.toString('latin1', off, i);
}

export class ElfFile {
  readonly type: number;
  readonly sections: ElfSection[] = [];
  readonly segments: ElfSegment[] = [];
  private symsCache: ElfSymbol[] | null = null;
  private dynsymsCache: ElfSymbol[] | null = null;

  private constructor(
    /** The whole file image (or, for an in-memory image like the vdso, its bytes). */
    readonly data: Buffer,
    type: number,
  ) {
    this.type = type;
  }

  /** Parses the headers; null when the bytes are not a usable ELF64 LE x86_64-ish object. */
  static parse(data: Buffer): ElfFile | null {
    try {
      return ElfFile.parseUnsafe(data);
    } catch {
      return null;
    }
  }

  private static parseUnsafe(b: Buffer): ElfFile | null {
    if (b.length < 64) return null;
    if (b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46) return null;
    if (b[4] !== 2 /* ELFCLASS64 */ || b[5] !== 1 /* LSB */) return null;
    const type = b.readUInt16LE(16);
    const f = new ElfFile(b, type);
    const phoff = u64(b, 32);
    const shoff = u64(b, 40);
    const phentsize = b.readUInt16LE(54);
    const phnum = b.readUInt16LE(56);
    const shentsize = b.readUInt16LE(58);
    let shnum = b.readUInt16LE(60);
    let shstrndx = b.readUInt16LE(62);

    if (phoff > 0 && phentsize >= 56 && phnum <= MAX_SEGMENTS && phoff + phnum * phentsize <= b.length) {
      for (let i = 0; i < phnum; i++) {
        const o = phoff + i * phentsize;
        f.segments.push({
          type: b.readUInt32LE(o),
          flags: b.readUInt32LE(o + 4),
          offset: u64(b, o + 8),
          vaddr: u64(b, o + 16),
          filesz: u64(b, o + 32),
          memsz: u64(b, o + 40),
          align: u64(b, o + 48),
        });
      }
    }
    if (shoff > 0 && shentsize >= 64 && shoff + 64 <= b.length) {
      if (shnum === 0) {
        // Extended numbering: real count in section 0's sh_size.
        const n = u64(b, shoff + 32);
        shnum = n > 0 && n <= MAX_SECTIONS ? n : 0;
      }
      if (shstrndx === 0xffff) shstrndx = b.readUInt32LE(shoff + 40);
      if (shnum <= MAX_SECTIONS && shoff + shnum * shentsize <= b.length) {
        const raw: (Omit<ElfSection, 'name'> & { nameOff: number })[] = [];
        for (let i = 0; i < shnum; i++) {
          const o = shoff + i * shentsize;
          raw.push({
            nameOff: b.readUInt32LE(o),
            type: b.readUInt32LE(o + 4),
            flags: u64(b, o + 8),
            addr: u64(b, o + 16),
            offset: u64(b, o + 24),
            size: u64(b, o + 32),
            link: b.readUInt32LE(o + 40),
            entsize: u64(b, o + 56),
          });
        }
        const strtab = raw[shstrndx];
        const strOk =
          strtab && strtab.offset >= 0 && strtab.size >= 0 && strtab.offset + strtab.size <= b.length;
        for (const r of raw) {
          const name = strOk ? cstr(b, strtab.offset + r.nameOff, strtab.offset + strtab.size) : '';
          const { nameOff: _n, ...rest } = r;
          f.sections.push({ name, ...rest });
        }
      }
    }
    if (f.segments.length === 0 && f.sections.length === 0) return null;
    return f;
  }

  section(name: string): ElfSection | null {
    for (const s of this.sections) if (s.name === name) return s;
    return null;
  }

  /** File bytes of a section (null for NOBITS or out-of-bounds). */
  sectionData(s: ElfSection | null): Buffer | null {
    if (!s || s.type === SHT_NOBITS) return null;
    if (s.offset < 0 || s.size < 0 || s.offset + s.size > this.data.length) return null;
    return this.data.subarray(s.offset, s.offset + s.size);
  }

  /** PT_LOAD segments in file order. */
  loads(): ElfSegment[] {
    return this.segments.filter((p) => p.type === PT_LOAD && p.vaddr >= 0 && p.offset >= 0);
  }

  /** Lowest PT_LOAD vaddr rounded down to its page: the address a load bias is relative to. */
  baseVaddr(): number {
    let min = Infinity;
    for (const p of this.loads()) {
      const a = p.vaddr - (p.offset % 4096);
      if (a < min) min = a;
    }
    return min === Infinity ? 0 : Math.max(0, min);
  }

  /** Maps a vaddr to a file offset through PT_LOAD (file-backed part only); -1 when none. */
  vaddrToOffset(vaddr: number): number {
    for (const p of this.segments) {
      if (p.type !== PT_LOAD) continue;
      if (vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz) return p.offset + (vaddr - p.vaddr);
    }
    return -1;
  }

  /**
   * Load bias of a mapping of this file: runtime address = vaddr + bias. Uses the PT_LOAD that
   * contains the mapping's file offset; falls back to the first PT_LOAD.
   */
  biasFor(mapStart: number, mapOffset: number): number {
    const loads = this.loads();
    for (const p of loads) {
      const segPageOff = p.offset - (p.offset % 4096);
      if (mapOffset >= segPageOff && mapOffset < p.offset + Math.max(p.filesz, 1)) {
        return mapStart - mapOffset - (p.vaddr - p.offset);
      }
    }
    if (loads.length) return mapStart - mapOffset - (loads[0].vaddr - loads[0].offset);
    return mapStart - mapOffset;
  }

  /** Bytes of `len` at vaddr, from the file image (null when not file-backed / out of range). */
  readVaddr(vaddr: number, len: number): Buffer | null {
    const off = this.vaddrToOffset(vaddr);
    if (off < 0 || off + len > this.data.length) return null;
    return this.data.subarray(off, off + len);
  }

  /** Build-id as lower-case hex, or null. */
  buildId(): string | null {
    const notes: { offset: number; size: number }[] = [];
    const sec = this.section('.note.gnu.build-id');
    if (sec && sec.type !== SHT_NOBITS) notes.push({ offset: sec.offset, size: sec.size });
    for (const p of this.segments) if (p.type === PT_NOTE) notes.push({ offset: p.offset, size: p.filesz });
    for (const n of notes) {
      const id = this.scanNotes(n.offset, n.size);
      if (id) return id;
    }
    return null;
  }

  private scanNotes(off: number, size: number): string | null {
    const b = this.data;
    if (off < 0 || size < 0 || off + size > b.length) return null;
    let p = off;
    const end = off + size;
    for (let guard = 0; guard < 256 && p + 12 <= end; guard++) {
      const namesz = b.readUInt32LE(p);
      const descsz = b.readUInt32LE(p + 4);
      const type = b.readUInt32LE(p + 8);
      const nameOff = p + 12;
      const descOff = nameOff + ((namesz + 3) & ~3);
      const next = descOff + ((descsz + 3) & ~3);
      if (namesz > size || descsz > size || next > end || next <= p) return null;
      if (
        type === 3 /* NT_GNU_BUILD_ID */ &&
        namesz === 4 &&
        b.toString('latin1', nameOff, nameOff + 3) === 'GNU'
      ) {
        if (descsz === 0 || descsz > 64) return null;
        return b.toString('hex', descOff, descOff + descsz);
      }
      p = next;
    }
    return null;
  }

  /** .gnu_debuglink file name and CRC, or null. */
  debugLink(): { file: string; crc: number } | null {
    const d = this.sectionData(this.section('.gnu_debuglink'));
    if (!d || d.length < 6) return null;
    let i = 0;
    while (i < d.length && d[i] !== 0) i++;
    if (i === 0 || i >= d.length) return null;
    const file = d.toString('latin1', 0, i);
    const crcOff = (i + 4) & ~3;
    if (crcOff + 4 > d.length) return null;
    if (file.includes('/')) return null;
    return { file, crc: d.readUInt32LE(crcOff) };
  }

  hasSymtab(): boolean {
    const s = this.sections.find((x) => x.type === SHT_SYMTAB);
    return !!s && s.type !== SHT_NOBITS && s.size > 0;
  }

  /** .symtab symbols (empty when absent). */
  symtab(): ElfSymbol[] {
    if (!this.symsCache) this.symsCache = this.readSymbols(SHT_SYMTAB);
    return this.symsCache;
  }

  /** .dynsym symbols (empty when absent). */
  dynsym(): ElfSymbol[] {
    if (!this.dynsymsCache) this.dynsymsCache = this.readSymbols(SHT_DYNSYM);
    return this.dynsymsCache;
  }

  private readSymbols(type: number): ElfSymbol[] {
    try {
      const sec = this.sections.find((s) => s.type === type);
      if (!sec) return [];
      const data = this.sectionData(sec);
      const strSec = this.sections[sec.link];
      const str = this.sectionData(strSec ?? null);
      if (!data || !str) return [];
      const ent = sec.entsize >= 24 ? sec.entsize : 24;
      const n = Math.min(Math.floor(data.length / ent), MAX_SYMBOLS);
      const out: ElfSymbol[] = [];
      for (let i = 1; i < n; i++) {
        const o = i * ent;
        const info = data[o + 4];
        const shndx = data.readUInt16LE(o + 6);
        const value = u64(data, o + 8);
        const size = u64(data, o + 16);
        const nameOff = data.readUInt32LE(o);
        if (value <= 0 || size < 0) continue;
        out.push({
          name: cstr(str, nameOff, str.length),
          value,
          size,
          type: info & 0xf,
          bind: info >> 4,
          shndx,
        });
      }
      return out;
    } catch {
      return [];
    }
  }
}
