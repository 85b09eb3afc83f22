/**
 * LuaJIT varargs as debug.getlocal(level, -k) lists them, read from synthetic memory: the extra
 * arguments after the fixed parameters in the frame below the FRAME_VARG frame, bounded when the
 * frame distance is hostile (no process).
 */
import { describe, expect, it } from 'vitest';
import { SnapshotMemory } from '../sampler/os/memory.js';
import { candidateLayouts } from '../sampler/lua/luajit/layout.js';
import { LjLocals } from '../sampler/lua/luajit/locals.js';
import type { RawLevel, RawLuaJitStack } from '../sampler/lua/luajit/capture.js';

const l = candidateLayouts('2.1.0-beta3')[0];
const PROTO = 0x7f00_0001_0000;
const BC = PROTO + l.proto.size;
const STACK = 0x7f00_0002_0000;

/** A prototype with `numparams` fixed parameters, 4 instructions, no local names. */
function proto(numparams: number, vararg: boolean): Buffer {
  const b = Buffer.alloc(l.proto.size + 16);
  b[9] = l.gct.proto;
  b[l.proto.numparams] = numparams;
  b[l.proto.flags] = vararg ? l.proto.varargFlag : 0;
  b.writeUInt32LE(4, l.proto.sizebc);
  return b;
}

/** GC64 TValues: a double, nil, true. */
const num = (x: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return b;
};
const NIL = Buffer.alloc(8, 0xff);
const TRUE = Buffer.alloc(8);
TRUE.writeBigInt64LE(~(2n << 47n));

/** One interpreted level whose frame base is `base`, its original frame's base `varargBase`. */
function read(p: Buffer, base: number, varargBase: number | undefined, slots: Buffer[]) {
  const fhdr = Buffer.alloc(l.func.headerLen);
  fhdr[9] = l.gct.func;
  fhdr.writeBigUInt64LE(BigInt(BC), l.func.pc);
  const lv: RawLevel = { func: 0x7f00_0003_0000, fhdr, callerPc: 0, linkType: 0, base, varargBase };
  const raw: RawLuaJitStack = {
    G: 0,
    vmstate: ~l.vmst.interp,
    trace: null,
    threads: [{ L: 0, levels: [lv], topPc: BC + 8, truncated: false }],
    baseFrom: 'register',
    base,
  };
  const mem = new SnapshotMemory([
    { addr: PROTO, bytes: p },
    { addr: STACK, bytes: Buffer.concat(slots) },
  ]);
  const reader = new LjLocals(mem, l, { lookup: () => undefined, ffidName: () => undefined } as never);
  return { locals: reader.read(raw, false)[0]!.locals!, mem };
}

describe('LuaJIT varargs', () => {
  // f(a, b, ...) called with 5 arguments: a b "x" nil true in the original frame, then the copied
  // function and its FRAME_VARG link, then the new frame (a and b copied up).
  const original = [num(1), num(2), num(1.5), NIL, TRUE];
  const moved = [num(0), num(0), num(1), num(2)];
  const slots = [...original, ...moved];
  const base = STACK + 8 * (original.length + 2);

  it('lists the extra arguments after the fixed parameters, as (*vararg)', () => {
    const { locals } = read(proto(2, true), base, STACK, slots);
    expect(locals).toEqual([
      { name: '(*vararg)', type: 'number', value: '1.5' },
      { name: '(*vararg)', type: 'nil', value: 'nil' },
      { name: '(*vararg)', type: 'boolean', value: 'true' },
    ]);
  });

  it('lists none for a function without PROTO_VARARG, or a frame the walker did not see collapse', () => {
    expect(read(proto(2, false), base, STACK, slots).locals).toEqual([]);
    expect(read(proto(2, true), base, undefined, slots).locals).toEqual([]);
  });

  it('stays bounded on hostile frame distances', () => {
    // Above the frame, misaligned, or megabytes apart: nothing, or at most 256 values read once.
    expect(read(proto(2, true), base, base + 64, slots).locals).toEqual([]);
    expect(read(proto(2, true), base, STACK + 3, slots).locals).toEqual([]);
    const far = read(proto(0, true), STACK + (8 << 20), STACK, slots);
    expect(far.locals).toEqual([]);
    expect(far.mem.bytesRead).toBeLessThan(8192);
  });
});
