/**
 * Text that came from a target (chunk names, function names, string values) made inert for a
 * terminal: every control character (C0, DEL, C1) and every byte that is not valid UTF-8 becomes a
 * visible escape, so a hostile name can neither move the cursor, clear the screen nor retitle the
 * window. The one place terminal output is escaped: dump, top, summaries and error lines use it.
 */

/** Escape of one control character or raw byte: \n, \t, \r, \\ … or \xNN. */
function escapeCode(c: number): string {
  switch (c) {
    case 0x0a:
      return '\\n';
    case 0x09:
      return '\\t';
    case 0x0d:
      return '\\r';
    default:
      return `\\x${c.toString(16).padStart(2, '0')}`;
  }
}

const isControl = (c: number) => c < 0x20 || (c >= 0x7f && c <= 0x9f);

/** A JS string with its control characters (C0, DEL, C1) and lone surrogates escaped. */
export function inert(s: string): string {
  let out = '';
  let plainFrom = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (isControl(c)) esc = escapeCode(c);
    else if (c >= 0xd800 && c <= 0xdfff) {
      const pair =
        c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
      if (pair) {
        i++;
        continue;
      }
      esc = `\\u${c.toString(16)}`;
    }
    if (esc === null) continue;
    out += s.slice(plainFrom, i) + esc;
    plainFrom = i + 1;
  }
  return plainFrom === 0 ? s : out + s.slice(plainFrom);
}

/** Length of the valid UTF-8 sequence (2-4 bytes, no overlong forms or surrogates) at i, or 0. */
function utf8Length(b: Uint8Array, i: number): number {
  const c = b[i];
  const cont = (k: number) => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const n = b[i + 1];
    if ((c === 0xe0 && n < 0xa0) || (c === 0xed && n >= 0xa0)) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const n = b[i + 1];
    if ((c === 0xf0 && n < 0x90) || (c === 0xf4 && n >= 0x90)) return 0;
    return 4;
  }
  return 0;
}

/**
 * Raw bytes as inert text: printable ASCII and valid UTF-8 (without C1 controls) as they are,
 * anything else escaped; `quote` also escapes `"` and `\` (for a quoted string value).
 */
export function inertBytes(b: Uint8Array, quote = false): string {
  let out = '';
  for (let i = 0; i < b.length;) {
    const c = b[i];
    if (c < 0x80) {
      if (isControl(c)) out += escapeCode(c);
      else if (quote && (c === 0x22 || c === 0x5c)) out += `\\${String.fromCharCode(c)}`;
      else out += String.fromCharCode(c);
      i++;
      continue;
    }
    const n = utf8Length(b, i);
    const ch = n ? Buffer.from(b.subarray(i, i + n)).toString('utf8') : '';
    if (n && !isControl(ch.codePointAt(0)!)) {
      out += ch;
      i += n;
    } else {
      out += escapeCode(c);
      i++;
    }
  }
  return out;
}

/** Text read from a target as latin1 (one char per byte): its bytes made inert as UTF-8 would show them. */
export function inertLatin1(s: string): string {
  // The fast path: nothing to escape.
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  // eslint-disable-next-line no-control-regex -- characters past one byte: not a byte string
  if (/[^\x00-\xff]/.test(s)) return inert(s);
  return inertBytes(Buffer.from(s, 'latin1'));
}

/**
 * JSON text with DEL and the C1 controls written as \u escapes too (JSON.stringify escapes only C0):
 * the same data for a parser, inert on a terminal.
 */
export function inertJson(json: string): string {
  return json.replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
