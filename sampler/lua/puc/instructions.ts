/** Instruction field decoding per PUC family (lopcodes.h). */
import type { PucLayout } from './layout.js';

export interface InstructionFormat {
  op(i: number): number;
  a(i: number): number;
  b(i: number): number;
  c(i: number): number;
  k(i: number): number;
  bx(i: number): number;
  ax(i: number): number;
  sJ(i: number): number;
  sBx(i: number): number;
}

const bits = (i: number, pos: number, size: number): number => (i >>> pos) & ((1 << size) - 1);

/** 5.4: op 7 bits, A 8 at 7, k 1 at 15, B 8 at 16, C 8 at 24; Bx 17 at 15; sJ 25 at 7. */
const FORMAT_54: InstructionFormat = {
  op: (i) => bits(i, 0, 7),
  a: (i) => bits(i, 7, 8),
  k: (i) => bits(i, 15, 1),
  b: (i) => bits(i, 16, 8),
  c: (i) => bits(i, 24, 8),
  bx: (i) => bits(i, 15, 17),
  ax: (i) => i >>> 7,
  sJ: (i) => (i >>> 7) - ((1 << 24) - 1),
  sBx: (i) => bits(i, 15, 17) - ((1 << 16) - 1),
};

/** 5.1–5.3: op 6 bits, A 8 at 6, C 9 at 14, B 9 at 23; Bx 18 at 14. */
const FORMAT_51: InstructionFormat = {
  op: (i) => bits(i, 0, 6),
  a: (i) => bits(i, 6, 8),
  k: () => 0,
  b: (i) => bits(i, 23, 9),
  c: (i) => bits(i, 14, 9),
  bx: (i) => bits(i, 14, 18),
  ax: (i) => i >>> 6,
  sJ: (i) => bits(i, 14, 18) - ((1 << 17) - 1),
  sBx: (i) => bits(i, 14, 18) - ((1 << 17) - 1),
};

export function instructionFormat(layout: PucLayout): InstructionFormat {
  return layout.family === '5.4' ? FORMAT_54 : FORMAT_51;
}

/** Opcode numbers by name, and the setsA / mm sets as numeric lookups. */
export interface OpcodeIndex {
  num: Record<string, number>;
  setsA: Uint8Array;
  mm: Uint8Array;
}

const indexCache = new WeakMap<PucLayout, OpcodeIndex>();

export function opcodeIndex(layout: PucLayout): OpcodeIndex {
  let idx = indexCache.get(layout);
  if (!idx) {
    const t = layout.opcodes;
    const num: Record<string, number> = {};
    t.names.forEach((n, i) => (num[n] = i));
    const setsA = new Uint8Array(t.names.length);
    for (const n of t.setsA) setsA[num[n]] = 1;
    const mm = new Uint8Array(t.names.length);
    for (const n of t.mm ?? []) mm[num[n]] = 1;
    idx = { num, setsA, mm };
    indexCache.set(layout, idx);
  }
  return idx;
}
