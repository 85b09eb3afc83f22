/**
 * PUC Lua (5.1-5.4) as a LuaRuntime: capture while stopped (the running thread, the coroutines it
 * resumed, those a host resumes from C, the collector's flag), resolve afterwards.
 */
import { MAX_HOSTED_SLOTS, RESUMED_ARG, type CallChain } from '../../os/call-chain.js';
import type { Memory } from '../../os/memory.js';
import { CHAINED, isPlausiblePtr, LATE, readLate, u64 } from '../../os/memory.js';
import type { HostedThreads } from '../host-resumed.js';
import { CaptureError, type LuaRuntime, type ResolvedLua } from '../runtime.js';
import { PucCapture, type RawFrame, type RawLuaStack } from './capture.js';
import type { PucLayout } from './layout.js';
import { PucResolver } from './resolve.js';

const KGC_GEN = 1;
const GCS_PROPAGATE = 0;

/** One PUC sample as captured: the stack, and whether the collector was running a step. */
export interface PucSample {
  stack: RawLuaStack;
  gc: boolean;
}

export class PucRuntime implements LuaRuntime {
  private readonly cap: PucCapture;
  private readonly resolver: PucResolver;
  /** 5.4.3+: global_State.gcstopem (two bytes after gcstate) is set while the collector runs a step. */
  private readonly gcFlagOffset: number | null;
  /** The main thread's call chain (made once: asked for at every copy). */
  private readonly chain: CallChain | null;

  constructor(
    readonly version: string,
    readonly layout: PucLayout,
    readonly mainL: number,
    readonly G: number,
    private readonly resolveMem: Memory,
  ) {
    this.resolver = new PucResolver(resolveMem, layout, G);
    this.cap = new PucCapture(layout, undefined, (L) => this.resolver.rememberedOf(L), mainL);
    const { state, callinfo } = layout;
    // 5.2-5.4: the CallInfo list from L->ci by `previous` down to base_ci (embedded in the lua_State);
    // 5.1: the CallInfo array from L->ci down to L->base_ci.
    const array = state.baseCiIsPointer === true;
    this.chain =
      callinfo.previous === undefined && !array
        ? null
        : {
            head: mainL + state.ci,
            stop: mainL + state.base_ci,
            recordBytes: callinfo.size,
            nextAt: callinfo.previous ?? 0,
            array,
          };
    const rel = layout.releases.map((r) => r.split('.').map(Number));
    this.gcFlagOffset =
      layout.family === '5.4' && rel.every((r) => r[2] >= 3) ? layout.global.gcstate + 2 : null;
  }

  capture(mem: Memory, _regs?: unknown, also?: HostedThreads): PucSample {
    const stack = this.cap.capture(mem, this.mainL, this.G, false, this.copiesResumed(also?.slots ?? []));
    if (also && (also.coroutines.length || also.slots.length)) this.captureAlso(mem, stack, also);
    let gc = false;
    if (this.gcFlagOffset !== null) {
      // [gcstate, gckind, gcstopem]: an incremental step sets gcstopem; a generational (young)
      // collection runs in the atomic and sweep states (between collections: propagate).
      const b = mem.read(this.G + this.gcFlagOffset - 2, 3);
      gc = b !== null && (b[2] !== 0 || (b[1] === KGC_GEN && b[0] !== GCS_PROPAGATE));
    }
    return { stack, gc };
  }

  /**
   * Coroutines the host resumes from C that are running now, appended innermost: what the remembered
   * stack words point at (read with the rest of the sample: the coroutine of this very request), then
   * the coroutines seen before.
   */
  private captureAlso(mem: Memory, raw: RawLuaStack, also: HostedThreads): void {
    // C code resumes them: the innermost thread runs a C function, or no function at all.
    const inner = raw.threads[raw.threads.length - 1];
    const top = inner?.frames[0];
    if (inner?.cut || (top && !this.cap.isCFunction(top))) return;
    const have = new Set(raw.threads.map((t) => t.L));
    const candidates: number[] = [];
    // What the words point at: a copier may copy those states itself (os/call-chain.ts HostedChains).
    for (const slot of also.slots) {
      const w = readLate(mem, slot, 8, LATE.root | CHAINED);
      if (w) candidates.push(u64(w, 0));
    }
    const fromSlots = candidates.length;
    // Where the host keeps the coroutine it runs, that word says which runs now: those seen running
    // before are done with (a read of one would be of freed memory, which copies then plan for).
    if (also.slots.length === 0) for (const L of also.coroutines) candidates.push(L);
    for (let i = 0; i < candidates.length; i++) {
      const L = candidates[i];
      const hosted = i < fromSlots;
      if (have.has(L) || !isPlausiblePtr(L)) continue;
      if (!this.cap.isActive(mem, L, raw.G, hosted ? CHAINED : 0)) continue;
      try {
        const more = this.cap.capture(mem, L, raw.G, hosted);
        for (const t of more.threads) {
          if (have.has(t.L)) continue;
          have.add(t.L);
          raw.threads.push(t);
        }
      } catch (e) {
        if (!(e instanceof CaptureError)) throw e;
      }
    }
  }

  resolve(raw: unknown, copy: Memory = this.resolveMem): ResolvedLua {
    const { stack, gc } = raw as PucSample;
    this.resolver.recall(stack);
    this.cap.fill(copy, stack);
    const { frames, raws, truncated, torn } = this.resolver.resolve(stack);
    return { frames, truncated, gc, torn, cfuncs: raws.map((f) => this.cfunc(f)) };
  }

  sameChain(a: unknown, b: unknown): boolean {
    const total = (a as PucSample).stack.threads.reduce((n, t) => n + t.frames.length, 0);
    const other = (b as PucSample).stack.threads.reduce((n, t) => n + t.frames.length, 0);
    return total === other && this.agreedFrames(a, b) === total;
  }

  sameThreads(a: unknown, b: unknown): boolean {
    const x = (a as PucSample).stack.threads;
    const y = (b as PucSample).stack.threads;
    return x.length === y.length && x.every((t, i) => t.L === y[i].L);
  }

  /**
   * How many frames two captures share, outermost first across their threads: the same threads, the
   * same frames running the same functions, callers at the same saved pc (the innermost frame's
   * moves as it runs).
   */
  agreedFrames(a: unknown, b: unknown): number {
    const x = (a as PucSample).stack.threads;
    const y = (b as PucSample).stack.threads;
    let agreed = 0;
    for (let t = 0; t < Math.min(x.length, y.length); t++) {
      if (x[t].L !== y[t].L) return agreed;
      const fx = x[t].frames;
      const fy = y[t].frames;
      // Frames are innermost first: compare from the outermost.
      for (let k = 1; k <= Math.min(fx.length, fy.length); k++) {
        const p = fx[fx.length - k];
        const q = fy[fy.length - k];
        const innermost = k === fx.length || k === fy.length;
        const same =
          p.ci === q.ci && p.func === q.func && p.funcTag === q.funcTag && p.funcValue === q.funcValue;
        if (!same || (!innermost && p.savedpc !== q.savedpc)) return agreed;
        agreed++;
      }
      if (fx.length !== fy.length || x[t].cut || y[t].cut) return agreed;
    }
    return agreed;
  }

  /** Keeps the `keep` outermost frames of a capture (across its threads); the rest count as torn. */
  keepOutermost(raw: unknown, keep: number): void {
    const threads = (raw as PucSample).stack.threads;
    let left = keep;
    for (let t = 0; t < threads.length; t++) {
      const th = threads[t];
      if (left >= th.frames.length) {
        left -= th.frames.length;
        continue;
      }
      th.cut += th.frames.length - left;
      th.frames.splice(0, th.frames.length - left);
      threads.length = t + 1;
      return;
    }
  }

  /**
   * A copier copies the coroutine Lua code resumes (RESUMED_ARG) with the main chain, where no host
   * resumes coroutines from C: then the host's words are copied instead (callChain, capture).
   */
  private copiesResumed(hostedSlots: readonly number[]): boolean {
    return this.chain !== null && hostedSlots.length === 0;
  }

  /**
   * The main thread's call chain, and the coroutines a host resumes from C through `hostedSlots`
   * (made anew: the threads of a host that share the state keep their coroutines in words of their own).
   */
  callChain(hostedSlots: readonly number[] = []): CallChain | null {
    const chain = this.chain;
    if (chain === null) return chain;
    const { state, callinfo, tvalue, tags, closure } = this.layout;
    return {
      ...chain,
      hosted: {
        slots: this.copiesResumed(hostedSlots) ? [RESUMED_ARG] : hostedSlots.slice(0, MAX_HOSTED_SLOTS),
        stateBytes: state.size,
        ciAt: state.ci,
        baseCiAt: state.base_ci,
        funcAt: callinfo.func,
        slotBytes: this.cap.slotBytes,
        resumed: {
          valueAt: tvalue.size,
          tagAt: tvalue.tt,
          tag: tags.thread,
          closureTag: tags.cClosure,
          upvalueAt: closure.cupvalue,
        },
      },
    };
  }

  torn(raw: unknown): boolean {
    return (raw as PucSample).stack.threads.some((t) => t.cut > 0);
  }

  /** The C function a frame runs, when it runs one. */
  private cfunc(f: RawFrame): number | undefined {
    const tags = this.layout.tags;
    if (f.funcTag === tags.lightC) return f.funcValue;
    if (f.funcTag === tags.cClosure && f.closure && f.closure.length >= this.layout.closure.cf + 8)
      return u64(f.closure, this.layout.closure.cf);
    return undefined;
  }
}
