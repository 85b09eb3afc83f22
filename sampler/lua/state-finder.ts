/**
 * Finding a Lua state in a live process, for every runtime: candidate pointers from the writable data
 * of the Lua binaries (e.g. lua.c's `globalL`, luajit.c's), from the registers and from the stack words
 * of a stopped thread. What makes a candidate a state is the runtime's to check.
 */
import type { Memory } from '../os/memory.js';
import { isPlausiblePtr, u64 } from '../os/memory.js';
import type { MapEntry } from '../os/procfs.js';

const MAX_SEGMENT = 32 << 20;

/** The pointer falls in a writable mapping (maps sorted by address, as /proc lists them). */
export function inWritable(maps: readonly MapEntry[], p: number): boolean {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = maps[mid];
    if (p < m.start) hi = mid - 1;
    else if (p >= m.end) lo = mid + 1;
    else return m.perms.startsWith('rw');
  }
  return false;
}

/** Pointer-sized words of a buffer that point into writable memory, deduplicated, in order. */
export function pointerWords(buf: Buffer, maps: readonly MapEntry[], out: Set<number>, limit: number): void {
  for (let off = 0; off + 8 <= buf.length && out.size < limit; off += 8) {
    const p = u64(buf, off);
    if (isPlausiblePtr(p) && !out.has(p) && inWritable(maps, p)) out.add(p);
  }
}

/** The executable's (and Lua libraries') writable segments, plus the anonymous .bss right after them. */
export function dataSegments(maps: MapEntry[], binaries: string[]): MapEntry[] {
  const out: MapEntry[] = [];
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i];
    if (!binaries.includes(m.path)) continue;
    if (m.perms.startsWith('rw')) out.push(m);
    const next = maps[i + 1];
    if (next && next.path === '' && next.start === m.end && next.perms.startsWith('rw')) out.push(next);
  }
  return out;
}

/** Where candidates come from besides the binaries' data: a stopped thread's registers and stack. */
export interface StateSources {
  registers?: number[];
  stack?: Buffer;
}

/**
 * Offers `check` the candidates of each source in turn (data segments, registers, stack words; the
 * source named "data", "register", "stack") and returns the first state it accepts.
 */
export function findState<T>(
  mem: Memory,
  maps: MapEntry[],
  binaries: string[],
  extra: StateSources,
  check: (candidates: number[], source: string) => T | null,
): T | null {
  for (const seg of dataSegments(maps, binaries)) {
    const buf = mem.read(seg.start, Math.min(seg.end - seg.start, MAX_SEGMENT));
    if (!buf) continue;
    const cands = new Set<number>();
    pointerWords(buf, maps, cands, 1 << 20);
    const found = check([...cands], 'data');
    if (found) return found;
  }
  if (extra.registers) {
    const cands = new Set(extra.registers.filter((r) => isPlausiblePtr(r) && inWritable(maps, r)));
    const found = check([...cands], 'register');
    if (found) return found;
  }
  if (extra.stack) {
    const cands = new Set<number>();
    pointerWords(extra.stack, maps, cands, 1 << 16);
    const found = check([...cands], 'stack');
    if (found) return found;
  }
  return null;
}
