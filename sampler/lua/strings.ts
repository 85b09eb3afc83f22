/** Reading Lua strings out of the target, and Lua's own formatting of chunk names. */
import type { Memory } from '../os/memory.js';
import { u64 } from '../os/memory.js';
import type { PucLayout } from './layout.js';

/** Names and sources longer than this are cut: they only label frames. */
export const MAX_STRING = 4096;

/** Reads a TString (PUC Lua), bounded; null when the object does not look like a string. */
export function readTString(mem: Memory, addr: number, layout: PucLayout, maxLen = MAX_STRING): string | null {
  const ts = layout.tstring;
  const head = mem.read(addr, ts.contents);
  if (!head) return null;
  const tt = head[layout.state.tt] & 0x3f;
  const shortTag = layout.tags.shortString & 0x3f;
  const longTag = layout.tags.longString & 0x3f;
  if (tt !== shortTag && tt !== longTag) return null;
  let len: number;
  if (ts.shrlen !== undefined) {
    const shr = head[ts.shrlen];
    const isLong = ts.longMarker !== undefined ? shr === ts.longMarker : tt === longTag;
    len = isLong ? u64(head, ts.len) : shr;
  } else {
    len = u64(head, ts.len);
  }
  if (len < 0) return null;
  const n = Math.min(len, maxLen);
  if (n === 0) return '';
  const body = mem.read(addr + ts.contents, n);
  return body ? body.toString('latin1') : null;
}

const LUA_IDSIZE = 60;

/** luaO_chunkid: the short_src that tracebacks and error messages print. */
export function chunkId(source: string): string {
  if (source.startsWith('=')) {
    return source.length - 1 <= LUA_IDSIZE - 1 ? source.slice(1) : source.slice(1, LUA_IDSIZE);
  }
  if (source.startsWith('@')) {
    if (source.length <= LUA_IDSIZE) return source.slice(1);
    const keep = LUA_IDSIZE - 3 - 1;
    return '...' + source.slice(source.length - keep);
  }
  const room = LUA_IDSIZE - '[string "..."]'.length - 1;
  const nl = source.indexOf('\n');
  if (source.length < room && nl < 0) return `[string "${source}"]`;
  let n = nl >= 0 ? nl : source.length;
  if (n > room) n = room;
  return `[string "${source.slice(0, n)}..."]`;
}
