/**
 * The output file of a profile, before anything is written: its format (from a name or the file's
 * extension), whether it can be written, and the errors of writing it. Apart from the writers
 * (write.ts), which load the encoders of every format: a recording loads this one before its first
 * sample, and those only when it writes.
 */
import { accessSync, closeSync, constants, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

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

/** `-o -`: standard output. */
export const STDOUT = '-';

/** An existing path that is neither a regular file nor a directory: a device, a pipe, a socket. */
export function isStream(file: string): boolean {
  const s = statSync(file, { throwIfNoEntry: false });
  return s !== undefined && !s.isFile() && !s.isDirectory();
}

/** The write failed because the reading end of a pipe was closed (`luaprof … | head -1`). */
export function isClosedPipe(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'EPIPE';
}
