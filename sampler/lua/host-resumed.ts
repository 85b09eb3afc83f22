/**
 * Where a thread's host keeps the coroutines it resumes from C: the coroutines seen running (newest
 * first), and the words of the thread's native stack that held them. A server resumes a new
 * coroutine per request from the same C frames, so the next request's coroutine sits in the same
 * stack words: reading those words in the copy of the running thread finds it at the sampling instant,
 * without stopping the thread to search its stack. What they point at is checked at every read (an
 * active thread of the same global state), so a word that now holds something else costs nothing but
 * the read.
 */
import { u64 } from '../os/memory.js';

/** Coroutines remembered per thread (a host may resume a few in turn: generators, nested requests). */
const MAX_COROUTINES = 8;
/** Stack words remembered per thread. */
const MAX_SLOTS = 4;

export interface HostedThreads {
  /** Coroutines the host resumed from C, newest first. */
  readonly coroutines: readonly number[];
  /** Addresses of native stack words that held one of them, newest first. */
  readonly slots: readonly number[];
}

export class HostResumed implements HostedThreads {
  readonly coroutines: number[] = [];
  readonly slots: number[] = [];

  /** Keeps a coroutine the host resumed from C (newest first, bounded); true when it was not kept yet. */
  remember(L: number): boolean {
    return keepNewest(this.coroutines, L, MAX_COROUTINES);
  }

  /**
   * Keeps the words of a copy of the native stack that hold `L`, the outermost first: they belong to
   * the host's frames around lua_resume, which stay while the request runs; inner words belong to
   * frames that deeper calls (a C function the coroutine calls) write over.
   */
  rememberSlots(L: number, stack: { addr: number; bytes: Buffer }): void {
    const found: number[] = [];
    for (let off = (stack.bytes.length & ~7) - 8; off >= 0 && found.length < MAX_SLOTS; off -= 8)
      if (u64(stack.bytes, off) === L) found.push(stack.addr + off);
    for (let i = found.length - 1; i >= 0; i--) keepNewest(this.slots, found[i], MAX_SLOTS);
  }
}

/** Puts v first in the list (bounded); true when it was not in it. */
function keepNewest(list: number[], v: number, max: number): boolean {
  const at = list.indexOf(v);
  if (at === 0) return false;
  if (at > 0) list.splice(at, 1);
  list.unshift(v);
  if (list.length > max) list.pop();
  return at < 0;
}
