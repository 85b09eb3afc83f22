/**
 * Reading any profile luaprof understands: speedscope JSON (its own canonical file, or one
 * written by another tool), folded stacks, and pprof. The format is recognised from the content,
 * not the extension.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
import type { Profile } from '../aggregator/profile.js';
import { FoldedParseError, fromFolded } from './folded.js';
import { fromPprof } from './pprof.js';
import { ProfileShapeError, checkedProfile } from './profile-check.js';
import { SpeedscopeShapeError, fromSpeedscope, looksLikeSpeedscope } from './speedscope.js';

/** Files larger than this are refused by their size, before they are read (`--max-input-size`). */
export const DEFAULT_MAX_INPUT_BYTES = 256 * 1024 * 1024;

/** A profile file that cannot be read; the message is one line naming the file. */
export class ProfileFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileFormatError';
  }
}

export type InputFormat = 'speedscope' | 'folded' | 'pprof';

/** "256 MB", "1.5 GB". */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * Reads and parses a profile file. Throws ProfileFormatError on unreadable or malformed input, and on
 * a file over `maxBytes` (checked on the open file, before a byte is read).
 */
export function readProfile(file: string, maxBytes = DEFAULT_MAX_INPUT_BYTES): Profile {
  let buf: Buffer;
  try {
    const fd = openSync(file, 'r');
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      if (st.size > maxBytes)
        throw new ProfileFormatError(
          `${file}: ${formatBytes(st.size)}, over the ${formatBytes(maxBytes)} limit for profiles (--max-input-size raises it)`,
        );
      buf = readBounded(fd, file, st.size, maxBytes);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    if (e instanceof ProfileFormatError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (e as Error).message;
    throw new ProfileFormatError(`${file}: cannot read (${why})`);
  }
  return parseProfile(buf, basename(file));
}

/** Reads the whole file, never more than `maxBytes` (a file that grows while read, a pipe). */
function readBounded(fd: number, file: string, size: number, maxBytes: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.max(64 * 1024, Math.min(size - total, 64 << 20)));
    const n = readSync(fd, chunk, 0, chunk.length, null);
    if (n === 0) break;
    total += n;
    if (total > maxBytes)
      throw new ProfileFormatError(
        `${file}: over the ${formatBytes(maxBytes)} limit for profiles (--max-input-size raises it)`,
      );
    chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

/**
 * Parses profile bytes; `name` is used in error messages. Whatever the format, the profile passes
 * one check of its types and references (profile-check.ts); a file too large or too deeply nested
 * for the parsers (RangeError: string length, call stack, buffer size) is a malformed profile too.
 */
export function parseProfile(buf: Buffer, name: string): Profile {
  let profile: Profile;
  try {
    profile = parseAnyFormat(buf, name);
    return checkedProfile(profile);
  } catch (e) {
    if (e instanceof ProfileFormatError) throw e;
    if (e instanceof ProfileShapeError)
      throw new ProfileFormatError(`${name}: malformed profile (${e.message})`);
    // A text past V8's longest string (~512 MB: an hour of a busy host as speedscope) is Node's own
    // ERR_STRING_TOO_LONG, not a RangeError.
    if (e instanceof RangeError || (e as NodeJS.ErrnoException)?.code === 'ERR_STRING_TOO_LONG')
      throw new ProfileFormatError(`${name}: too large or too deeply nested to read (${oneLine(e)})`);
    throw e;
  }
}

function parseAnyFormat(buf: Buffer, name: string): Profile {
  if (buf.length === 0) throw new ProfileFormatError(`${name}: empty file`);
  // gzip (pprof is gzipped protobuf)
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      return fromPprof(buf);
    } catch (e) {
      throw new ProfileFormatError(`${name}: not a readable pprof profile (${oneLine(e)})`);
    }
  }
  const text = buf.toString('utf8');
  const first = text.trimStart()[0];
  if (first === '{') {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new ProfileFormatError(`${name}: not a speedscope or folded profile (${jsonWhere(text, e)})`);
    }
    if (!looksLikeSpeedscope(doc))
      throw new ProfileFormatError(
        `${name}: JSON but not a speedscope profile (no "shared.frames"/"profiles")`,
      );
    try {
      return fromSpeedscope(doc);
    } catch (e) {
      if (e instanceof SpeedscopeShapeError)
        throw new ProfileFormatError(`${name}: malformed speedscope profile (${e.message})`);
      throw e;
    }
  }
  if (text.includes('\u0000')) {
    // Maybe an uncompressed pprof protobuf.
    try {
      return fromPprof(buf);
    } catch {
      throw new ProfileFormatError(`${name}: binary file that is not a speedscope, folded or pprof profile`);
    }
  }
  try {
    return fromFolded(text);
  } catch (e) {
    if (e instanceof FoldedParseError)
      throw new ProfileFormatError(`${name}: not a speedscope or folded profile (${e.message})`);
    throw e;
  }
}

function oneLine(e: unknown): string {
  return String(e instanceof Error ? e.message : e).split('\n')[0];
}

/** "invalid JSON at line 3" from a JSON.parse error (Node 20's messages carry no position). */
function jsonWhere(text: string, e: unknown): string {
  const msg = oneLine(e);
  let pos = -1;
  const m = /position (\d+)/.exec(msg);
  if (m) pos = Number(m[1]);
  else if (!/Unexpected end/i.test(msg) && text.length < 64 << 20) {
    // Smallest prefix that fails with something other than "unexpected end": the bad token ends it.
    let lo = 1;
    let hi = text.length;
    const badAt = (k: number): boolean => {
      try {
        JSON.parse(text.slice(0, k));
        return false;
      } catch (err) {
        const em = oneLine(err);
        const at = /position (\d+)/.exec(em);
        if (at) return Number(at[1]) < k;
        return !/Unexpected end|Unterminated/i.test(em);
      }
    };
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (badAt(mid)) hi = mid;
      else lo = mid + 1;
    }
    pos = lo - 1;
  }
  if (pos >= 0) {
    let line = 1;
    for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
    return `invalid JSON at line ${line}`;
  }
  if (/Unexpected end|Unterminated/i.test(msg)) return 'JSON ends early';
  return 'invalid JSON';
}
