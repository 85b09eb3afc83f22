/**
 * `dump --locals`: one look at every Lua frame's local variables. The thread is stopped for the read
 * (locals change as it runs); the frames the read saw are resolved afterwards like any sample's, so
 * the caller can check they are the frames it prints.
 */
import type { RemoteMemory } from './os/remote-memory.js';
import { pauseThread } from './pause.js';
import type { LuaFrame } from './lua/frames.js';
import { PucLocals, type FrameLocals } from './lua/puc/locals.js';
import { PucRuntime } from './lua/puc/runtime.js';
import type { LuaRuntime } from './lua/runtime.js';

export type { FrameLocals };

/** A thread's frames as the locals read saw them, with each frame's locals (null: no Lua function). */
export interface ThreadLocals {
  frames: LuaFrame[];
  locals: (FrameLocals | null)[];
}

/** Reads the locals of one thread's Lua frames while it is stopped; null when the runtime has no reader. */
export function readThreadLocals(
  tid: number,
  runtime: LuaRuntime,
  mem: RemoteMemory,
  upvalues: boolean,
): ThreadLocals | null {
  if (!(runtime instanceof PucRuntime)) return null;
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
