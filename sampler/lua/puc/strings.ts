/** PUC Lua strings (TString) read out of the target. */
import type { Memory } from '../../os/memory.js';
import { u64 } from '../../os/memory.js';
import { MAX_STRING } from '../strings.js';
import type { PucLayout } from './layout.js';

/** Reads a TString (PUC Lua), bounded; null when the object does not look like a string. */
export function readTString(
  mem: Memory,
  addr: number,
  layout: PucLayout,
  maxLen = MAX_STRING,
): string | null {
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
