import { describe, expect, it } from 'vitest';
import { asm, assemble } from '../sampler/os/bpf.js';
import { MAX_CHAIN, MAX_CHAIN_RECORD, MAX_HOSTED_SLOTS, RESUMED_ARG } from '../sampler/os/call-chain.js';
import {
  CHAIN_ARRAY,
  CHAIN_AT,
  HOSTED_AT,
  MAX_BYTES,
  MAX_SPAN,
  MAX_SPANS,
  PLAN_HEADER,
  PLAN_VALUE_BYTES,
  SPAN_BYTES,
  encodePlan,
  tickProgram,
} from '../sampler/copier/tick-program.js';
import { iovOf } from './helpers/iov.js';

describe('BPF assembler', () => {
  it('encodes opcode, registers, offset and immediate as the kernel reads them', () => {
    const code = assemble([asm.mov(0, -1), asm.store32(10, -4, 7), asm.exit()]);
    expect(code.toString('hex')).toBe('b7000000ffffffff' + '637afcff00000000' + '9500000000000000');
  });

  it('a map fd is a two-instruction load with the pseudo map-fd source', () => {
    const code = assemble([asm.loadMap(1, 42)]);
    expect(code.toString('hex')).toBe('181100002a000000' + '0000000000000000');
  });

  it('jumps to labels, forward and back, counted from the next instruction', () => {
    const code = assemble([
      asm.label('top'),
      asm.jumpIfEq(1, 0, 'end'),
      asm.add(1, -1),
      asm.jump('top'),
      asm.label('end'),
      asm.exit(),
    ]);
    expect(code.readInt16LE(2)).toBe(2); // jeq → exit
    expect(code.readInt16LE(16 + 2)).toBe(-3); // ja → jeq
    expect(() => assemble([asm.jump('nowhere')])).toThrow(/nowhere/);
  });

  it('the tick program assembles with its maps and ends in exit', () => {
    const code = tickProgram({ plans: 3, scratch: 4, ring: 5, lost: 6 });
    expect(code.length % 8).toBe(0);
    expect(code.readUInt8(code.length - 8)).toBe(0x95);
  });

  it("heads each converging loop with may_goto, and none of the walked ones (the spans', the chain's, each hosted chain's)", () => {
    const maps = { plans: 3, scratch: 4, ring: 5, lost: 6 };
    const mayGotos = (code: Buffer) => {
      let n = 0;
      for (let i = 0; i < code.length; i += 8) if (code.readUInt8(i) === 0xe5) n++;
      return n;
    };
    expect(mayGotos(tickProgram(maps, 'converging'))).toBe(2 + MAX_HOSTED_SLOTS);
    expect(mayGotos(tickProgram(maps, 'walked'))).toBe(0);
  });
});

describe('tick plans', () => {
  it('lays out spans with their offsets in the copy', () => {
    const out = Buffer.alloc(PLAN_VALUE_BYTES);
    const offsets = encodePlan(
      iovOf([
        [0x1000, 100],
        [0x9000, 28],
      ]),
      2,
      128,
      7,
      out,
    );
    expect(offsets).toEqual([0, 100]);
    expect([out.readUInt32LE(0), out.readUInt32LE(4), out.readUInt32LE(8)]).toEqual([2, 128, 7]);
    const second = PLAN_HEADER + SPAN_BYTES;
    expect(Number(out.readBigUInt64LE(second))).toBe(0x9000);
    expect([out.readUInt32LE(second + 8), out.readUInt32LE(second + 12)]).toEqual([28, 100]);
  });

  it("describes the call chain after the spans, and none when a record is too long for the program's entries", () => {
    const out = Buffer.alloc(PLAN_VALUE_BYTES);
    const chain = { head: 0x5000, stop: 0x5060, recordBytes: 80, nextAt: 16 };
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 1, out, 0, chain);
    expect(Number(out.readBigUInt64LE(CHAIN_AT))).toBe(0x5000);
    expect(Number(out.readBigUInt64LE(CHAIN_AT + 8))).toBe(0x5060);
    expect([0, 4, 8].map((k) => out.readUInt32LE(CHAIN_AT + 16 + k))).toEqual([80, MAX_CHAIN, 16]);
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 2, out, 0, { ...chain, recordBytes: MAX_CHAIN_RECORD + 8 });
    expect(out.readUInt32LE(CHAIN_AT + 20)).toBe(0);
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 3, out, 0, { ...chain, nextAt: 76 });
    expect(out.readUInt32LE(CHAIN_AT + 20)).toBe(0);
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 4, out);
    expect(out.readUInt32LE(CHAIN_AT + 20)).toBe(0);
  });

  it("flags a chain whose records are an array (5.1's CallInfo), and clears the flag for a list", () => {
    const out = Buffer.alloc(PLAN_VALUE_BYTES);
    const array = { head: 0x5000 + 40, stop: 0x5000 + 80, recordBytes: 40, nextAt: 0, array: true };
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 1, out, 0, array);
    expect(out.readUInt32LE(CHAIN_AT + 28)).toBe(CHAIN_ARRAY);
    expect([0, 4, 8].map((k) => out.readUInt32LE(CHAIN_AT + 16 + k))).toEqual([40, MAX_CHAIN, 0]);
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 2, out, 0, { ...array, array: false, nextAt: 16 });
    expect(out.readUInt32LE(CHAIN_AT + 28)).toBe(0);
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 3, out, 0, array);
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 4, out);
    expect(out.readUInt32LE(CHAIN_AT + 28)).toBe(0);
  });

  it('describes the hosted coroutines after the chain, and none where the program could not copy them', () => {
    const out = Buffer.alloc(PLAN_VALUE_BYTES);
    const hosted = {
      slots: [0x7f00, 0x7f08],
      stateBytes: 200,
      ciAt: 32,
      baseCiAt: 64,
      funcAt: 0,
      slotBytes: 32,
    };
    const chain = { head: 0x5000, stop: 0x5060, recordBytes: 64, nextAt: 16, hosted };
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 1, out, 0, chain);
    const slots = [0, 1, 2, 3].map((k) => Number(out.readBigUInt64LE(HOSTED_AT + 8 * k)));
    expect(slots).toEqual([0x7f00, 0x7f08, 0, 0]);
    const words = (at: number) =>
      [0, 4, 8, 12, 16].map((k) => out.readUInt32LE(at + 8 * MAX_HOSTED_SLOTS + k));
    expect(words(HOSTED_AT)).toEqual([200, 32, 64, 0, 32]);
    // A state that fits one entry (the program counts two), a record too short for its `func`, too many words.
    for (const bad of [
      { ...hosted, stateBytes: 100 },
      { ...hosted, funcAt: 60 },
      { ...hosted, slots: [1, 2, 3, 4, 5] },
    ]) {
      encodePlan(iovOf([[0x1000, 8]]), 1, 8, 2, out, 0, { ...chain, hosted: bad });
      expect(out.readBigUInt64LE(HOSTED_AT)).toBe(0n);
      expect(words(HOSTED_AT)[0]).toBe(0);
    }
  });

  it("describes the coroutine the main chain's innermost record resumes: its argument's offsets and a thread's tag", () => {
    const out = Buffer.alloc(PLAN_VALUE_BYTES);
    const hosted = {
      slots: [0x7f00, RESUMED_ARG],
      stateBytes: 200,
      ciAt: 32,
      baseCiAt: 64,
      funcAt: 0,
      slotBytes: 32,
      resumed: { valueAt: 16, tagAt: 8, tag: 0x48, closureTag: 0x66, upvalueAt: 32 },
    };
    const chain = { head: 0x5000, stop: 0x5060, recordBytes: 64, nextAt: 16, hosted };
    const words = () =>
      [0, 4, 8, 12, 16, 20, 24, 28, 32, 36].map((k) =>
        out.readUInt32LE(HOSTED_AT + 8 * MAX_HOSTED_SLOTS + k),
      );
    encodePlan(iovOf([[0x1000, 8]]), 1, 8, 1, out, 0, chain);
    expect(Number(out.readBigUInt64LE(HOSTED_AT + 8))).toBe(RESUMED_ARG);
    expect(words()).toEqual([200, 32, 64, 0, 32, 16, 8, 0x48, 0x66, 32]);
    // Without where the argument is, or with offsets the program's masks would cut: no hosted coroutines.
    for (const resumed of [
      undefined,
      { valueAt: 256, tagAt: 8, tag: 0x48, closureTag: 0x66, upvalueAt: 32 },
      { valueAt: 16, tagAt: 8, tag: 300, closureTag: 0x66, upvalueAt: 32 },
    ]) {
      encodePlan(iovOf([[0x1000, 8]]), 1, 8, 2, out, 0, { ...chain, hosted: { ...hosted, resumed } });
      expect(out.readBigUInt64LE(HOSTED_AT)).toBe(0n);
      expect(words()).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
  });

  it('cuts a span longer than the program copies at once into several', () => {
    const out = Buffer.alloc(PLAN_VALUE_BYTES);
    const len = 2 * MAX_SPAN + 5;
    const offsets = encodePlan(
      iovOf([
        [0x10, 8],
        [0x4000, len],
      ]),
      2,
      8 + len,
      1,
      out,
    );
    expect(offsets).toEqual([0, 8, 8 + MAX_SPAN, 8 + 2 * MAX_SPAN]);
    const last = PLAN_HEADER + 3 * SPAN_BYTES;
    expect(Number(out.readBigUInt64LE(last))).toBe(0x4000 + 2 * MAX_SPAN);
    expect(out.readUInt32LE(last + 8)).toBe(5);
  });

  it('refuses plans the program cannot copy: too many spans, too many bytes, a wrong total', () => {
    const out = Buffer.alloc(PLAN_VALUE_BYTES);
    const many = Array.from({ length: MAX_SPANS + 1 }, (_, i): [number, number] => [0x1000 * (i + 1), 8]);
    expect(encodePlan(iovOf(many), many.length, 8 * many.length, 1, out)).toBeNull();
    expect(encodePlan(iovOf([[0x1000, MAX_BYTES + 1]]), 1, MAX_BYTES + 1, 1, out)).toBeNull();
    expect(encodePlan(iovOf([[0x1000, 64]]), 1, 65, 1, out)).toBeNull();
    expect(encodePlan(iovOf([]), 0, 0, 1, out)).toBeNull();
  });
});
