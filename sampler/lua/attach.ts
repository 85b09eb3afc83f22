/** Picks the runtime reader for a detected Lua and finds its state in the target. */
import { attachLuaJit } from './luajit/attach.js';
import { attachPuc } from './puc/attach.js';
import type { AttachContext, LuaRuntime } from './runtime.js';

export function attachRuntime(ctx: AttachContext): LuaRuntime {
  return ctx.detection.flavour === 'luajit' ? attachLuaJit(ctx) : attachPuc(ctx);
}
