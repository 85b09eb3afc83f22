/**
 * `dump --locals`: one look at every Lua frame's local variables. The thread is stopped for the read
 * (locals change as it runs); the capture the read saw is resolved afterwards like any sample's, and
 * those are the frames shown, so every frame's locals belong to it.
 */
import { nameCFunctions, type CodeSymbols } from './c-function-names.js';
import { getRegs } from './os/ptrace.js';
import type { RemoteMemory } from './os/remote-memory.js';
import { pauseThread } from './pause.js';
import type { LuaFrame } from './lua/frames.js';
import type { RawLuaJitStack } from './lua/luajit/capture.js';
import { LjLocals } from './lua/luajit/locals.js';
import { LuaJitRuntime } from './lua/luajit/runtime.js';
import { PucLocals, type FrameLocals } from './lua/puc/locals.js';
import { PucRuntime } from './lua/puc/runtime.js';
import type { LuaRuntime } from './lua/runtime.js';

export type { FrameLocals };

/** A thread's frames as the locals read saw them, with each frame's locals (null: no Lua function). */
export interface ThreadLocals {
  frames: LuaFrame[];
  locals: (FrameLocals | null)[];
}

/**
 * Reads the locals of one thread's Lua frames while it is stopped; null when they cannot be lined up.
 * C functions Lua has no name for are named from `symbols` afterwards, the thread running again.
 */
export function readThreadLocals(
  tid: number,
  runtime: LuaRuntime,
  mem: RemoteMemory,
  upvalues: boolean,
  symbols: CodeSymbols,
): ThreadLocals | null {
  const read = readLocals(tid, runtime, mem, upvalues);
  if (read) nameCFunctions(read.locals, symbols);
  return read;
}

function readLocals(
  tid: number,
  runtime: LuaRuntime,
  mem: RemoteMemory,
  upvalues: boolean,
): ThreadLocals | null {
  if (runtime instanceof PucRuntime) {
    const reader = new PucLocals(mem, runtime.layout, runtime.G);
    const { value } = pauseThread(tid, () => {
      const raw = runtime.capture(mem);
      return { raw, locals: reader.read(raw.stack, upvalues) };
    });
    const resolved = runtime.resolve(value.raw);
    // Frames a copy tore are left out by the resolver: then nothing lines up.
    if (resolved.torn || resolved.frames.length !== value.locals.length) return null;
    return { frames: resolved.frames, locals: value.locals };
  }
  if (runtime instanceof LuaJitRuntime) {
    const reader = new LjLocals(mem, runtime.layout, runtime.resolver.globals);
    const { value } = pauseThread(tid, () => {
      const raw: RawLuaJitStack = runtime.capture(mem, getRegs(tid));
      return { raw, locals: reader.read(raw, upvalues) };
    });
    const { frames } = runtime.resolve(value.raw);
    const locals = value.locals;
    // The resolver puts the VM's state ([GC], a trace started elsewhere, …) on top as a frame of its own.
    if (frames.length === locals.length + 1) locals.unshift(null);
    if (frames.length !== locals.length) return null;
    // Inside a trace the innermost frames live in registers: their slots are stale.
    if (value.raw.trace && frames[0]?.kind === 'jit')
      locals[0] = { locals: null, unavailable: 'running inside a JIT trace' };
    return { frames, locals };
  }
  return null;
}
