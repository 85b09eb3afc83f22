/**
 * Reading any profile luaprof understands: speedscope JSON (its own canonical file, or one
 * written by another tool), folded stacks, and pprof. The format is recognised from the content,
 * not the extension.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Profile } from '../aggregator/profile.js';
import { FoldedParseError, fromFolded } from './folded.js';
import { fromPprof } from './pprof.js';
import { SpeedscopeShapeError, fromSpeedscope, looksLikeSpeedscope } from './speedscope.js';

/** A profile file that cannot be read; the message is one line naming the file. */
export class ProfileFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProfileFormatError';
  }
}

export type InputFormat = 'speedscope' | 'folded' | 'pprof';

/** Reads and parses a profile file. Throws ProfileFormatError on unreadable or malformed input. */
export function readProfile(file: string): Profile {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
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

/** Parses profile bytes; `name` is used in error messages. */
export function parseProfile(buf: Buffer, name: string): Profile {
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
