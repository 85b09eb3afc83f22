/** Frames that stand for a state rather than a function: made here and nowhere else. */
import type { Frame } from '../aggregator/profile.js';

export const GC_FRAME: Frame = { kind: 'gc', name: '[GC]' };
export const IDLE_FRAME: Frame = { kind: 'idle', name: '[idle]' };
/** The stack was deeper than the walker follows: its outermost frames are cut. */
export const TRUNCATED_FRAME: Frame = { kind: 'c', name: '[truncated]' };
/**
 * A copy of a running thread tore above the frames under it: what they were calling could not be read
 * consistently (a call or return landed while the copy was taken), so it is left out.
 */
export const TORN_FRAME: Frame = { kind: 'c', name: '[torn]' };
/** LuaJIT machine code (an anonymous executable mapping) in a native stack. */
export const JIT_TRACE_LABEL = '[LuaJIT trace]';

/**
 * A sample's stack (innermost first) with its synthetic frames: [idle] innermost of all, [GC] on top
 * of the Lua frame that triggered the collector, [torn] in place of frames a copy could not read
 * whole, [truncated] outermost. `frames` is left as it is: returned itself when none is added.
 */
export function withSyntheticFrames(
  frames: Frame[],
  state: { gc: boolean; idle: boolean; truncated: boolean; torn?: boolean },
): Frame[] {
  const torn = state.torn === true && frames.length > 0;
  const gc = state.gc && frames.length > 0;
  if (!torn && !gc && !state.idle && !state.truncated) return frames;
  const out: Frame[] = [];
  if (state.idle) out.push(IDLE_FRAME);
  if (gc) out.push(GC_FRAME);
  if (torn) out.push(TORN_FRAME);
  for (const f of frames) out.push(f);
  if (state.truncated) out.push(TRUNCATED_FRAME);
  return out;
}
