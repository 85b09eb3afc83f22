/** Small /proc readers: process existence, threads, executable, thread state, mappings. */
import { readFileSync, readdirSync, readlinkSync, existsSync } from 'node:fs';
import { readMaps as readMapsOrNull, type Mapping as MapEntry } from './maps.js';

export type { MapEntry };

export function processExists(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

export function listThreads(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number).filter((n) => Number.isInteger(n)).sort((a, b) => a - b);
  } catch {
    return [];
  }
}

export function threadName(pid: number, tid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return String(tid);
  }
}

export function exePath(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/** Thread state letter from /proc/PID/task/TID/stat (R, S, D, T, t, Z, …), or null when gone. */
export function threadState(pid: number, tid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return null;
  }
}

/** Mappings of /proc/PID/maps (one parser for the whole sampler: ./maps.ts); empty when unreadable. */
export function readMaps(pid: number): MapEntry[] {
  return readMapsOrNull(pid) ?? [];
}
