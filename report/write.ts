/** Writing a profile in any output format, atomically (temp file + rename). */
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Profile } from '../aggregator/profile.js';
import { toFolded } from './folded.js';
import { renderFlamegraphHtml } from './html.js';
import { toPprof } from './pprof.js';
import { toSpeedscope } from './speedscope.js';

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

/** Writes `data` to `file` through a temp file in the same directory, fsynced, then renamed. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(data);
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
  await writeFileAtomic(file, encodeProfile(profile, format));
}
