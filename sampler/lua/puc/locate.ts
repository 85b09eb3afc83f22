/**
 * Finding a PUC Lua main thread (lua_State) in a live process: each candidate of the state finder
 * (binaries' data, registers, stack words) is checked as a thread whose global_State points back at
 * the main thread.
 */
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, readMany, u64 } from '../../os/memory.js';
import type { MapEntry } from '../../os/procfs.js';
import { findState, type StateSources } from '../state-finder.js';
import { PucCapture } from './capture.js';
import type { PucLayout } from './layout.js';

export interface MainState {
  L: number;
  G: number;
  /** Where the pointer was found ("data", "register", "stack"). */
  source: string;
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

/**
 * Links of a main thread's CallInfo chain followed one by one. A recursion 200,000 deep (5.2-5.4 allow
 * ~500,000) is a state, not a broken chain (the old bound, 100,000 links, made it "no Lua", exit 5),
 * and seconds of single reads: past these links, the embedded base_ci must end the chain (previous NULL).
 */
const MAX_CHAIN_LINKS = 4096;

function chainReachesBase(mem: Memory, layout: PucLayout, L: number, hdr: Buffer): boolean {
  const ci = layout.callinfo;
  const s = layout.state;
  let at = u64(hdr, s.ci);
  if (s.baseCiIsPointer) {
    // 5.1: CallInfo array [base_ci, end_ci); ci points at an element of it.
    const base = u64(hdr, s.base_ci);
    const end = s.end_ci !== undefined ? u64(hdr, s.end_ci) : at + ci.size;
    return (
      isPlausiblePtr(base) &&
      at >= base &&
      at < end &&
      (at - base) % ci.size === 0 &&
      end - base <= ci.size * 1_000_000
    );
  }
  const base = L + s.base_ci;
  if (ci.previous === undefined) return false;
  for (let i = 0; i < MAX_CHAIN_LINKS; i++) {
    if (at === base) return true;
    if (!isPlausiblePtr(at)) return false;
    const b = mem.read(at + ci.previous, 8);
    if (!b) return false;
    at = u64(b, 0);
  }
  const baseLink = mem.read(base + ci.previous, 8);
  return baseLink !== null && u64(baseLink, 0) === 0;
}

export function locateMainState(
  mem: Memory,
  layout: PucLayout,
  maps: MapEntry[],
  binaries: string[],
  extra: StateSources = {},
): MainState | null {
  const tryAll = (list: number[], source: string): MainState | null => {
    // One batched read screens out most candidates by the thread tag before full validation.
    const heads = readMany(
      mem,
      list.map((addr) => ({ addr, len: 16 })),
    );
    for (let i = 0; i < list.length; i++) {
      const h = heads[i];
      if (!h || (h[layout.state.tt] & 0x3f) !== (layout.tags.thread & 0x0f)) continue;
      const v = validateState(mem, layout, list[i]);
      if (v) return { ...v, source };
    }
    return null;
  };
  return findState(mem, maps, binaries, extra, tryAll);
}
