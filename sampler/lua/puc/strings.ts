/** PUC Lua strings (TString) read out of the target. */
import type { Memory } from '../../os/memory.js';
import { readMany, u64 } from '../../os/memory.js';
import { MAX_STRING } from '../strings.js';
import type { PucLayout } from './layout.js';

/** Reads a TString (PUC Lua), bounded; null when the object does not look like a string. */
export function readTString(
  mem: Memory,
  addr: number,
  layout: PucLayout,
  maxLen = MAX_STRING,
): string | null {
  const head = mem.read(addr, layout.tstring.contents);
  if (!head) return null;
  const len = stringLength(head, layout);
  if (len === null) return null;
  const n = Math.min(len, maxLen);
  if (n === 0) return '';
  const body = mem.read(addr + layout.tstring.contents, n);
  return body ? body.toString('latin1') : null;
}

/** Bytes read with each header in readTStrings: most names (table keys, identifiers) fit. */
const BODY_GUESS = 40;

/**
 * Many TStrings at once: headers and the first bytes of each body in one batch, the rest of the longer
 * ones in a second. Same answers as readTString, in far fewer system calls (a global-names walk reads
 * hundreds of keys while a process is being attached).
 */
export function readTStrings(
  mem: Memory,
  addrs: readonly number[],
  layout: PucLayout,
  maxLen = MAX_STRING,
): (string | null)[] {
  const contents = layout.tstring.contents;
  const guess = Math.min(BODY_GUESS, maxLen);
  const firsts = readMany(
    mem,
    addrs.map((addr) => ({ addr, len: contents + guess })),
  );
  const out: (string | null)[] = new Array(addrs.length).fill(null);
  const rest: { i: number; n: number }[] = [];
  firsts.forEach((b, i) => {
    if (!b) {
      // The guessed body may run past the end of a mapping: read it as the single reader would.
      out[i] = readTString(mem, addrs[i], layout, maxLen);
      return;
    }
    const len = stringLength(b, layout);
    if (len === null) return;
    const n = Math.min(len, maxLen);
    if (n <= guess) out[i] = b.toString('latin1', contents, contents + n);
    else rest.push({ i, n });
  });
  const bodies = readMany(
    mem,
    rest.map((r) => ({ addr: addrs[r.i] + contents, len: r.n })),
  );
  rest.forEach((r, k) => (out[r.i] = bodies[k]?.toString('latin1') ?? null));
  return out;
}

/** The length a TString header gives, or null when the header is not a string's. */
function stringLength(head: Buffer, layout: PucLayout): number | null {
  const ts = layout.tstring;
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
  return len < 0 ? null : len;
}
