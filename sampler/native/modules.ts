/**
 * The objects mapped into a target process: which ELF file backs each executable mapping, its load
 * bias, and (lazily) its .eh_frame tables. Shared by the unwinder and the symbolizer.
 */
import * as path from 'node:path';
import { elfFromImage, loadElf, type LoadedElf } from '../elf/loader.js';
import { PT_GNU_EH_FRAME, PT_LOAD, type ElfFile } from '../elf/elf.js';
import type { Memory } from '../os/memory.js';
import { findMapping, readMaps, type Mapping } from '../os/maps.js';
import { Cursor } from './dwarf.js';
import { EhFrame } from './ehframe.js';

export interface Module {
  /** Path as the target sees it, or "[vdso]". */
  path: string;
  /** Basename, for labels like "lua5.4+0x1a2b0". */
  name: string;
  loaded: LoadedElf;
  /** runtime address = ELF vaddr + bias (of the executable mapping). */
  bias: number;
  ehFrame(): EhFrame | null;
}

interface Entry {
  map: Mapping;
  /** undefined until first looked up (objects are read lazily), null when unusable. */
  mod: Module | null | undefined;
  bias: number;
  /** Cached result object of lookup(). */
  hit: { mod: Module; bias: number; map: Mapping } | null;
}

/** Builds the EhFrame of an ELF image from its sections, or from PT_GNU_EH_FRAME without them. */
export function ehFrameOf(elf: ElfFile): EhFrame | null {
  try {
    const ehSec = elf.section('.eh_frame');
    const hdrSec = elf.section('.eh_frame_hdr');
    const ehData = elf.sectionData(ehSec);
    if (ehSec && ehData && ehData.length > 0) {
      const hdrData = elf.sectionData(hdrSec);
      return new EhFrame({
        ehFrame: ehData,
        ehFrameVaddr: ehSec.addr,
        hdr: hdrData,
        hdrVaddr: hdrSec ? hdrSec.addr : 0,
      });
    }
    const ph = elf.segments.find((p) => p.type === PT_GNU_EH_FRAME);
    if (!ph) return null;
    const hdr = elf.readVaddr(ph.vaddr, ph.filesz);
    if (!hdr || hdr.length < 8) return null;
    const c = new Cursor(hdr, 4, hdr.length);
    const ehVaddr = c.encoded(hdr[1], ph.vaddr, ph.vaddr);
    const seg = elf.segments.find(
      (p) => p.type === PT_LOAD && ehVaddr >= p.vaddr && ehVaddr < p.vaddr + p.filesz,
    );
    if (!seg) return null;
    const eh = elf.readVaddr(ehVaddr, seg.vaddr + seg.filesz - ehVaddr);
    if (!eh) return null;
    return new EhFrame({ ehFrame: eh, ehFrameVaddr: ehVaddr, hdr, hdrVaddr: ph.vaddr });
  } catch {
    return null;
  }
}

export class ProcessModules {
  maps: Mapping[] = [];
  private entries: Entry[] = [];
  private readonly modules = new Map<string, Module>();
  private signature = '';
  lastRefresh = 0;
  /** Bumped whenever the executable mappings change. */
  generation = 0;

  constructor(
    readonly pid: number,
    readonly mem: Memory,
    maps?: Mapping[],
  ) {
    if (maps) this.setMaps(maps);
    else this.refresh();
  }

  /** Re-reads /proc/PID/maps. Returns true when the set of mappings changed. */
  refresh(): boolean {
    this.lastRefresh = Date.now();
    const maps = readMaps(this.pid);
    if (!maps) return false;
    return this.setMaps(maps);
  }

  /**
   * Installs a mapping list (e.g. recorded). Returns true when the executable mappings changed (a
   * library was loaded or unloaded): then `generation` is bumped and per-pc caches keyed on it are
   * dropped. Changes of data mappings only (heap growth, anonymous mmaps) keep the caches.
   */
  setMaps(maps: Mapping[]): boolean {
    this.maps = maps.slice().sort((a, b) => a.start - b.start);
    const sig = this.maps
      .filter((m) => m.executable)
      .map((m) => `${m.start}-${m.end}-${m.offset}-${m.inode}-${m.path}`)
      .join('\n');
    if (sig === this.signature && this.entries.length) return false;
    this.signature = sig;
    this.generation++;
    this.entries = [];
    for (const m of this.maps) {
      if (m.executable) this.entries.push({ map: m, mod: undefined, bias: 0, hit: null });
    }
    return true;
  }

  private moduleFor(m: Mapping): Module | null {
    if (m.path === '[vdso]') {
      const key = `[vdso]@${m.start}`;
      const hit = this.modules.get(key);
      if (hit) return hit;
      const size = m.end - m.start;
      if (size <= 0 || size > 1 << 20) return null;
      const img = this.mem.read(m.start, size);
      if (!img) return null;
      const loaded = elfFromImage('[vdso]', Buffer.from(img));
      if (!loaded) return null;
      const mod = makeModule('[vdso]', loaded, m.start - loaded.elf.baseVaddr());
      this.modules.set(key, mod);
      return mod;
    }
    if (!m.path.startsWith('/')) return null;
    const key = `${m.path}#${m.inode}`;
    const hit = this.modules.get(key);
    if (hit) return hit;
    const loaded = loadElf(m.path, this.pid, {
      inode: m.inode,
      extra:
        this.pid > 0
          ? `/proc/${this.pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`
          : undefined,
    });
    if (!loaded) return null;
    const mod = makeModule(m.path, loaded, loaded.elf.biasFor(m.start, m.offset));
    this.modules.set(key, mod);
    return mod;
  }

  mappingAt(addr: number): Mapping | null {
    return findMapping(this.maps, addr);
  }

  /** The module and bias for an address in an executable, file-backed (or vdso) mapping. */
  lookup(addr: number): { mod: Module; bias: number; map: Mapping } | null {
    const ents = this.entries;
    let lo = 0;
    let hi = ents.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = ents[mid].map;
      if (addr < m.start) hi = mid - 1;
      else if (addr >= m.end) lo = mid + 1;
      else {
        const e = ents[mid];
        if (e.mod === undefined) {
          const mod = this.moduleFor(e.map);
          e.mod = mod;
          if (mod) {
            e.bias = mod.path === '[vdso]' ? mod.bias : mod.loaded.elf.biasFor(e.map.start, e.map.offset);
            e.hit = { mod, bias: e.bias, map: e.map };
          }
        }
        return e.hit;
      }
    }
    return null;
  }

  isExecutable(addr: number): boolean {
    const m = findMapping(this.maps, addr);
    return !!m && m.executable;
  }
}

function makeModule(p: string, loaded: LoadedElf, bias: number): Module {
  let eh: EhFrame | null | undefined;
  return {
    path: p,
    name: path.basename(p),
    loaded,
    bias,
    ehFrame() {
      if (eh === undefined) eh = ehFrameOf(loaded.elf);
      return eh;
    },
  };
}
