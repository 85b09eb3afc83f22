/**
 * Names for an interpreter's code where its object has no symbols for it (LuaJIT's VM in a stripped
 * libluajit): the runtime says where its entry points are (read from the process, e.g. LuaJIT's
 * dispatch table), the .eh_frame FDE that covers them says where the code begins and ends. A pc is
 * named only when both agree: by the entry whose [start, end) holds it, else by the region's name.
 */
import type { Module } from './modules.js';

/** Entry points of an interpreter's code, absolute addresses, as the runtime reports them. */
export interface InterpreterCode {
  /** Named ranges [start, end), ascending and disjoint. */
  entries: readonly { start: number; end: number; name: string }[];
  /** Name of any other pc inside the FDE that covers the entries ("lj_vm (interpreter)"). */
  region: string;
  /** The first entry is where the region's code begins (LuaJIT: the first handler is lj_vm_asm_begin). */
  startsRegion?: boolean;
  /** Name of the FDE that begins where the region's FDE ends, when the runtime emits one (lj_vm_ffi_call). */
  tail?: string;
}

export interface InterpreterName {
  name: string;
  /** Absolute start of the named code (entry or FDE). */
  start: number;
}

/** The named code of one interpreter, checked against the FDEs of the module it lies in. */
export class InterpreterNames {
  private constructor(
    private readonly code: InterpreterCode,
    /** Absolute bounds of the region FDE and of the tail FDE (empty when none). */
    private readonly region: { start: number; end: number },
    private readonly tail: { start: number; end: number },
  ) {}

  /**
   * Checks the entries against the module's FDEs: all of them must lie in the one FDE that covers the
   * first. Returns null when they do not (another build, a torn read): nothing is named then.
   */
  static check(code: InterpreterCode, mod: Module, bias: number): InterpreterNames | null {
    const eh = mod.ehFrame();
    if (!eh || code.entries.length === 0) return null;
    const first = code.entries[0].start;
    const fde = eh.findFde(first - bias);
    if (!fde) return null;
    const region = { start: fde.start + bias, end: fde.end + bias };
    if (code.startsRegion && region.start !== first) return null;
    let prevEnd = region.start;
    for (const e of code.entries) {
      if (e.start < prevEnd || e.end <= e.start || e.end > region.end) return null;
      prevEnd = e.end;
    }
    let tail = { start: 0, end: 0 };
    if (code.tail) {
      const next = eh.findFde(fde.end);
      if (next && next.start === fde.end) tail = { start: next.start + bias, end: next.end + bias };
    }
    return new InterpreterNames(code, region, tail);
  }

  /** Absolute address of the first byte of the region: a pc the region's unwind rule holds at. */
  get regionStart(): number {
    return this.region.start;
  }

  /** The name of the code at an absolute lookup address (pc, or pc-1 for a return address). */
  nameAt(addr: number): InterpreterName | null {
    if (addr >= this.tail.start && addr < this.tail.end)
      return { name: this.code.tail!, start: this.tail.start };
    if (addr < this.region.start || addr >= this.region.end) return null;
    const es = this.code.entries;
    let lo = 0;
    let hi = es.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (es[mid].start <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    const e = hi >= 0 ? es[hi] : null;
    if (e && addr < e.end) return { name: e.name, start: e.start };
    return { name: this.code.region, start: this.region.start };
  }
}
