/**
 * Pausing one thread of another process with ptrace: seize, interrupt, wait for the stop, read
 * registers, detach. All calls must come from the same OS thread (the tracer is a thread).
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { libc } from './libc.js';
import { REG_NAMES, type Registers } from './registers.js';

const PTRACE_GETREGS = 12;
const PTRACE_DETACH = 17;
const PTRACE_SEIZE = 0x4206;
const PTRACE_INTERRUPT = 0x4207;
const WALL = 0x40000000;
const WNOHANG = 1;
const SIGTRAP = 5;
const SIGSTOP = 19;
const PTRACE_EVENT_STOP = 128;

export const ESRCH = 3;
export const EPERM = 1;

export class PtraceError extends Error {
  constructor(
    readonly op: string,
    readonly errno: number,
    readonly tid: number,
  ) {
    super(`${op}(${tid}) failed: errno ${errno}`);
  }
}

/** Outcome of waiting for a stop: the thread stopped, or it is gone. */
export type StopResult =
  { stopped: true; pendingSignal: number } | { stopped: false; exited: true; status: number };

const regsBuf = Buffer.alloc(REG_NAMES.length * 8);
const statusBuf = new Int32Array(1);

export function seize(tid: number): void {
  const c = libc();
  if (c.ptrace(PTRACE_SEIZE, tid, null, null) < 0) throw new PtraceError('PTRACE_SEIZE', c.errno(), tid);
}

export function interrupt(tid: number): void {
  const c = libc();
  if (c.ptrace(PTRACE_INTERRUPT, tid, null, null) < 0)
    throw new PtraceError('PTRACE_INTERRUPT', c.errno(), tid);
}

/**
 * Waits until the seized thread reports its stop, polling for the first `spinUs` µs before it blocks.
 * A signal-delivery stop is also a stop: its signal is handed back so detach can deliver it and nothing
 * is swallowed.
 */
export function waitStop(tid: number, spinUs = 0): StopResult {
  const c = libc();
  let options = spinUs > 0 ? WALL | WNOHANG : WALL;
  const spinUntil = spinUs > 0 ? performance.now() + spinUs / 1000 : 0;
  for (;;) {
    const r = c.waitpid(tid, statusBuf, options);
    if (r === 0) {
      if (performance.now() >= spinUntil) options = WALL;
      continue;
    }
    if (r < 0) {
      const e = c.errno();
      if (e === 4) continue; // EINTR
      throw new PtraceError('waitpid', e, tid);
    }
    const status = statusBuf[0];
    if ((status & 0xff) === 0x7f) {
      const sig = (status >> 8) & 0xff;
      const event = (status >> 16) & 0xffff;
      if (event === PTRACE_EVENT_STOP) return { stopped: true, pendingSignal: 0 };
      if (sig === SIGTRAP) return { stopped: true, pendingSignal: 0 };
      // Group-stop notifications (SIGSTOP & co. without an event) are not signals to re-inject.
      return { stopped: true, pendingSignal: sig === SIGSTOP && event !== 0 ? 0 : sig };
    }
    return { stopped: false, exited: true, status };
  }
}

export function getRegs(tid: number): Registers {
  const c = libc();
  if (c.ptrace(PTRACE_GETREGS, tid, null, regsBuf) < 0)
    throw new PtraceError('PTRACE_GETREGS', c.errno(), tid);
  const regs = {} as Registers;
  for (let i = 0; i < REG_NAMES.length; i++) {
    const lo = regsBuf.readUInt32LE(i * 8);
    const hi = regsBuf.readUInt32LE(i * 8 + 4);
    regs[REG_NAMES[i]] = hi > 0x1fffff ? -1 : hi * 0x1_0000_0000 + lo;
  }
  return regs;
}

/** Detaches; a pending signal is delivered as the thread resumes. Returns false if it was already gone. */
export function detach(tid: number, signal = 0): boolean {
  const c = libc();
  if (c.ptraceData(PTRACE_DETACH, tid, null, signal) < 0) {
    const e = c.errno();
    if (e === ESRCH) return false;
    throw new PtraceError('PTRACE_DETACH', e, tid);
  }
  return true;
}

/** A process that traces a thread: its pid and command (`comm`). */
export interface Tracer {
  pid: number;
  command: string;
}

/**
 * Who traces thread `tid` of `pid` (TracerPid of its /proc status), or null: not traced, or gone. A
 * thread has one tracer at most, so PTRACE_SEIZE of a traced thread fails with EPERM, as for a
 * permission problem: this tells the two apart.
 */
export function tracerOf(pid: number, tid = pid): Tracer | null {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1');
  } catch {
    return null;
  }
  const tracer = Number(/^TracerPid:\s*(\d+)/m.exec(status)?.[1] ?? 0);
  if (!Number.isInteger(tracer) || tracer <= 0) return null;
  // One of luaprof's own threads: a target killed during a pause stays traced by it until reaped.
  if (existsSync(`/proc/self/task/${tracer}`)) return null;
  let command = '?';
  try {
    command = readFileSync(`/proc/${tracer}/comm`, 'latin1').trim();
  } catch {
    /* the tracer just went away: its pid is still worth naming */
  }
  return { pid: tracer, command };
}
