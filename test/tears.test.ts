/**
 * Tear checks on copies of a running thread (sampler/lua/puc/tears.ts): which innermost frames a
 * copy cannot vouch for, on hand-made chains of the 5.4.4 layout.
 */
import { describe, expect, it } from 'vitest';
import type { RawFrame, RawThread } from '../sampler/lua/puc/capture.js';
import { instructionFormat, opcodeIndex } from '../sampler/lua/puc/instructions.js';
import { layoutFor } from '../sampler/lua/puc/layouts.js';
import type { ProtoInfo } from '../sampler/lua/puc/proto.js';
import { tornCalls, tornFrames } from '../sampler/lua/puc/tears.js';

const layout = layoutFor('5.4.4')!;
const TV = layout.tvalue.size;
const STACK = 0x5000_0000;
const CODE = 0x6000_0000;

/** A frame whose function sits in stack slot `slot` and whose saved pc is instruction `pc` (+1: pc after it). */
function frame(slot: number, tag = layout.tags.luaClosure, pc = 0): RawFrame {
  return {
    ci: 0x7000_0000 + slot * 64,
    func: STACK + slot * TV,
    callstatus: tag === layout.tags.luaClosure ? 0 : layout.callinfo.bits.c!,
    savedpc: CODE + (pc + 1) * 4,
    funcTag: tag,
    funcValue: 0x1234,
    closure: null,
    protoAddr: 0,
    proto: null,
    arg1Tag: 0,
    arg1Value: 0,
  };
}

/** A Proto stand-in with the given code (instruction i at CODE + 4 i). */
function proto(code: number[]): ProtoInfo {
  return {
    pcOf: (savedpc: number) => {
      const pc = (savedpc - CODE) / 4 - 1;
      return Number.isInteger(pc) && pc >= -1 && pc < code.length ? pc : -2;
    },
    code: () => Uint32Array.from(code),
  } as unknown as ProtoInfo;
}

/** OP_CALL with register A (5.4 encoding: op in bits 0-6, A in 7-14). */
function call(a: number): number {
  const op = opcodeIndex(layout).num.CALL;
  const ins = op | (a << 7);
  expect(instructionFormat(layout).a(ins)).toBe(a);
  return ins;
}

const thread = (frames: RawFrame[]): RawThread => ({ L: 1, frames, truncated: false, cut: 0 });

describe('tornFrames (the raw copy)', () => {
  it('a whole chain: nothing to cut', () => {
    expect(tornFrames(layout, [frame(9), frame(5), frame(1, layout.tags.lightC)])).toBe(0);
  });

  it('a slot that holds no function cuts it and everything it called', () => {
    const frames = [frame(12), frame(9), frame(5, layout.tags.nil), frame(1)];
    expect(tornFrames(layout, frames)).toBe(3);
  });

  it('a slot whose function is not of the kind its call record says (Lua or C) is torn', () => {
    const frames = [frame(12), frame(9), frame(5), frame(1)];
    frames[1].callstatus = layout.callinfo.bits.c!;
    expect(tornFrames(layout, frames)).toBe(2);
  });

  it('frames out of stack order cut the inner one of the pair', () => {
    expect(tornFrames(layout, [frame(12), frame(4), frame(5), frame(1)])).toBe(2);
  });

  it('the outermost failure decides, whatever lies above it', () => {
    expect(
      tornFrames(layout, [frame(3, layout.tags.nil), frame(12), frame(9, layout.tags.nil), frame(1)]),
    ).toBe(3);
  });
});

describe('tornCalls (with the functions’ code)', () => {
  it('a callee in the slot its caller’s OP_CALL put it in is whole', () => {
    // The caller's function is in slot 1, its base slot 2: CALL A=3 puts the callee in slot 2 + 3 = 5.
    const t = thread([frame(5, layout.tags.luaClosure, 0), frame(1, layout.tags.luaClosure, 1)]);
    expect(tornCalls(layout, t, [proto([0]), proto([0, call(3)])])).toBe(0);
  });

  it('a callee elsewhere is torn', () => {
    const t = thread([frame(6, layout.tags.luaClosure, 0), frame(1, layout.tags.luaClosure, 1)]);
    expect(tornCalls(layout, t, [proto([0]), proto([0, call(3)])])).toBe(1);
  });

  it('a saved pc outside the function’s code is torn', () => {
    const t = thread([frame(5, layout.tags.luaClosure, 40), frame(1, layout.tags.luaClosure, 1)]);
    expect(tornCalls(layout, t, [proto([0, 0]), proto([0, call(3)])])).toBe(1);
  });

  it('a caller at another instruction (a metamethod call) is not checked against OP_CALL', () => {
    const t = thread([frame(7, layout.tags.luaClosure, 0), frame(1, layout.tags.luaClosure, 0)]);
    expect(tornCalls(layout, t, [proto([0]), proto([0, call(3)])])).toBe(0);
  });

  describe('a callee called through a local variable is that variable’s value', () => {
    /** The caller's stack from its function's slot up: the local in register 0 (slot 2) holds `value`. */
    function withLocal(value: number, tag = layout.tags.luaClosure): RawThread {
      const t = thread([frame(5, layout.tags.luaClosure, 0), frame(1, layout.tags.luaClosure, 1)]);
      const bytes = Buffer.alloc(8 * TV);
      bytes.writeUInt32LE(value, 2 * TV - TV);
      bytes[2 * TV - TV + layout.tvalue.tt] = tag;
      return { ...t, stack: { addr: STACK + TV, bytes, at: 0, len: bytes.length } };
    }
    const local0 = () => 0;

    it('the variable holds the callee: whole', () => {
      expect(tornCalls(layout, withLocal(0x1234), [proto([0]), proto([0, call(3)])], local0)).toBe(0);
    });

    it('the variable holds another function (the caller’s pc is from another call): torn', () => {
      expect(tornCalls(layout, withLocal(0x9999), [proto([0]), proto([0, call(3)])], local0)).toBe(1);
    });

    it('a tail call replaced the called function: not checked', () => {
      const t = withLocal(0x9999);
      t.frames[0].callstatus = layout.callinfo.bits.tail!;
      expect(tornCalls(layout, t, [proto([0]), proto([0, call(3)])], local0)).toBe(0);
    });

    it('the variable holds a callable table (its __call runs): not checked', () => {
      const t = withLocal(0x9999, layout.tags.table);
      expect(tornCalls(layout, t, [proto([0]), proto([0, call(3)])], local0)).toBe(0);
    });
  });

  it('5.1-5.3: the caller’s base comes from its CallInfo (a vararg function’s is above func + 1)', () => {
    const l51 = layoutFor('5.1.5')!;
    expect(l51.callinfo.base).toBeDefined();
    const code = opcodeIndex(l51).num.CALL | (3 << 6);
    expect(instructionFormat(l51).a(code)).toBe(3);
    const callee = frame(8, l51.tags.luaClosure, 0);
    const caller = { ...frame(1, l51.tags.luaClosure, 1), base: STACK + 5 * TV };
    callee.func = STACK + 8 * l51.tvalue.size;
    caller.func = STACK + l51.tvalue.size;
    caller.base = STACK + 5 * l51.tvalue.size;
    expect(tornCalls(l51, thread([callee, caller]), [proto([0]), proto([0, code])])).toBe(0);
    caller.base = STACK + 2 * l51.tvalue.size;
    expect(tornCalls(l51, thread([callee, caller]), [proto([0]), proto([0, code])])).toBe(1);
  });
});
