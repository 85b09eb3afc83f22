/**
 * Finding LuaJIT's global states thread by thread: a host whose threads each create their own state
 * (sysbench's workers, a server's per-thread VMs) has one global_State per thread, and no global
 * points at them. While a thread runs the VM, r14 holds DISPATCH (G + g2disp); otherwise a validated
 * thread among the words its registers and stack point at names G. The runtime then follows
 * G->cur_L itself, coroutines included.
 */
import type { NativeFrame } from '../../native/index.js';
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, readMany } from '../../os/memory.js';
import type { MapEntry } from '../../os/procfs.js';
import type { Registers } from '../../os/registers.js';
import {
  RuntimesByState,
  type RunningThreads,
  type StateDiscovery,
  type ThreadStates,
} from '../discovery.js';
import { runningCandidates, stateCandidates } from '../puc/discovery.js';
import type { LuaRuntime } from '../runtime.js';
import { validateThread } from './attach.js';
import type { LjLayout } from './layout.js';
import { LuaJitRuntime } from './runtime.js';

export class LuaJitDiscovery implements StateDiscovery {
  readonly followsRunning = true;
  /** The layout each global state validated with. */
  private readonly layoutOf = new Map<number, LjLayout>();
  private readonly runtimes: RuntimesByState;

  constructor(
    private readonly mem: Memory,
    private readonly layouts: readonly LjLayout[],
    version: string,
  ) {
    this.runtimes = new RuntimesByState(
      (main, G) => new LuaJitRuntime(version, this.layoutOf.get(G) ?? layouts[0], main, G, mem),
    );
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

  learn(
    thread: ThreadStates,
    frames: readonly NativeFrame[],
    stack: { addr: number; bytes: Buffer },
    maps: readonly MapEntry[],
  ): boolean {
    if (thread.runtime) return false;
    const r14 = frames[0]?.regs.r14;
    const found =
      (r14 !== undefined ? this.fromDispatch(r14) : null) ??
      this.firstValid(stateCandidates(frames, stack, maps).map((c) => c.value));
    if (!found) return false;
    thread.runtime = this.runtimeFor(found.main, found.G);
    return true;
  }

  runningThreads(
    regs: Registers,
    stack: { addr: number; bytes: Buffer },
    maps: readonly MapEntry[],
    G?: number,
  ): RunningThreads | null {
    const found = this.fromDispatch(regs.r14) ?? this.firstValid(runningCandidates(regs, stack, maps));
    if (!found || (G !== undefined && found.G !== G)) return null;
    return { ...found, threads: [] };
  }

  /** LuaJIT follows the running coroutine itself (G->cur_L): no stop is needed to find it. */
  runsNothing(): boolean {
    return false;
  }

  looksHosted(): boolean {
    return false;
  }

  /** r14 while the VM runs: DISPATCH, at a fixed offset from G in the GG_State block. */
  private fromDispatch(r14: number): { G: number; main: number } | null {
    for (const l of this.layouts) {
      const G = r14 - l.gg.g2disp;
      if (!isPlausiblePtr(G)) continue;
      const v = validateThread(this.mem, l, G - l.gg.g);
      if (v && v.G === G) return this.keep(l, v);
    }
    return null;
  }

  /** The first candidate that is a valid thread of some global state (thread tag checked in one batch). */
  private firstValid(cands: readonly number[]): { G: number; main: number } | null {
    const heads = readMany(
      this.mem,
      cands.map((addr) => ({ addr, len: 16 })),
    );
    for (const l of this.layouts)
      for (let i = 0; i < cands.length; i++) {
        if (heads[i]?.[9] !== l.gct.thread) continue;
        const v = validateThread(this.mem, l, cands[i]);
        if (v) return this.keep(l, v);
      }
    return null;
  }

  private keep(l: LjLayout, v: { mainL: number; G: number }): { G: number; main: number } {
    this.layoutOf.set(v.G, l);
    return { G: v.G, main: v.mainL };
  }
}
