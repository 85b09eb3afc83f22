/** Picks the runtime reader for a detected Lua and finds its state in the target. */
import type { RemoteMemory } from '../os/remote-memory.js';
import type { MapEntry } from '../os/procfs.js';
import type { Registers } from '../os/registers.js';
import type { LuaDetection } from './detect.js';
import type { LuaRuntime } from './runtime.js';
import { attachPuc } from './puc/attach.js';
import { attachLuaJit } from './luajit/attach.js';

export interface AttachContext {
  pid: number;
  mem: RemoteMemory;
  maps: MapEntry[];
  /** Executable and mapped Lua libraries. */
  binaries: string[];
  detection: LuaDetection;
  /** Stops the main thread, runs fn with its registers, lets it go. */
  withMainStopped<T>(fn: (regs: Registers) => T): T;
}

export function attachRuntime(ctx: AttachContext): LuaRuntime {
  return ctx.detection.flavour === 'luajit' ? attachLuaJit(ctx) : attachPuc(ctx);
}
