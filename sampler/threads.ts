/** Processes and threads of a target: descendants for --subprocesses, thread lists. */
import { readFileSync } from 'node:fs';
import { listThreads } from './os/procfs.js';

/** Direct children of a process, from /proc/PID/task/TID/children of each of its threads. */
export function children(pid: number): number[] {
  const out: number[] = [];
  for (const tid of listThreads(pid)) {
    try {
      for (const w of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/)) {
        const n = Number(w);
        if (w !== '' && Number.isInteger(n) && n > 0 && !out.includes(n)) out.push(n);
      }
    } catch {
      /* thread gone */
    }
  }
  return out;
}

/** Every descendant of a process (children, their children …), bounded. */
export function descendants(pid: number, max = 4096): number[] {
  const out: number[] = [];
  const queue = [pid];
  const seen = new Set([pid]);
  while (queue.length && out.length < max) {
    for (const c of children(queue.shift()!)) {
      if (seen.has(c)) continue;
      seen.add(c);
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Parses `--threads 12,13`: positive integers. */
export function parseTidList(text: string): number[] | null {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const tids = parts.map(Number);
  if (tids.length === 0 || tids.some((n) => !Number.isInteger(n) || n <= 0)) return null;
  return tids;
}
