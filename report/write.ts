/**
 * Writing a profile in any output format, atomically (temp file + rename). The output path is
 * checked before a recording starts (checkOutputPath, in output-path.ts); a write that still fails at
 * the end puts the profile in the temp directory instead (writeProfileOrFallback): what was recorded
 * is never lost. A stream (`-`, a pipe, a terminal, /dev/stdout, /dev/null) is written in place: a
 * temp file renamed over /dev/stdout would replace the device link itself. A reader that closed its
 * end (`| head -1`) took what it wanted: that EPIPE is not a failure (isClosedPipe).
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Profile } from '../aggregator/profile.js';
import { toFolded } from './folded.js';
import { renderFlamegraphHtml } from './html.js';
import { toPprof } from './pprof.js';
import { speedscopeParts, toSpeedscope } from './speedscope.js';
import {
  fsReason,
  isClosedPipe,
  isStream,
  OutputWriteError,
  STDOUT,
  type OutputFormat,
} from './output-path.js';

export {
  OUTPUT_FORMATS,
  OutputWriteError,
  STDOUT,
  checkOutputPath,
  fsReason,
  inferFormat,
  isClosedPipe,
  parseFormat,
  type OutputFormat,
} from './output-path.js';

/** Where a profile goes when its own path fails at the end: the temp directory, a name of its own. */
export function fallbackPath(file: string, dir = tmpdir()): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const name = basename(file).replace(/[^\w.-]+/g, '_') || 'profile';
  return join(dir, `luaprof-${process.pid}-${stamp}-${name}`);
}

export interface WrittenProfile {
  /** Where the profile is. */
  path: string;
  /** Set when `file` failed and the profile went to `path` in the temp directory instead. */
  failed?: string;
  /** The format written to the fallback, when it is not the one asked for (speedscope, when that could not be encoded). */
  format?: OutputFormat;
}

/**
 * Writes the profile to `file`; when that fails (disk full, directory removed), to a fallback file
 * in the temp directory. A profile that cannot be encoded in `format` (a tree past what V8 can hold
 * in one string) goes to the fallback as speedscope, which is written in parts. Throws
 * OutputWriteError only when both fail.
 */
export async function writeProfileOrFallback(
  profile: Profile,
  file: string,
  format: OutputFormat,
  fallbackDir = tmpdir(),
): Promise<WrittenProfile> {
  let encode: (() => Iterable<string | Buffer>) | null = null;
  let failed: string;
  try {
    encode = profileParts(profile, format);
    await writeFileAtomic(file, encode());
    return { path: file };
  } catch (first) {
    if (isClosedPipe(first)) throw first;
    if (encode && isFsError(first)) {
      failed = `cannot write ${file}: ${fsReason(first)}`;
    } else {
      if (format === 'speedscope') throw first;
      failed = `cannot encode the ${format} profile: ${String((first as Error)?.message ?? first).split('\n')[0]}`;
      format = 'speedscope';
      encode = profileParts(profile, format);
      file = `${file}.json`;
    }
  }
  const other = fallbackPath(file, fallbackDir);
  try {
    await writeFileAtomic(other, encode());
  } catch (second) {
    throw new OutputWriteError(`${failed}; the fallback ${other} failed too: ${fsReason(second)}`);
  }
  return { path: other, failed, format };
}

/** A failure the file system reported (it carries an errno code), not one of encoding. */
function isFsError(e: unknown): boolean {
  return typeof (e as NodeJS.ErrnoException)?.code === 'string';
}

/** Encodes a profile in memory. */
export function encodeProfile(profile: Profile, format: OutputFormat): string | Buffer {
  switch (format) {
    case 'speedscope':
      return toSpeedscope(profile);
    case 'folded':
      return toFolded(profile);
    case 'html':
      return renderFlamegraphHtml(profile);
    case 'pprof':
      return toPprof(profile);
  }
}

/**
 * The encoded profile as parts to write, as often as asked: speedscope, whose size grows with the
 * samples, is made part by part as it is written; the other formats hold aggregates and are made once.
 */
export function profileParts(profile: Profile, format: OutputFormat): () => Iterable<string | Buffer> {
  if (format === 'speedscope') return () => speedscopeParts(profile);
  const whole = encodeProfile(profile, format);
  return () => [whole];
}

/** What is written: the whole text or bytes, or them in parts. */
export type ProfileData = string | Buffer | Iterable<string | Buffer>;

function writeAll(fd: number, data: ProfileData): void {
  if (typeof data !== 'string' && !Buffer.isBuffer(data)) {
    for (const part of data) writeAll(fd, part);
    return;
  }
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  for (let off = 0; off < bytes.length;) {
    try {
      off += writeSync(fd, bytes, off);
    } catch (e) {
      // A non-blocking stdout (a terminal or pipe Node set so) asks to come back: spin until it drains.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
    }
  }
}

/**
 * Writes `data` to `file` through a temp file in the same directory, fsynced, then renamed; `-` and
 * streams (pipes, devices) directly.
 */
export async function writeFileAtomic(file: string, data: ProfileData): Promise<void> {
  if (file === STDOUT) return writeAll(1, data);
  if (isStream(file)) {
    const fd = openSync(file, 'w');
    try {
      return writeAll(fd, data);
    } finally {
      closeSync(fd);
    }
  }
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await writeFile(fh, data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export async function writeProfile(profile: Profile, file: string, format: OutputFormat): Promise<void> {
  await writeFileAtomic(file, profileParts(profile, format)());
}
