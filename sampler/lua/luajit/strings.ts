/** LuaJIT strings (GCstr) and lj_debug_shortname. */
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr } from '../../os/memory.js';
import { MAX_STRING } from '../strings.js';
import type { LjLayout } from './layout.js';

export function readGCstr(mem: Memory, l: LjLayout, addr: number, maxLen = MAX_STRING): string | null {
  if (!isPlausiblePtr(addr)) return null;
  const h = mem.read(addr, l.str.size);
  if (!h || h[9] !== l.gct.str) return null;
  const len = h.readUInt32LE(l.str.len);
  const n = Math.min(len, maxLen);
  if (n === 0) return '';
  const b = mem.read(addr + l.str.size, n);
  return b ? b.toString('latin1') : null;
}

const LUA_IDSIZE = 60;

/** lj_debug_shortname */
export function shortName(src: string, firstline: number): string {
  if (src.startsWith('=')) return src.slice(1, LUA_IDSIZE);
  if (src.startsWith('@')) {
    const len = src.length - 1;
    if (len >= LUA_IDSIZE) return '...' + src.slice(1 + len - (LUA_IDSIZE - 4));
    return src.slice(1);
  }
  let len = 0;
  for (; len < LUA_IDSIZE - 12; len++) if (len >= src.length || src.charCodeAt(len) < 32) break;
  const builtin = firstline === -1;
  let out = builtin ? '[builtin:' : '[string "';
  if (len < src.length) {
    if (len > LUA_IDSIZE - 15) len = LUA_IDSIZE - 15;
    out += src.slice(0, len) + '...';
  } else {
    out += src;
  }
  return out + (builtin ? ']' : '"]');
}
