/** LuaJIT as a LuaRuntime: capture while stopped (with the registers), resolve afterwards. */
import type { Memory } from '../../os/memory.js';
import type { Registers } from '../../os/registers.js';
import type { LuaFrame } from '../frames.js';
import type { LuaRuntime } from '../runtime.js';
import { LuaJitCapture, type RawLuaJitStack } from './capture.js';
import type { LjLayout } from './layout.js';
import { LuaJitResolver } from './resolve.js';

export class LuaJitRuntime implements LuaRuntime {
  readonly wantsRegs = true;
  readonly cap: LuaJitCapture;
  readonly resolver: LuaJitResolver;

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

  resolve(raw: unknown): { frames: LuaFrame[]; truncated: boolean } {
    return this.resolver.resolve(raw as RawLuaJitStack);
  }
}
