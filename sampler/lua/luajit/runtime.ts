/** LuaJIT as a LuaRuntime: capture with the registers of the instant (a stop's or a switch-out's), resolve afterwards. */
import type { Memory } from '../../os/memory.js';
import type { Registers } from '../../os/registers.js';
import type { InterpreterCode } from '../../native/interpreter-code.js';
import type { LuaRuntime, NativeHints, ResolvedLua } from '../runtime.js';
import { LuaJitCapture, type RawLuaJitStack } from './capture.js';
import type { LjLayout } from './layout.js';
import { LuaJitResolver } from './resolve.js';
import { readVmCode } from './vm-code.js';

/** Samples between two tries at reading the dispatch table when it did not validate. */
const VM_CODE_RETRY = 100;

export class LuaJitRuntime implements LuaRuntime {
  readonly wantsRegs = true;
  readonly cap: LuaJitCapture;
  readonly resolver: LuaJitResolver;
  private vmCode: InterpreterCode | null = null;
  private vmCodeWait = 0;

  constructor(
    readonly version: string,
    readonly layout: LjLayout,
    readonly mainL: number,
    readonly G: number,
    resolveMem: Memory,
    clock?: () => number,
  ) {
    this.cap = new LuaJitCapture(layout, G, mainL);
    this.resolver = new LuaJitResolver(resolveMem, layout, G, clock);
    this.learnFfids();
  }

  /** coroutine.resume's fast-function id (and wrap_aux, defined right after it in lib_base.c). */
  learnFfids(): void {
    for (let ffid = 2; ffid < 256; ffid++) {
      if (this.resolver.globals.ffidName(ffid) === 'coroutine.resume') {
        this.cap.resumeFfid = ffid;
        this.cap.wrapAuxFfid = ffid + 1;
        return;
      }
    }
  }

  capture(mem: Memory, regs?: Partial<Registers>): RawLuaJitStack {
    return this.cap.capture(mem, regs);
  }

  runningThread(): number {
    return this.cap.lastRunning;
  }

  /** A capture without stopping the thread: only outside the interpreter, validated (LuaJitCapture.captureRunning). */
  captureRunning(copy: Memory, live: Memory): RawLuaJitStack {
    return this.cap.captureRunning(copy, live);
  }

  /** The VM's code, named from the dispatch table (read once: the handlers never move), and its C frame. */
  nativeHints(raw: unknown, mem: Memory): NativeHints {
    if (!this.vmCode && this.vmCodeWait-- <= 0) {
      this.vmCode = readVmCode(mem, this.layout, this.G);
      this.vmCodeWait = VM_CODE_RETRY;
    }
    const cframe = (raw as RawLuaJitStack).cframe;
    return { ...(this.vmCode ? { code: this.vmCode } : {}), ...(cframe ? { vmFrameSp: cframe } : {}) };
  }

  /** The collector's time shows as a [GC] frame of LuaJIT's own vmstate (resolve.ts), not as the gc flag. */
  resolve(raw: unknown): ResolvedLua {
    return { ...this.resolver.resolve(raw as RawLuaJitStack), gc: false };
  }
}
