/**
 * /proc/PID/maps reader. Every line becomes one Mapping; malformed lines are skipped.
 */
import * as fs from 'node:fs';

export interface Mapping {
  start: number;
  end: number;
  /** e.g. "r-xp" */
  perms: string;
  readable: boolean;
  writable: boolean;
  executable: boolean;
  /** File offset of start. */
  offset: number;
  dev: string;
  inode: number;
  /** Path, "[vdso]", "[stack]", "[heap]", … or "" for anonymous mappings. " (deleted)" is stripped. */
  path: string;
  deleted: boolean;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+)\s+([rwxsp-]{4})\s+([0-9a-f]+)\s+([0-9a-f]+:[0-9a-f]+)\s+(\d+)\s*(.*)$/;

export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const start = parseInt(m[1], 16);
    const end = parseInt(m[2], 16);
    const offset = parseInt(m[4], 16);
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start) continue;
    let path = m[7] ?? '';
    let deleted = false;
    if (path.endsWith(' (deleted)')) {
      path = path.slice(0, -' (deleted)'.length);
      deleted = true;
    }
    const perms = m[3];
    out.push({
      start,
      end,
      perms,
      readable: perms[0] === 'r',
      writable: perms[1] === 'w',
      executable: perms[2] === 'x',
      offset: Number.isSafeInteger(offset) ? offset : 0,
      dev: m[5],
      inode: parseInt(m[6], 10) || 0,
      path,
      deleted,
    });
  }
  out.sort((a, b) => a.start - b.start);
  return out;
}

/** Reads /proc/PID/maps (or /proc/PID/task/TID/maps); null when the process is gone. */
export function readMaps(pid: number): Mapping[] | null {
  try {
    return parseMaps(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
  } catch {
    return null;
  }
}

/** Binary search of sorted, non-overlapping mappings. */
export function findMapping(maps: readonly Mapping[], addr: number): Mapping | null {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = maps[mid];
    if (addr < m.start) hi = mid - 1;
    else if (addr >= m.end) lo = mid + 1;
    else return m;
  }
  return null;
}
