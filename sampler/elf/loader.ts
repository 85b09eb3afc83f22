/**
 * Finding and caching ELF objects of a target process: files are read through /proc/PID/root so
 * targets in other mount namespaces (containers) work, with the plain path as fallback; parsed
 * objects are cached per file identity (dev, inode, size, mtime) and remembered with their build-id.
 * Separate debug files are looked up by build-id and by .gnu_debuglink under /usr/lib/debug.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ElfFile } from './elf.js';

export interface LoadedElf {
  /** The path as the target sees it (from /proc/PID/maps). */
  path: string;
  /** The path we actually read. */
  realPath: string;
  elf: ElfFile;
  buildId: string | null;
  /** Lazily resolved separate debug file (null when none is installed). */
  debug(): ElfFile | null;
}

/** Files larger than this are not read (nothing real is; a guard against /dev nodes and the like). */
const MAX_FILE = 1 << 30;

const byIdentity = new Map<string, LoadedElf | null>();
const byBuildId = new Map<string, LoadedElf>();

function statKey(st: fs.Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

function tryStat(p: string): fs.Stats | null {
  try {
    const st = fs.statSync(p);
    return st.isFile() ? st : null;
  } catch {
    return null;
  }
}

function readFile(p: string, size: number): Buffer | null {
  if (size <= 0 || size > MAX_FILE) return null;
  try {
    return fs.readFileSync(p);
  } catch {
    return null;
  }
}

/** Candidate real paths for a target path: through the target's root first, then plain. */
export function candidatePaths(p: string, pid?: number): string[] {
  const out: string[] = [];
  if (pid !== undefined && pid > 0 && p.startsWith('/')) out.push(`/proc/${pid}/root${p}`);
  out.push(p);
  return out;
}

export interface LoadOptions {
  /** Inode from /proc/PID/maps: a file at the path with another inode is not the mapped one. */
  inode?: number;
  /**
   * Extra candidate read last, e.g. /proc/PID/map_files/<start>-<end>, which still reaches a file
   * that was deleted or replaced on disk (a library upgraded under a running process).
   */
  extra?: string;
}

/** Loads (or returns from cache) the ELF object at a target path; null when unreadable/not ELF. */
export function loadElf(targetPath: string, pid?: number, opts: LoadOptions = {}): LoadedElf | null {
  if (!targetPath.startsWith('/')) return null;
  const cands = candidatePaths(targetPath, pid);
  if (opts.extra) cands.push(opts.extra);
  for (const real of cands) {
    const st = tryStat(real);
    if (!st) continue;
    if (opts.inode && st.ino !== opts.inode && real !== opts.extra) continue;
    const key = statKey(st);
    const hit = byIdentity.get(key);
    if (hit !== undefined) return hit;
    const data = readFile(real, st.size);
    const elf = data ? ElfFile.parse(data) : null;
    if (!elf) {
      byIdentity.set(key, null);
      return null;
    }
    const loaded = makeLoaded(targetPath, real, elf, pid);
    byIdentity.set(key, loaded);
    if (loaded.buildId && !byBuildId.has(loaded.buildId)) byBuildId.set(loaded.buildId, loaded);
    return loaded;
  }
  return null;
}

/** Wraps an in-memory image (e.g. the vdso read from the target) as a LoadedElf. */
export function elfFromImage(name: string, data: Buffer): LoadedElf | null {
  const elf = ElfFile.parse(data);
  if (!elf) return null;
  let bid: string | null;
  try {
    bid = elf.buildId();
  } catch {
    bid = null;
  }
  return { path: name, realPath: name, elf, buildId: bid, debug: () => null };
}

function makeLoaded(targetPath: string, real: string, elf: ElfFile, pid?: number): LoadedElf {
  let bid: string | null = null;
  try {
    bid = elf.buildId();
  } catch {
    bid = null;
  }
  let dbg: ElfFile | null | undefined;
  return {
    path: targetPath,
    realPath: real,
    elf,
    buildId: bid,
    debug() {
      if (dbg === undefined) {
        try {
          dbg = findDebugFile(elf, targetPath, bid, pid);
        } catch {
          dbg = null;
        }
      }
      return dbg;
    },
  };
}

const DEBUG_ROOT = '/usr/lib/debug';

/** Candidate locations of a separate debug file, in gdb's order. */
export function debugCandidates(targetPath: string, buildId: string | null, link: string | null): string[] {
  const out: string[] = [];
  if (buildId && buildId.length > 2) {
    out.push(`${DEBUG_ROOT}/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`);
  }
  if (link) {
    const dir = path.dirname(targetPath);
    out.push(path.join(dir, link), path.join(dir, '.debug', link), path.join(DEBUG_ROOT, dir, link));
  }
  return out;
}

function findDebugFile(
  elf: ElfFile,
  targetPath: string,
  buildId: string | null,
  pid?: number,
): ElfFile | null {
  const link = elf.debugLink();
  for (const cand of debugCandidates(targetPath, buildId, link?.file ?? null)) {
    for (const real of candidatePaths(cand, pid)) {
      const st = tryStat(real);
      if (!st) continue;
      const data = readFile(real, st.size);
      if (!data) continue;
      const d = ElfFile.parse(data);
      if (!d || d === elf) continue;
      if (path.resolve(real) === path.resolve(targetPath)) continue;
      // Validate: matching build-id when both carry one, else the debuglink CRC.
      const dbid = d.buildId();
      if (buildId && dbid) {
        if (dbid !== buildId) continue;
      } else if (link) {
        if (crc32(data) !== link.crc) continue;
      } else continue;
      if (!d.hasSymtab()) continue;
      return d;
    }
  }
  return null;
}

function crc32(data: Buffer): number {
  const z = zlib as unknown as { crc32?: (d: Buffer) => number };
  if (typeof z.crc32 === 'function') return z.crc32(data) >>> 0;
  let c = ~0;
  for (let i = 0; i < data.length; i++) {
    c ^= data[i];
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** Drops every cached object (tests). */
export function clearElfCache(): void {
  byIdentity.clear();
  byBuildId.clear();
}
