/** Small /proc readers: process existence, threads, executable, thread state, mappings. */
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { readMaps as readMapsOrNull, type Mapping as MapEntry } from './maps.js';

export type { MapEntry };

export function processExists(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

export function listThreads(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

export function threadName(pid: number, tid: number): string {
  return threadNameOrNull(pid, tid) ?? String(tid);
}

/** The thread's name (comm), or null when it cannot be read (the thread has ended). */
export function threadNameOrNull(pid: number, tid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return null;
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
    return stateLetter(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1'));
  } catch {
    return null;
  }
}

/** A thread waiting in the kernel by its state letter: interruptible (S) or not (D). */
export function isAsleep(state: string | null): boolean {
  return state === 'S' || state === 'D';
}

/** The fields of a /proc stat line from the state on (field 3): the command before them may hold spaces and parentheses. */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** A process's /proc/PID/stat fields from the state on (statFields), or null once it is gone. */
export function processStat(pid: number): string[] | null {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'latin1').slice(0, 1024));
  } catch {
    return null;
  }
}

function stateLetter(stat: string): string | null {
  const at = stat.lastIndexOf(')') + 2;
  return at > 1 ? stat.slice(at, at + 1) : null;
}

/**
 * One thread's /proc stat, kept open and re-read with pread: the sampler reads it before every sample,
 * and reading the file anew (open, read, close) costs three system calls each time.
 */
export class ThreadStat {
  private fd: number | null;
  private readonly buf = Buffer.alloc(1024);

  constructor(pid: number, tid: number) {
    try {
      this.fd = openSync(`/proc/${pid}/task/${tid}/stat`, 'r');
    } catch {
      this.fd = null;
    }
  }

  /** State letter, or null when the thread is gone. */
  state(): string | null {
    const stat = this.read();
    return stat === null ? null : stateLetter(stat);
  }

  /** The CPU the thread last ran on (field 39), or -1. */
  processor(): number {
    const stat = this.read();
    if (stat === null) return -1;
    const cpu = Number(statFields(stat)[39 - 3]);
    return Number.isInteger(cpu) ? cpu : -1;
  }

  private read(): string | null {
    if (this.fd === null) return null;
    try {
      return this.buf.toString('latin1', 0, readSync(this.fd, this.buf, 0, this.buf.length, 0));
    } catch {
      return null;
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Mappings of /proc/PID/maps (one parser for the whole sampler: ./maps.ts); empty when unreadable. */
export function readMaps(pid: number): MapEntry[] {
  return readMapsOrNull(pid) ?? [];
}
