/**
 * Finding the PUC lua_States that no global points at, thread by thread, and keeping what was found
 * (one runtime per global state; per thread its state and the coroutines its host resumes from C).
 *
 * On a thread's native stack, at the frames of the Lua API and the interpreter (lua_pcall(k),
 * lua_callk, lua_resume, luaV_execute …), `L` lives in a callee-saved register recovered by CFI, or in
 * a word of the frame's stack. (Not rdi: it is caller-saved, garbage in a non-leaf frame.) Every
 * candidate is validated as a thread of a global state whose main thread checks out.
 *
 * Also the last resort when nothing points at a state: a scan of the heap for the main thread's
 * signature (PUC allocates it in one block with its global_State: L->l_G == L + sizeof(lua_State)).
 */
import { performance } from 'node:perf_hooks';
import type { NativeFrame } from '../../native/index.js';
import type { Registers } from '../../os/registers.js';
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, readMany, u64 } from '../../os/memory.js';
import type { MapEntry } from '../../os/procfs.js';
import {
  RuntimesByState,
  type RunningThreads,
  type StateDiscovery,
  type ThreadStates,
} from '../discovery.js';
import type { LuaRuntime } from '../runtime.js';
import { inWritable } from '../state-finder.js';
import { PucCapture } from './capture.js';
import type { PucLayout } from './layout.js';
import { validateState } from './locate.js';
import { PucRuntime, type PucSample } from './runtime.js';

export interface FoundState {
  /** The thread found (the main thread, or a coroutine run by the host through lua_resume). */
  L: number;
  main: number;
  G: number;
  /** Index of the native frame it was found at (innermost = 0). */
  frame: number;
}

const API_NAMES =
  /^(lua_pcallk?|lua_callk?|lua_resume|luaL_dostring|luaL_dofile|luaL_loadbufferx|luaV_execute|luaD_\w+)$/;

/**
 * Candidate pointers per native frame, innermost first: callee-saved registers (CFI-recovered), then
 * the words of the frame's own stack area [sp, cfa). Frames named as API/interpreter functions come
 * first when names are known.
 */
export function stateCandidates(
  frames: readonly NativeFrame[],
  stack: { addr: number; bytes: Buffer },
  maps: readonly MapEntry[],
  names?: readonly (string | undefined)[],
): { value: number; frame: number }[] {
  const order = frames.map((_, i) => i);
  if (names)
    order.sort(
      (a, b) => Number(!API_NAMES.test(names[a] ?? '')) - Number(!API_NAMES.test(names[b] ?? '')) || a - b,
    );
  const seen = new Set<number>();
  const out: { value: number; frame: number }[] = [];
  const add = (v: number | undefined, frame: number) => {
    if (v === undefined || !isPlausiblePtr(v) || seen.has(v) || !inWritable(maps, v)) return;
    seen.add(v);
    out.push({ value: v, frame });
  };
  for (const i of order) {
    const f = frames[i];
    for (const r of ['rbx', 'rbp', 'r12', 'r13', 'r14', 'r15'] as const) add(f.regs[r], i);
    const lo = f.sp - stack.addr;
    const hi = Math.min((f.cfa || f.sp + 256) - stack.addr, stack.bytes.length, lo + 4096);
    for (let off = Math.max(lo, 0); off + 8 <= hi; off += 8) add(u64(stack.bytes, off), i);
  }
  return out;
}

/**
 * Validated states on the stack, innermost first, one per distinct thread. The thread tag is checked in
 * one batched read before the full validation.
 */
export function statesOnStack(
  mem: Memory,
  layout: PucLayout,
  frames: readonly NativeFrame[],
  stack: { addr: number; bytes: Buffer },
  maps: readonly MapEntry[],
  names?: readonly (string | undefined)[],
  limit = 4096,
): FoundState[] {
  const cands = stateCandidates(frames, stack, maps, names).slice(0, limit);
  const heads = readMany(
    mem,
    cands.map((c) => ({ addr: c.value, len: 16 })),
  );
  const cap = new PucCapture(layout);
  const found: FoundState[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < cands.length; i++) {
    const h = heads[i];
    if (!h || (h[layout.state.tt] & 0x3f) !== (layout.tags.thread & 0x0f)) continue;
    const L = cands[i].value;
    if (seen.has(L)) continue;
    const v = validateState(mem, layout, L);
    if (!v) continue;
    // The candidate itself must be a thread of that global state (validateState returns its main).
    if (L !== v.L && !cap.readThread(mem, L, v.G)) continue;
    seen.add(L);
    found.push({ L, main: v.L, G: v.G, frame: cands[i].frame });
  }
  return found.sort((a, b) => a.frame - b.frame);
}

export interface HeapScanResult {
  states: { L: number; G: number }[];
  ms: number;
  bytes: number;
}

/**
 * Scans writable anonymous and heap mappings for main threads: a word-aligned lua_State whose l_G
 * points right behind it (LG block), validated. Bounded by `maxBytes`.
 */
export function heapScan(
  mem: Memory,
  layout: PucLayout,
  maps: readonly MapEntry[],
  maxBytes = 512 << 20,
): HeapScanResult {
  const t0 = performance.now();
  const states: { L: number; G: number }[] = [];
  const seen = new Set<number>();
  let bytes = 0;
  const size = layout.state.size;
  const lG = layout.state.l_G;
  const tt = layout.state.tt;
  const threadTag = layout.tags.thread & 0x0f;
  const CHUNK = 4 << 20;
  for (const m of maps) {
    if (!m.perms.startsWith('rw') || !(m.path === '' || m.path === '[heap]')) continue;
    for (let at = m.start; at < m.end && bytes < maxBytes; at += CHUNK - 256) {
      const len = Math.min(CHUNK, m.end - at);
      const buf = mem.read(at, len);
      bytes += len;
      if (!buf) continue;
      for (let off = 0; off + lG + 8 <= buf.length; off += 8) {
        if ((buf[off + tt] & 0x3f) !== threadTag) continue;
        const L = at + off;
        const g = u64(buf, off + lG);
        if (g !== L + size && g !== L + size + 8) continue;
        if (seen.has(L)) continue;
        const v = validateState(mem, layout, L);
        if (v && v.L === L) {
          seen.add(L);
          states.push(v);
        }
      }
    }
  }
  return { states, ms: performance.now() - t0, bytes };
}

/** Registers that may hold a lua_State at any instruction (all of them: the thread was interrupted). */
const STATE_REGISTERS = [
  'rbx',
  'rbp',
  'r12',
  'r13',
  'r14',
  'r15',
  'rdi',
  'rsi',
  'rdx',
  'rcx',
  'r8',
  'r9',
  'r10',
  'r11',
  'rax',
] as const;
/** Stack words searched for the running coroutine (the frames of the C function, the interpreter and lua_resume). */
const RUNNING_STACK_WORDS = 1024;

/**
 * Words that may point at the lua_State a stopped thread runs now: its registers, then the words of the
 * top of its stack (innermost first), kept when they point into a writable mapping other than the stack
 * itself (a lua_State lives in the heap). Pure: unit-tested on recorded values.
 */
export function runningCandidates(
  regs: Registers,
  stack: { addr: number; bytes: Buffer },
  maps: readonly MapEntry[],
  maxWords = RUNNING_STACK_WORDS,
): number[] {
  const out: number[] = [];
  const seen = new Set<number>();
  const stackEnd = stack.addr + stack.bytes.length;
  const add = (v: number) => {
    if (seen.has(v) || !isPlausiblePtr(v) || (v >= stack.addr && v < stackEnd) || !inWritable(maps, v))
      return;
    seen.add(v);
    out.push(v);
  };
  for (const r of STATE_REGISTERS) add(regs[r]);
  const words = Math.min(maxWords, stack.bytes.length >> 3);
  for (let i = 0; i < words; i++) add(u64(stack.bytes, i * 8));
  return out;
}

/** The PUC states of one process, found at attach or later on threads' native stacks: one runtime per global state. */
export class PucDiscovery implements StateDiscovery {
  readonly followsRunning = false;
  private readonly runtimes: RuntimesByState;
  private readonly cap: PucCapture;

  constructor(
    private readonly mem: Memory,
    private readonly layout: PucLayout,
    version: string,
  ) {
    this.cap = new PucCapture(layout);
    this.runtimes = new RuntimesByState((main, G) => new PucRuntime(version, layout, main, G, mem));
  }

  adopt(rt: LuaRuntime): void {
    this.runtimes.adopt(rt);
  }

  forget(G: number): void {
    this.runtimes.forget(G);
  }

  runtimeFor(main: number, G: number): LuaRuntime {
    return this.runtimes.runtimeFor(main, G);
  }

  /** Records the states found on a thread's native stack: its runtime, and coroutines it resumes from C. */
  learn(
    thread: ThreadStates,
    frames: readonly NativeFrame[],
    stack: { addr: number; bytes: Buffer },
    maps: readonly MapEntry[],
    names?: readonly (string | undefined)[],
  ): boolean {
    let learned = false;
    for (const s of statesOnStack(this.mem, this.layout, frames, stack, maps, names)) {
      if (!thread.runtime) {
        thread.runtime = this.runtimeFor(s.main, s.G);
        learned = true;
      }
      if (thread.runtime.G !== s.G) continue;
      if (s.L !== s.main && thread.hosted.remember(s.L)) learned = true;
    }
    return learned;
  }

  /**
   * The coroutines a stopped thread runs now, resumed from C (a new one per request in many servers,
   * so no cache can know it): active threads among the words its registers and the top of its stack
   * point at, of global state G when given (else of the first valid state met, innermost first),
   * outermost first (the capture follows inner ones from there, and skips those it already holds).
   * Reads the live target: call it while the thread is stopped.
   */
  runningThreads(
    regs: Registers,
    stack: { addr: number; bytes: Buffer },
    maps: readonly MapEntry[],
    G?: number,
  ): RunningThreads | null {
    const cands = runningCandidates(regs, stack, maps);
    const tt = this.layout.state.tt;
    const threadTag = this.layout.tags.thread & 0x0f;
    const heads = readMany(
      this.mem,
      cands.map((c) => ({ addr: c + tt, len: 1 })),
    );
    let state = G === undefined ? null : { G, main: 0 };
    const threads: number[] = [];
    for (let i = 0; i < cands.length; i++) {
      const h = heads[i];
      if (!h || (h[0] & 0x3f) !== threadTag) continue;
      const L = cands[i];
      if (!state) {
        const v = validateState(this.mem, this.layout, L);
        if (!v) continue;
        state = { G: v.G, main: v.L };
      }
      if (this.cap.isActive(this.mem, L, state.G)) threads.push(L);
    }
    if (!state || threads.length === 0) return null;
    return { G: state.G, main: state.main, threads: threads.reverse() };
  }

  /** The last resort: the first main thread a heap scan finds, and a line saying what the scan cost. */
  scanHeap(maps: readonly MapEntry[]): { runtime: LuaRuntime | null; cost: string } {
    const r = heapScan(this.mem, this.layout, maps);
    const cost = `heap scan for lua_State: ${r.states.length} found in ${r.ms.toFixed(0)} ms, ${(r.bytes / 1048576).toFixed(1)} MB scanned`;
    return { runtime: r.states.length ? this.runtimeFor(r.states[0].L, r.states[0].G) : null, cost };
  }

  /** The state runs no function at all: a host is in charge, in C, and may run a coroutine it resumed. */
  runsNothing(raw: unknown): boolean {
    const { stack } = raw as PucSample;
    const inner = stack.threads[stack.threads.length - 1];
    return inner !== undefined && inner.frames.length === 0 && inner.cut === 0;
  }

  /** The Lua stack looks driven by a host: no Lua frames, or a C function on top (it may call lua_resume). */
  looksHosted(raw: unknown): boolean {
    const { stack } = raw as PucSample;
    const inner = stack.threads[stack.threads.length - 1];
    const top = inner?.frames[0];
    if (!top) return true;
    // 5.1 tags Lua and C closures alike: the closure says which (one not read counts as C).
    return this.cap.isCFunction(top) || (top.funcTag === this.layout.tags.cClosure && top.closure === null);
  }
}
