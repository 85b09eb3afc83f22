/**
 * One Lua runtime inside a target: how to capture its stack while the target is stopped, and how to
 * turn that capture into frames afterwards.
 */
import type { Memory } from '../os/memory.js';
import type { Registers } from '../os/registers.js';
import type { LuaFrame } from './frames.js';
import type { PucLayout } from './layout.js';
import { PucCapture, type RawLuaStack } from './puc/capture.js';
import { PucResolver } from './puc/resolve.js';

export interface LuaRuntime {
  readonly version: string;
  /** Asks for the stopped thread's registers in capture() (one PTRACE_GETREGS per sample). */
  readonly wantsRegs?: boolean;
  /** Runs while the target is stopped: copy only what changes. */
  capture(mem: Memory, regs?: Registers): unknown;
  /** Runs after the target is let go. */
  resolve(raw: unknown): { frames: LuaFrame[]; truncated: boolean };
}

export class PucRuntime implements LuaRuntime {
  private readonly cap: PucCapture;
  private readonly resolver: PucResolver;

  constructor(
    readonly version: string,
    readonly layout: PucLayout,
    readonly mainL: number,
    readonly G: number,
    resolveMem: Memory,
  ) {
    this.cap = new PucCapture(layout);
    this.resolver = new PucResolver(resolveMem, layout, G);
    this.resolveMem = resolveMem;
  }

  private readonly resolveMem: Memory;

  capture(mem: Memory): RawLuaStack {
    return this.cap.capture(mem, this.mainL, this.G);
  }

  resolve(raw: unknown): { frames: LuaFrame[]; truncated: boolean } {
    this.cap.fill(this.resolveMem, raw as RawLuaStack);
    return this.resolver.resolve(raw as RawLuaStack);
  }
}
