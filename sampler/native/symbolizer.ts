/**
 * pc → module, function name and offset. Symbols come from the separate debug file when one is
 * installed (by build-id or debuglink), else .symtab, else .dynsym. Function bounds come from
 * symbol sizes and from .eh_frame FDE ranges: a pc inside an FDE that no symbol covers is an unnamed
 * function and prints as `module+0x<function start>` instead of borrowing the nearest exported name,
 * unless the build is one whose hidden functions are known by build-id (known-functions.ts).
 */
import * as path from 'node:path';
import type { Memory } from '../os/memory.js';
import type { Mapping } from '../os/maps.js';
import { STT_FUNC, STT_GNU_IFUNC, type ElfFile, type ElfSymbol } from '../elf/elf.js';
import { demangle } from './demangle.js';
import { knownFunction } from './known-functions.js';
import { ProcessModules, type Module } from './modules.js';

export interface SymbolInfo {
  /** Path of the mapped object ("[vdso]", or "" when the pc is in no known object). */
  module: string;
  /** Function name, demangled; absent for unnamed functions. */
  name?: string;
  /** The raw (mangled) symbol name when it differs from name. */
  mangled?: string;
  /** Absolute address of the function start (symbol or FDE), when known. */
  start?: number;
  /** pc - start when start is known; otherwise pc relative to the module (ELF vaddr) or the raw pc. */
  offset: number;
  /** ELF vaddr (module-relative address) of the function start, or of the pc when start is unknown. */
  moduleOffset?: number;
  /** Ready-to-print frame label: name, or "basename+0x<function start>", or "0x<pc>". */
  label: string;
}

interface SymTable {
  starts: Float64Array;
  ends: Float64Array;
  names: string[];
}

const BIND_RANK = [1, 0, 2]; // LOCAL 1, GLOBAL 0 (best), WEAK 2

function buildTable(syms: ElfSymbol[]): SymTable {
  const funcs = syms.filter(
    (s) => (s.type === STT_FUNC || s.type === STT_GNU_IFUNC) && s.value > 0 && s.shndx !== 0,
  );
  // Prefer, among aliases at one address: global over local over weak, then the shorter name.
  funcs.sort(
    (a, b) =>
      a.value - b.value ||
      (BIND_RANK[a.bind] ?? 3) - (BIND_RANK[b.bind] ?? 3) ||
      a.name.length - b.name.length ||
      (a.name < b.name ? -1 : 1),
  );
  const dedup: ElfSymbol[] = [];
  for (const s of funcs) {
    const prev = dedup[dedup.length - 1];
    if (prev && prev.value === s.value) {
      if (prev.size === 0 && s.size > 0) prev.size = s.size;
      continue;
    }
    dedup.push({ ...s });
  }
  return {
    starts: Float64Array.from(dedup.map((s) => s.value)),
    ends: Float64Array.from(dedup.map((s) => s.value + s.size)),
    // Versioned names in .symtab ("__libc_start_main@@GLIBC_2.34") print without the version.
    names: dedup.map((s) => {
      const at = s.name.indexOf('@');
      return at > 0 ? s.name.slice(0, at) : s.name;
    }),
  };
}

function tableFor(elf: ElfFile, debug: ElfFile | null): SymTable {
  if (debug) {
    const t = debug.symtab();
    if (t.length) return buildTable(t);
  }
  const st = elf.symtab();
  if (st.length) return buildTable(st);
  return buildTable(elf.dynsym());
}

export class Symbolizer {
  readonly modules: ProcessModules;
  private readonly tables = new Map<Module, SymTable>();
  private readonly cache = new Map<number, SymbolInfo>();
  private generation = -1;

  constructor(
    readonly pid: number,
    readonly mem: Memory,
    opts: { maps?: Mapping[]; modules?: ProcessModules } = {},
  ) {
    this.modules = opts.modules ?? new ProcessModules(pid, mem, opts.maps);
  }

  refreshMaps(): void {
    this.modules.refresh();
  }

  private table(mod: Module): SymTable {
    let t = this.tables.get(mod);
    if (!t) {
      try {
        t = tableFor(mod.loaded.elf, mod.loaded.debug());
      } catch {
        t = { starts: new Float64Array(0), ends: new Float64Array(0), names: [] };
      }
      this.tables.set(mod, t);
    }
    return t;
  }

  /**
   * Symbolizes pc. For return addresses (every frame but the innermost and those interrupted by a
   * signal) pass isReturnAddress so the call site (pc-1) decides the function: a call that is the
   * last instruction of a function returns to the first byte of the next one.
   */
  symbolize(pc: number, isReturnAddress = false): SymbolInfo {
    if (this.generation !== this.modules.generation) {
      this.generation = this.modules.generation;
      this.cache.clear();
    }
    const key = isReturnAddress ? -pc : pc;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let info: SymbolInfo;
    try {
      info = this.compute(pc, isReturnAddress ? pc - 1 : pc);
    } catch {
      info = { module: '', offset: pc, label: `0x${pc.toString(16)}` };
    }
    if (this.cache.size > 500_000) this.cache.clear();
    this.cache.set(key, info);
    return info;
  }

  /**
   * Symbolizes an unwound stack: return addresses are looked up at pc-1, except for frame 0, signal
   * trampolines (their pc is the trampoline's first byte) and the frame a signal interrupted.
   */
  symbolizeFrames(frames: readonly { pc: number; signal?: boolean }[]): SymbolInfo[] {
    return frames.map((f, i) => this.symbolize(f.pc, i > 0 && !f.signal && !frames[i - 1].signal));
  }

  private compute(pc: number, lookup: number): SymbolInfo {
    const l = this.modules.lookup(lookup);
    if (!l) return { module: '', offset: pc, label: `0x${pc.toString(16)}` };
    const { mod, bias } = l;
    const v = lookup - bias;
    const base = path.basename(mod.path);
    // Symbol covering v.
    const t = this.table(mod);
    let name: string | undefined;
    let symStart = -1;
    const s = t.starts;
    let lo = 0;
    let hi = s.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid] <= v) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    for (let i = best, n = 0; i >= 0 && n < 8; i--, n++) {
      if (v < t.ends[i]) {
        name = t.names[i];
        symStart = s[i];
        break;
      }
    }
    // FDE bounds.
    const eh = mod.ehFrame();
    const fde = eh ? eh.findFde(v) : null;
    if (name === undefined && best >= 0 && t.starts[best] === t.ends[best]) {
      // Size-0 symbol (hand-written assembly like __restore_rt): accept it only when it lies inside
      // the FDE that covers v, so it cannot be an exported name borrowed from another function.
      if (fde && t.starts[best] >= fde.start) {
        name = t.names[best];
        symStart = t.starts[best];
      }
    }
    if (name === undefined && fde) {
      // A function the build hides but whose place is known for this build-id (known-functions.ts).
      const known = knownFunction(mod.loaded.buildId, fde);
      if (known) {
        name = known.name;
        symStart = known.start;
      }
    }
    if (name !== undefined) {
      const d = demangle(name);
      return {
        module: mod.path,
        name: d,
        ...(d !== name ? { mangled: name } : {}),
        start: symStart + bias,
        offset: pc - (symStart + bias),
        moduleOffset: symStart,
        label: d,
      };
    }
    if (fde) {
      return {
        module: mod.path,
        start: fde.start + bias,
        offset: pc - (fde.start + bias),
        moduleOffset: fde.start,
        label: `${base}+0x${fde.start.toString(16)}`,
      };
    }
    return {
      module: mod.path,
      offset: pc - bias,
      moduleOffset: pc - bias,
      label: `${base}+0x${(pc - bias).toString(16)}`,
    };
  }
}
