/**
 * Finding a PUC Lua main thread (lua_State) in a live process: candidate pointers from the writable
 * data of the Lua binary (e.g. lua.c's `globalL`), from registers and from stack words, each checked as
 * a thread whose global_State points back at the main thread.
 */
import type { Memory } from '../os/memory.js';
import { isPlausiblePtr, readMany, u64 } from '../os/memory.js';
import type { MapEntry } from '../os/procfs.js';
import type { PucLayout } from './layout.js';
import { PucCapture } from './puc/capture.js';

export interface MainState {
  L: number;
  G: number;
  /** Where the pointer was found ("data", "register", "stack"). */
  source: string;
}

const MAX_SEGMENT = 32 << 20;

function inWritable(maps: MapEntry[], p: number): boolean {
  for (const m of maps) if (p >= m.start && p < m.end) return m.perms.startsWith('rw');
  return false;
}

/** Validates a candidate lua_State (main or coroutine); returns the main thread of its global state. */
export function validateState(mem: Memory, layout: PucLayout, L: number): { L: number; G: number } | null {
  const cap = new PucCapture(layout);
  const hdr = cap.readThread(mem, L);
  if (!hdr) return null;
  const G = u64(hdr, layout.state.l_G);
  const mb = mem.read(G + layout.global.mainthread, 8);
  if (!mb) return null;
  const main = u64(mb, 0);
  const mainHdr = cap.readThread(mem, main, G);
  if (!mainHdr) return null;
  // The main thread lives in one block with its global_State (LG); the CallInfo chain must end at base_ci.
  if (G !== main + layout.state.size && G !== main + layout.state.size + 8) return null;
  if (!chainReachesBase(mem, layout, main, mainHdr)) return null;
  return { L: main, G };
}

function chainReachesBase(mem: Memory, layout: PucLayout, L: number, hdr: Buffer): boolean {
  const ci = layout.callinfo;
  const s = layout.state;
  let at = u64(hdr, s.ci);
  if (s.baseCiIsPointer) {
    // 5.1: CallInfo array [base_ci, end_ci); ci points at an element of it.
    const base = u64(hdr, s.base_ci);
    const end = s.end_ci !== undefined ? u64(hdr, s.end_ci) : at + ci.size;
    return isPlausiblePtr(base) && at >= base && at < end && (at - base) % ci.size === 0 && end - base <= ci.size * 1_000_000;
  }
  const base = L + s.base_ci;
  if (ci.previous === undefined) return false;
  for (let i = 0; i < 100_000; i++) {
    if (at === base) return true;
    if (!isPlausiblePtr(at)) return false;
    const b = mem.read(at + ci.previous, 8);
    if (!b) return false;
    at = u64(b, 0);
  }
  return false;
}

/** Pointer-sized words of a buffer that point into writable memory, deduplicated, in order. */
function pointerWords(buf: Buffer, maps: MapEntry[], out: Set<number>, limit: number): void {
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

export function locateMainState(
  mem: Memory,
  layout: PucLayout,
  maps: MapEntry[],
  binaries: string[],
  extra: { registers?: number[]; stack?: Buffer } = {},
): MainState | null {
  const tryAll = (cands: Iterable<number>, source: string): MainState | null => {
    const list = [...cands];
    // One batched read screens out most candidates by the thread tag before full validation.
    const heads = readMany(mem, list.map((addr) => ({ addr, len: 16 })));
    for (let i = 0; i < list.length; i++) {
      const h = heads[i];
      if (!h || (h[layout.state.tt] & 0x3f) !== (layout.tags.thread & 0x0f)) continue;
      const v = validateState(mem, layout, list[i]);
      if (v) return { ...v, source };
    }
    return null;
  };
  for (const seg of dataSegments(maps, binaries)) {
    const len = Math.min(seg.end - seg.start, MAX_SEGMENT);
    const buf = mem.read(seg.start, len);
    if (!buf) continue;
    const cands = new Set<number>();
    pointerWords(buf, maps, cands, 1 << 20);
    const found = tryAll(cands, 'data');
    if (found) return found;
  }
  if (extra.registers) {
    const found = tryAll(extra.registers.filter((r) => isPlausiblePtr(r) && inWritable(maps, r)), 'register');
    if (found) return found;
  }
  if (extra.stack) {
    const cands = new Set<number>();
    pointerWords(extra.stack, maps, cands, 1 << 16);
    const found = tryAll(cands, 'stack');
    if (found) return found;
  }
  return null;
}
