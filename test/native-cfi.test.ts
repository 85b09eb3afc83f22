/**
 * The CFI interpreter on real system objects (FDE lookup, signal frame and PLT CFI), the DWARF
 * expression evaluator on the expressions glibc and gcc emit, and crafted / corrupted input (no
 * exception, bounded work). Row-by-row agreement with readelf: e2e-native-cfi-readelf.test.ts.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../sampler/elf/elf.js';
import { evalExpr } from '../sampler/native/dwarf.js';
import { R_EXPR, R_UNDEF, R_VAL_EXPR } from '../sampler/native/cfi.js';
import { EhFrame } from '../sampler/native/ehframe.js';
import { ehFrameOf } from '../sampler/native/modules.js';
import { cell, cfaCell, load } from './helpers/cfi.js';
import { rng as mulberry32 } from './helpers/fuzz.js';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const LUA = '/usr/bin/lua5.4';

describe('FDE lookup', () => {
  it('binary search through .eh_frame_hdr agrees with a linear scan of .eh_frame', () => {
    const { elf, eh } = load(LIBC);
    expect(eh.usesHdr).toBe(true);
    const sec = elf.section('.eh_frame')!;
    const linear = new EhFrame({ ehFrame: elf.sectionData(sec)!, ehFrameVaddr: sec.addr });
    expect(linear.usesHdr).toBe(false);
    let n = 0;
    for (const f of linear.scanFdes()) {
      if (n++ % 7 !== 0) continue;
      for (const a of [f.start, f.start + ((f.end - f.start) >> 1), f.end - 1]) {
        const x = eh.findFde(a);
        const y = linear.findFde(a);
        expect(x?.start).toBe(y?.start);
        expect(x?.end).toBe(y?.end);
      }
    }
    expect(n).toBeGreaterThan(2000);
    // Outside any FDE.
    expect(eh.findFde(0)).toBeNull();
    expect(eh.findFde(0x7fff_ffff_0000)).toBeNull();
  });

  it('works from PT_GNU_EH_FRAME alone (no section headers)', () => {
    const data = Buffer.from(fs.readFileSync(LUA));
    // Wipe e_shoff/e_shnum: only program headers remain.
    data.writeBigUInt64LE(0n, 40);
    data.writeUInt16LE(0, 60);
    const elf = ElfFile.parse(data)!;
    expect(elf.sections.length).toBe(0);
    const eh = ehFrameOf(elf)!;
    const full = load(LUA).eh;
    for (const f of full.scanFdes()) {
      const a = f.start + 1;
      expect(eh.findFde(a)?.start).toBe(full.findFde(a)?.start);
    }
  });
});

describe('signal frame and PLT CFI in libc', () => {
  it('__restore_rt has an S-augmented FDE describing the ucontext', () => {
    const { eh } = load(LIBC);
    // Find the signal FDE by scanning.
    const sig = [...eh.scanFdes()].filter((f) => f.cie.signal);
    expect(sig.length).toBeGreaterThanOrEqual(1);
    const row = eh.rowAt(sig[0].start + 1)!;
    expect(row.signal).toBe(true);
    expect(row.cfaExpr).not.toBeNull();
    // CFA = *(rsp + 160): the saved rsp in the ucontext.
    const rsp = 0x7ffd_0000_1000;
    const mem = new Map<number, number>([[rsp + 160, 0x7ffd_0000_2000]]);
    const ctx = { reg: (n: number) => (n === 7 ? rsp : null), readU64: (a: number) => mem.get(a) ?? null };
    expect(evalExpr(row.cfaExpr!, ctx)).toBe(0x7ffd_0000_2000);
    // rip is at rsp + 168 (expression rule).
    expect(row.rule[16]).toBe(R_EXPR);
    expect(evalExpr(row.expr![16]!, ctx, 0x7ffd_0000_2000)).toBe(rsp + 168);
  });
});

describe('DWARF expressions', () => {
  const ctx = (regs: Record<number, number>, mem: Record<number, number> = {}) => ({
    reg: (n: number) => regs[n] ?? null,
    readU64: (a: number) => mem[a] ?? null,
  });

  it('evaluates the PLT CFA expression rsp+8+((rip&15)>=11)*8', () => {
    // DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus
    const e = Buffer.from([0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22]);
    expect(evalExpr(e, ctx({ 7: 0x1000, 16: 0x5000 }))).toBe(0x1008);
    expect(evalExpr(e, ctx({ 7: 0x1000, 16: 0x500a }))).toBe(0x1008);
    expect(evalExpr(e, ctx({ 7: 0x1000, 16: 0x500b }))).toBe(0x1010);
    expect(evalExpr(e, ctx({ 7: 0x1000, 16: 0x500f }))).toBe(0x1010);
    expect(evalExpr(e, ctx({ 7: 0x1000 }))).toBeNull(); // rip unknown
  });

  it('handles constants, stack ops, arithmetic, comparisons, branches and deref', () => {
    const run = (
      bytes: number[],
      regs: Record<number, number> = {},
      mem: Record<number, number> = {},
      init?: number,
    ) => evalExpr(Buffer.from(bytes), ctx(regs, mem), init);
    expect(run([0x08, 200])).toBe(200); // const1u
    expect(run([0x0a, 0x34, 0x12])).toBe(0x1234); // const2u
    expect(run([0x0c, 0x78, 0x56, 0x34, 0x12])).toBe(0x12345678); // const4u
    expect(run([0x10, 0xe5, 0x8e, 0x26])).toBe(624485); // constu (uleb)
    expect(run([0x11, 0x7f, 0x35, 0x22])).toBe(4); // consts -1 + lit5
    expect(run([0x35, 0x33, 0x1c])).toBe(2); // 5-3
    expect(run([0x35, 0x33, 0x1e])).toBe(15); // mul
    expect(run([0x3a, 0x33, 0x1b])).toBe(3); // div 10/3
    expect(run([0x3a, 0x33, 0x1d])).toBe(1); // mod
    expect(run([0x35, 0x12, 0x22])).toBe(10); // dup plus
    expect(run([0x31, 0x32, 0x16, 0x1c])).toBe(1); // swap: 2-1
    expect(run([0x31, 0x32, 0x14, 0x22, 0x22])).toBe(4); // over: 1+2+1
    expect(run([0x31, 0x32, 0x33, 0x17, 0x13, 0x13])).toBe(2); // rot then drop drop
    expect(run([0x31, 0x32, 0x15, 0x01, 0x22, 0x22])).toBe(4); // pick 1
    expect(run([0x33, 0x35, 0x2d])).toBe(1); // lt
    expect(run([0x33, 0x35, 0x2b])).toBe(0); // gt
    expect(run([0x33, 0x33, 0x29])).toBe(1); // eq
    expect(run([0x33, 0x34, 0x2e])).toBe(1); // ne
    expect(run([0x33, 0x34, 0x2c])).toBe(1); // le
    expect(run([0x3c, 0x31, 0x25])).toBe(6); // shr
    expect(run([0x3c, 0x33, 0x21])).toBe(15); // or
    expect(run([0x3c, 0x33, 0x27])).toBe(15); // xor
    expect(run([0x70 + 7, 0x10, 0x06], { 7: 0x1000 }, { 0x1010: 0xabcdef })).toBe(0xabcdef); // breg7 16; deref
    expect(run([0x92, 0x06, 0x78], { 6: 0x1000 })).toBe(0x1000 - 8); // bregx rbp -8
    expect(run([0x23, 0x10], {}, {}, 0x2000)).toBe(0x2010); // plus_uconst on initial CFA
    expect(run([0x30, 0x28, 0x03, 0x00, 0x31, 0x2f, 0x01, 0x00, 0x32])).toBe(1); // bra not taken; skip
    expect(run([0x31, 0x28, 0x01, 0x00, 0x35, 0x37])).toBe(7); // bra taken over lit5
    expect(run([0x08, 0xff, 0x1f, 0x19])).toBe(255); // neg abs
    expect(run([0x33, 0x20, 0x20])).toBe(3); // not not
    expect(run([0x70 + 7, 0x00, 0x94, 0x02], { 7: 0x1000 }, { 0x1000: 0x12345 })).toBe(0x2345); // deref_size 2
  });

  it('fails cleanly on errors', () => {
    const run = (bytes: number[]) => evalExpr(Buffer.from(bytes), ctx({ 7: 0x1000 }));
    expect(run([])).toBeNull(); // empty stack
    expect(run([0x22])).toBeNull(); // underflow
    expect(run([0x31, 0x30, 0x1b])).toBeNull(); // div by 0
    expect(run([0x77, 0x00, 0x06])).toBeNull(); // unreadable memory
    expect(run([0x0c, 0x01])).toBeNull(); // truncated operand
    expect(run([0xe0])).toBeNull(); // unsupported op
    expect(run([0x2f, 0xfd, 0xff])).toBeNull(); // skip -3: infinite loop, bounded
    expect(run([0x2f, 0x00, 0x40])).toBeNull(); // skip out of range
  });
});

/** Builds a tiny .eh_frame: one CIE and FDEs with the given instructions. */
function craft(
  cieInstr: number[],
  fdes: { start: number; len: number; instr: number[] }[],
  aug = 'zR',
): Buffer {
  const parts: number[] = [];
  const u32 = (v: number) => [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff];
  const cieBody = [
    ...u32(0),
    1,
    ...Buffer.from(aug + '\0', 'latin1'),
    1,
    0x78,
    16,
    ...(aug.startsWith('z') ? [1, 0x03] : []), // aug length 1, R = udata4 absolute
    ...cieInstr,
  ];
  while ((cieBody.length + 4) % 8) cieBody.push(0);
  parts.push(...u32(cieBody.length), ...cieBody);
  for (const f of fdes) {
    const ciePtrPos = parts.length + 4;
    const body = [
      ...u32(ciePtrPos),
      ...u32(f.start),
      ...u32(f.len),
      ...(aug.startsWith('z') ? [0] : []),
      ...f.instr,
    ];
    while ((body.length + 4) % 8) body.push(0);
    parts.push(...u32(body.length), ...body);
  }
  parts.push(0, 0, 0, 0);
  return Buffer.from(parts);
}

describe('crafted CFI', () => {
  const CIE = [0x0c, 7, 8, 0x90, 1]; // def_cfa rsp+8; offset ra at cfa-8

  it('executes advance_loc*, def_cfa*, offset*, restore*, remember/restore_state and register rules', () => {
    const instr = [
      0x41, // advance_loc 1
      0x0e,
      16, // def_cfa_offset 16
      0x86,
      2, // offset rbp, cfa-16
      0x02,
      3, // advance_loc1 3 -> 4
      0x0d,
      6, // def_cfa_register rbp
      0x0a, // remember_state
      0x03,
      4,
      0, // advance_loc2 4 -> 8
      0x83,
      3, // offset rbx cfa-24
      0x09,
      12,
      13, // register r12 in r13
      0x08,
      14, // same_value r14
      0x07,
      15, // undefined r15
      0x14,
      0x0e,
      0x02, // val_offset r14? (reg 14, 2*-8 = -16)
      0x04,
      8,
      0,
      0,
      0, // advance_loc4 8 -> 16
      0x0b, // restore_state
      0xc6, // restore rbp
      0x2e,
      0x10, // GNU_args_size
      0x44, // -> 20
      0x2f,
      3,
      2, // GNU_negative_offset_extended rbx: +16
      0x13,
      0x7e, // def_cfa_offset_sf -2*-8 = 16
      0x12,
      7,
      0x7f, // def_cfa_sf rsp, -1*-8 = 8
      0x11,
      12,
      0x7d, // offset_extended_sf r12: -3*-8 = 24
      0x05,
      13,
      4, // offset_extended r13 cfa-32
      0x06,
      13, // restore_extended r13
      0x15,
      14,
      0x7e, // val_offset_sf r14: 16
    ];
    const eh = new EhFrame({
      ehFrame: craft(CIE, [{ start: 0x1000, len: 0x100, instr }]),
      ehFrameVaddr: 0x5000,
    });
    const r0 = eh.rowAt(0x1000)!;
    expect(cfaCell(r0)).toBe('rsp+8');
    expect(cell(r0, 16)).toBe('c-8');
    const r1 = eh.rowAt(0x1001)!;
    expect(cfaCell(r1)).toBe('rsp+16');
    expect(cell(r1, 6)).toBe('c-16');
    const r4 = eh.rowAt(0x1004)!;
    expect(cfaCell(r4)).toBe('rbp+16');
    const r8 = eh.rowAt(0x100f)!;
    expect(cell(r8, 3)).toBe('c-24');
    expect(cell(r8, 12)).toBe('r13 (r13)');
    expect(cell(r8, 14)).toBe('v-16');
    expect(r8.rule[15]).toBe(R_UNDEF);
    const r16 = eh.rowAt(0x1010)!;
    expect(cfaCell(r16)).toBe('rbp+16');
    expect(cell(r16, 3)).toBe('u'); // restored state predates the rbx rule
    expect(cell(r16, 6)).toBe('u'); // restore -> CIE initial (unspecified)
    const r20 = eh.rowAt(0x1014)!;
    expect(cell(r20, 3)).toBe('c+16');
    expect(cfaCell(r20)).toBe('rsp+8');
    expect(cell(r20, 12)).toBe('c+24');
    expect(cell(r20, 13)).toBe('u');
    expect(cell(r20, 14)).toBe('v+16');
    expect(eh.rowAt(0x1100)).toBeNull();
    expect(eh.rowAt(0xfff)).toBeNull();
  });

  it('expression rules and def_cfa_expression', () => {
    const instr = [0x0f, 3, 0x77, 0x08, 0x06, 0x10, 6, 2, 0x76, 0x00, 0x16, 3, 2, 0x77, 0x10];
    const eh = new EhFrame({ ehFrame: craft(CIE, [{ start: 0x2000, len: 0x10, instr }]), ehFrameVaddr: 0 });
    const r = eh.rowAt(0x2000)!;
    expect(r.cfaExpr).not.toBeNull();
    expect(r.rule[6]).toBe(R_EXPR);
    expect(r.rule[3]).toBe(R_VAL_EXPR);
  });

  it('rejects unknown opcodes, unbalanced restore_state and bad augmentations', () => {
    expect(
      new EhFrame({ ehFrame: craft(CIE, [{ start: 0, len: 16, instr: [0x3f] }]), ehFrameVaddr: 0 }).rowAt(1),
    ).toBeNull();
    expect(
      new EhFrame({ ehFrame: craft(CIE, [{ start: 0, len: 16, instr: [0x0b] }]), ehFrameVaddr: 0 }).rowAt(1),
    ).toBeNull();
    expect(
      new EhFrame({ ehFrame: craft(CIE, [{ start: 0, len: 16, instr: [] }], 'xyz'), ehFrameVaddr: 0 }).rowAt(
        1,
      ),
    ).toBeNull();
    // remember_state bomb: bounded.
    const bomb = new Array(5000).fill(0x0a);
    expect(
      new EhFrame({ ehFrame: craft(CIE, [{ start: 0, len: 16, instr: bomb }]), ehFrameVaddr: 0 }).rowAt(1),
    ).toBeNull();
  });
});

describe('corrupted and random input', () => {
  it('random bit flips in real .eh_frame/.eh_frame_hdr never throw and stay bounded', () => {
    const { elf } = load(LUA);
    const ehSec = elf.section('.eh_frame')!;
    const hdrSec = elf.section('.eh_frame_hdr')!;
    const clean = load(LUA).eh;
    const addrs = [...clean.scanFdes()].map((f) => f.start + 3).slice(0, 400);
    const rnd = mulberry32(42);
    const t0 = Date.now();
    for (let trial = 0; trial < 40; trial++) {
      const eh = Buffer.from(elf.sectionData(ehSec)!);
      const hdr = Buffer.from(elf.sectionData(hdrSec)!);
      for (let k = 0; k < 200; k++) eh[Math.floor(rnd() * eh.length)] = Math.floor(rnd() * 256);
      for (let k = 0; k < 20; k++) hdr[Math.floor(rnd() * hdr.length)] = Math.floor(rnd() * 256);
      const f = new EhFrame({
        ehFrame: eh,
        ehFrameVaddr: ehSec.addr,
        hdr: trial % 2 ? hdr : null,
        hdrVaddr: hdrSec.addr,
      });
      for (const a of addrs) {
        expect(() => f.rowAt(a)).not.toThrow();
      }
      expect(() => [...f.scanFdes()].length).not.toThrow();
    }
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('pure random bytes as eh_frame/hdr', () => {
    const rnd = mulberry32(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(rnd() * 512);
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
      const h = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) h[i] = Math.floor(rnd() * 256);
      h[0] = 1;
      const f = new EhFrame({ ehFrame: b, ehFrameVaddr: 0x1000, hdr: trial % 3 ? h : null, hdrVaddr: 0x800 });
      for (let k = 0; k < 10; k++) expect(() => f.rowAt(Math.floor(rnd() * 0x10000))).not.toThrow();
    }
  });
});
