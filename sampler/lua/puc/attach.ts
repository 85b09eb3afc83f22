/** Attaching to PUC Lua: the layout for the detected release, then the main lua_State. */
import { LuaprofError } from '../../errors.js';
import type { AttachContext } from '../runtime.js';
import { chooseLayout, supportedVersions } from './layouts.js';
import { locateMainState } from './locate.js';
import { PucRuntime } from './runtime.js';

export function attachPuc(ctx: AttachContext): PucRuntime {
  const { pid, mem, maps, binaries, detection } = ctx;
  const choice = chooseLayout(detection.version);
  const layout = choice?.layout;
  if (!layout) {
    throw new LuaprofError(
      'unsupportedVersion',
      `process ${pid} runs Lua ${detection.version} (${detection.file}); supported: ${supportedVersions().join(', ')}`,
    );
  }
  let main = locateMainState(mem, layout, maps, binaries);
  if (!main) {
    // Not in a global: look at the registers and stack of the main thread, copied in a stop (the
    // search runs with the thread going on).
    const { regs, stack } = ctx.withMainStopped((r) => ({
      regs: r,
      stack: mem.read(r.rsp, 16384) ?? undefined,
    }));
    main = locateMainState(mem, layout, maps, [], { registers: Object.values(regs), stack });
  }
  if (!main)
    throw new LuaprofError(
      'noLua',
      choice?.nearest
        ? `no lua_State found in process ${pid} with the layout of Lua ${choice.release}, the newest release luaprof knows (Lua ${detection.version} is loaded: its structures may differ)`
        : `no lua_State found in process ${pid} (Lua ${detection.version} is loaded but no running state was found)`,
    );
  return new PucRuntime(`Lua ${detection.version}`, layout, main.L, main.G, mem);
}
