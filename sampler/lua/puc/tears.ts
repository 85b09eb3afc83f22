/**
 * A copy of a running thread can tear: Lua reuses CallInfo records and stack slots while the copy is
 * taken, so the chain read may mix frames from different moments. These checks find a chain that
 * cannot have existed, from what the walk already read. On the raw copy (right after the walk, so a
 * torn copy is taken again within µs): each frame's slot holds a function of the kind (Lua or C) its
 * call record says, and frames sit in stack order. With the functions' code (at resolve): a Lua
 * frame's saved pc lies inside its own function, a callee sits in the slot its caller's OP_CALL put
 * it in, and a callee called through a local variable is that variable's value.
 */
import { u64 } from '../../os/memory.js';
import type { RawFrame, RawThread, StackSpan } from './capture.js';
import { instructionFormat, opcodeIndex } from './instructions.js';
import { tvTag, type PucLayout } from './layout.js';
import type { ProtoInfo } from './proto.js';

/**
 * How many of a thread's innermost frames (frames are innermost first, as captured) cannot be trusted:
 * the frames above the outermost one that fails a check. The frames below it are older than the
 * copy's window and whole; the torn ones are those called (or returned from) while it was taken.
 */
export function tornFrames(layout: PucLayout, frames: readonly RawFrame[]): number {
  const tags = layout.tags;
  const { lua, c } = layout.callinfo.bits;
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i];
    const caller = frames[i + 1];
    const isFunction =
      f.funcTag === tags.luaClosure || f.funcTag === tags.cClosure || f.funcTag === tags.lightC;
    if (!isFunction || (caller && caller.func >= f.func)) return i + 1;
    // The call record says Lua or C (5.2+): its function slot, read at another moment, must agree.
    const recordSaysLua =
      lua !== undefined ? (f.callstatus & lua) !== 0 : c !== undefined ? (f.callstatus & c) === 0 : null;
    if (recordSaysLua !== null && recordSaysLua !== (f.funcTag === tags.luaClosure)) return i + 1;
  }
  return 0;
}

/**
 * Like tornFrames, with the functions' code: saved pcs, the slots OP_CALL put callees in, and (when
 * the caller called a local variable) the callee is that variable's value: a caller's saved pc copied
 * at another moment than its callee's frame would name the callee after another call. Frames above
 * index `from` were checked before, each with its caller (the same frames, as recalled).
 */
export function tornCalls(
  layout: PucLayout,
  t: RawThread,
  protos: readonly (ProtoInfo | null)[],
  calleeLocal: (caller: ProtoInfo, pc: number) => number = () => -1,
  from = t.frames.length - 1,
): number {
  const fmt = instructionFormat(layout);
  const callOp = opcodeIndex(layout).num.CALL;
  const tv = layout.tvalue.size;
  const frames = t.frames;
  for (let i = Math.min(from, frames.length - 1); i >= 0; i--) {
    const f = frames[i];
    const p = protos[i];
    if (p && p.pcOf(f.savedpc) === -2) return i + 1;
    const caller = frames[i + 1];
    const cp = protos[i + 1];
    if (!caller || !cp) continue;
    const pc = cp.pcOf(caller.savedpc);
    const code = pc >= 0 ? cp.code() : null;
    if (!code || pc >= code.length) continue;
    const ins = code[pc];
    if (fmt.op(ins) !== callOp) continue;
    // 5.4: a frame's base is its function's slot + 1; earlier releases keep it (varargs move it up).
    const base = caller.base ?? caller.func + tv;
    const slot = base + tv * fmt.a(ins);
    if (f.func !== slot && !movedByVarargs(layout, t, p, f, slot)) return i + 1;
    // A tail call replaced the function the caller called.
    const local = isTailCall(layout, f) ? -1 : calleeLocal(cp, pc);
    if (local >= 0 && t.stack && holdsOtherFunction(layout, t.stack, base + tv * local, f)) return i + 1;
  }
  return 0;
}

/** Arguments a vararg call may pass, at most (a bound for the distance its frame moves). */
const MAX_VARARG_MOVE = 1 << 16;

/**
 * 5.4 moves a vararg function's frame above its arguments (luaT_adjustvarargs copies the function up;
 * its first instruction, VARARGPREP, prepares that). The slot OP_CALL put it in still holds it.
 */
function movedByVarargs(
  layout: PucLayout,
  t: RawThread,
  p: ProtoInfo | null,
  f: RawFrame,
  slot: number,
): boolean {
  const prep = opcodeIndex(layout).num.VARARGPREP;
  const code = p && prep !== undefined ? p.code() : null;
  if (!code || code.length === 0 || instructionFormat(layout).op(code[0]) !== prep) return false;
  const tv = layout.tvalue.size;
  if (f.func <= slot || f.func - slot > tv * MAX_VARARG_MOVE || (f.func - slot) % tv !== 0) return false;
  return !(t.stack && holdsOtherFunction(layout, t.stack, slot, f));
}

function isTailCall(layout: PucLayout, f: RawFrame): boolean {
  const tail = layout.callinfo.bits.tail;
  return tail !== undefined ? (f.callstatus & tail) !== 0 : (f.tailcalls ?? 0) > 0;
}

/**
 * The stack slot at addr (when in the copied span) holds a function other than the frame's. (A
 * callable table or userdata is replaced by its __call handler in the frame.)
 */
function holdsOtherFunction(layout: PucLayout, stack: StackSpan, addr: number, f: RawFrame): boolean {
  const tv = layout.tvalue;
  const tags = layout.tags;
  if (addr < stack.addr || addr - stack.addr + tv.size > stack.len) return false;
  const off = stack.at + addr - stack.addr;
  const tag = tvTag(layout, stack.bytes, off);
  if (tag !== tags.luaClosure && tag !== tags.cClosure && tag !== tags.lightC) return false;
  return tag !== f.funcTag || u64(stack.bytes, off) !== f.funcValue;
}
