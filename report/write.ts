/**
 * Writing a profile in any output format, atomically (temp file + rename). The output path is
 * checked before a recording starts (checkOutputPath); a write that still fails at the end puts the
 * profile in the temp directory instead (writeProfileOrFallback): what was recorded is never lost.
 * A stream (`-`, a pipe, a terminal, /dev/stdout, /dev/null) is written in place: a temp file renamed
 * over /dev/stdout would replace the device link itself. A reader that closed its end (`| head -1`)
 * took what it wanted: that EPIPE is not a failure (isClosedPipe).
 */
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Profile } from '../aggregator/profile.js';
import { toFolded } from './folded.js';
import { renderFlamegraphHtml } from './html.js';
import { toPprof } from './pprof.js';
import { speedscopeParts, toSpeedscope } from './speedscope.js';

export type OutputFormat = 'speedscope' | 'folded' | 'html' | 'pprof';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['speedscope', 'folded', 'html', 'pprof'];

/** Format implied by a file name: .json→speedscope, .html/.htm→html, .folded/.txt/.collapsed→folded, .pb.gz/.pprof/.pb→pprof. */
export function inferFormat(file: string): OutputFormat | null {
  const f = file.toLowerCase();
  if (f.endsWith('.json') || f.endsWith('.speedscope')) return 'speedscope';
  if (f.endsWith('.html') || f.endsWith('.htm')) return 'html';
  if (f.endsWith('.folded') || f.endsWith('.txt') || f.endsWith('.collapsed')) return 'folded';
  if (f.endsWith('.pb.gz') || f.endsWith('.pprof') || f.endsWith('.pb')) return 'pprof';
  return null;
}

/** Parses a user-given format name (accepts a few aliases); null when unknown. */
export function parseFormat(name: string): OutputFormat | null {
  const n = name.toLowerCase();
  if ((OUTPUT_FORMATS as readonly string[]).includes(n)) return n as OutputFormat;
  if (n === 'flamegraph') return 'html';
  if (n === 'collapsed' || n === 'raw') return 'folded';
  if (n === 'json') return 'speedscope';
  return null;
}

/** The output file (or its directory) cannot be written; the message is one line naming it. */
export class OutputWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputWriteError';
  }
}

/** "permission denied", "no space left on device", … from a file-system error. */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'no such file or directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    default:
      return String(err?.message ?? e).split('\n')[0];
  }
}

/**
 * Checks, before anything is recorded, that `file` can be written: its directory exists (or can be
 * made) and takes a new file (a probe file is created and removed: access() says yes to root on
 * /proc), and `file` itself is not a directory. Throws OutputWriteError.
 */
export function checkOutputPath(file: string): void {
  const dir = dirname(resolve(file));
  try {
    if (file === STDOUT) return;
    if (isStream(file)) {
      accessSync(file, constants.W_OK);
      return;
    }
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory())
      throw new OutputWriteError(`cannot write ${file}: is a directory`);
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.${basename(file)}.${process.pid}.probe`);
    closeSync(openSync(probe, 'wx', 0o600));
    rmSync(probe, { force: true });
  } catch (e) {
    if (e instanceof OutputWriteError) throw e;
    throw new OutputWriteError(`cannot write ${file}: ${fsReason(e)} (${dir})`);
  }
}

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

/** `-o -`: standard output. */
export const STDOUT = '-';

/** An existing path that is neither a regular file nor a directory: a device, a pipe, a socket. */
function isStream(file: string): boolean {
  const s = statSync(file, { throwIfNoEntry: false });
  return s !== undefined && !s.isFile() && !s.isDirectory();
}

/** The write failed because the reading end of a pipe was closed (`luaprof … | head -1`). */
export function isClosedPipe(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'EPIPE';
}

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
