/**
 * A copy of a running thread can tear: Lua reuses CallInfo records and stack slots while the copy is
 * taken, so the chain read may mix frames from different moments. These checks find a chain that
 * cannot have existed, from what the walk already read. On the raw copy (right after the walk, so a
 * torn copy is taken again within µs): each frame's slot holds a function, and frames sit in stack
 * order. With the functions' code (at resolve): a Lua frame's saved pc lies inside its own function,
 * and (5.4, where a frame's base is always func + 1) a callee sits in the slot its caller's OP_CALL
 * put it in.
 */
import type { RawFrame, RawThread } from './capture.js';
import { instructionFormat, opcodeIndex } from './instructions.js';
import type { PucLayout } from './layout.js';
import type { ProtoInfo } from './proto.js';

/**
 * How many of a thread's innermost frames (frames are innermost first, as captured) cannot be trusted:
 * the frames above the outermost one that fails a check. The frames below it are older than the
 * copy's window and whole; the torn ones are those called (or returned from) while it was taken.
 */
export function tornFrames(layout: PucLayout, frames: readonly RawFrame[]): number {
  const tags = layout.tags;
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i];
    const caller = frames[i + 1];
    const isFunction =
      f.funcTag === tags.luaClosure || f.funcTag === tags.cClosure || f.funcTag === tags.lightC;
    if (!isFunction || (caller && caller.func >= f.func)) return i + 1;
  }
  return 0;
}

/** Like tornFrames, with the functions' code: saved pcs and the slots OP_CALL put callees in. */
export function tornCalls(layout: PucLayout, t: RawThread, protos: readonly (ProtoInfo | null)[]): number {
  const fmt = instructionFormat(layout);
  const callOp = opcodeIndex(layout).num.CALL;
  const tv = layout.tvalue.size;
  const frames = t.frames;
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i];
    const p = protos[i];
    if (p && p.pcOf(f.savedpc) === -2) return i + 1;
    const caller = frames[i + 1];
    const cp = protos[i + 1];
    if (layout.family !== '5.4' || !caller || !cp) continue;
    const pc = cp.pcOf(caller.savedpc);
    const code = pc >= 0 ? cp.code() : null;
    if (!code || pc >= code.length) continue;
    const ins = code[pc];
    if (fmt.op(ins) === callOp && f.func !== caller.func + tv * (1 + fmt.a(ins))) return i + 1;
  }
  return 0;
}
