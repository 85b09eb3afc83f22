/** Attaching to LuaJIT. */
import { LuaprofError } from '../../errors.js';
import type { AttachContext } from '../attach.js';
import { supportedVersions } from '../layouts.js';
import type { LuaRuntime } from '../runtime.js';

export function attachLuaJit(ctx: AttachContext): LuaRuntime {
  throw new LuaprofError(
    'unsupportedVersion',
    `process ${ctx.pid} runs LuaJIT ${ctx.detection.version} (${ctx.detection.file}); supported: ${supportedVersions().join(', ')}`,
  );
}
