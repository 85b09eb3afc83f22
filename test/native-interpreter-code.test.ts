/**
 * LuaJIT's VM named from its dispatch table (lua/luajit/vm-code.ts) and checked against the FDE that
 * covers it (native/interpreter-code.ts), on synthetic tables: clean, patched by the JIT mode and by
 * hooks, and not a dispatch table at all; and the splice of VM frames under a trace.
 */
import { describe, expect, it } from 'vitest';
import { layoutFromProbe } from '../sampler/lua/luajit/layout.js';
import { LUAJIT_BUILDS } from '../sampler/lua/luajit/layouts.js';
import { LJ_VM_REGION, readVmCode } from '../sampler/lua/luajit/vm-code.js';
import { InterpreterNames, type InterpreterCode } from '../sampler/native/interpreter-code.js';
import type { Module } from '../sampler/native/modules.js';
import type { Memory } from '../sampler/os/memory.js';
import { splice, type NativeSym } from '../sampler/splice.js';

const build = LUAJIT_BUILDS.find((b) => b.id === 'debian-2.1.0-beta3-20220320')!;
const L = layoutFromProbe(build.id, build.probe);
const NBC = L.bc.names.length;
const FUNCF = L.bc.op['FUNCF'];
const G = 0x7f00_0000_0000;
const VM = 0x5555_0000_8d70;
const handler = (op: number) => VM + op * 0x40;
const ASMFF = 57;
const ff = (i: number) => VM + 0x3000 + i * 0x20;
const HOOK = VM + 0x3f00;

/** A dispatch table as lj_dispatch_init leaves it, then `patch` applied to the dynamic half. */
function table(patch: (disp: number[]) => void = () => {}): Memory {
  const disp: number[] = [];
  for (let op = 0; op < NBC; op++) disp.push(handler(op));
  for (let i = 0; i < ASMFF; i++) disp.push(ff(i));
  for (let op = 0; op < FUNCF; op++) disp.push(handler(op));
  patch(disp);
  const buf = Buffer.alloc((disp.length + 200) * 8);
  disp.forEach((a, i) => buf.writeBigUInt64LE(BigInt(a), i * 8));
  const at = G + L.gg.g2disp;
  return {
    read: (addr, len) =>
      addr >= at && addr + len <= at + buf.length ? buf.subarray(addr - at, addr - at + len) : null,
  };
}

const named = (c: InterpreterCode | null) => new Map(c!.entries.map((e) => [e.name, e]));

describe('readVmCode', () => {
  it('names every handler but the last, each up to the next', () => {
    const c = readVmCode(table(), L, G)!;
    expect(c.region).toBe(LJ_VM_REGION);
    expect(c.tail).toBe('lj_vm_ffi_call');
    expect(c.entries.length).toBe(NBC - 1);
    expect(c.entries[0]).toEqual({ start: VM, end: VM + 0x40, name: 'lj_BC_ISLT' });
    const funcc = named(c).get('lj_BC_FUNCC')!;
    expect(funcc).toEqual({ start: handler(NBC - 2), end: handler(NBC - 1), name: 'lj_BC_FUNCC' });
    expect(named(c).has('lj_BC_FUNCCW')).toBe(false);
  });

  it('reads the static half where the JIT mode switched dynamic entries (FORL to IFORL, FUNCF to IFUNCF)', () => {
    const forl = L.bc.op['FORL'];
    const c = readVmCode(
      table((d) => {
        d[forl] = d[L.bc.op['IFORL']];
        d[FUNCF] = d[L.bc.op['IFUNCF']];
      }),
      L,
      G,
    )!;
    const m = named(c);
    expect(m.get('lj_BC_FORL')).toEqual({ start: handler(forl), end: handler(forl + 1), name: 'lj_BC_FORL' });
    // FUNCF's own start is unknown: neither it, the handler before it, nor IFUNCF (whose start now
    // repeats) is named; JFUNCF is.
    expect(m.has('lj_BC_FUNCF')).toBe(false);
    expect(m.has(`lj_BC_${L.bc.names[FUNCF - 1]}`)).toBe(false);
    expect(m.has('lj_BC_IFUNCF')).toBe(false);
    expect(m.has('lj_BC_JFUNCF')).toBe(true);
  });

  it('leaves out handlers whose bounds a hook took over', () => {
    const funccw = L.bc.op['FUNCCW'];
    const c = readVmCode(
      table((d) => {
        d[funccw] = HOOK;
      }),
      L,
      G,
    )!;
    expect(named(c).has('lj_BC_FUNCC')).toBe(false);
    expect(named(c).has('lj_BC_JFUNCV')).toBe(true);
  });

  it('gives up on a table without its static copy, or unreadable', () => {
    expect(
      readVmCode(
        table((d) => d.fill(0x1234_5678, NBC + ASMFF)),
        L,
        G,
      ),
    ).toBeNull();
    expect(readVmCode({ read: () => null }, L, G)).toBeNull();
  });
});

/** A module whose only FDEs are the VM's and lj_vm_ffi_call's (module vaddr = absolute - bias). */
function vmModule(bias: number, fdes: { start: number; end: number }[]): Module {
  const eh = {
    findFde: (v: number) => fdes.find((f) => f.start <= v && v < f.end) ?? null,
  };
  return { ehFrame: () => eh } as unknown as Module;
}

describe('InterpreterNames', () => {
  const bias = 0x5555_0000_0000;
  const code = readVmCode(table(), L, G)!;
  const vmEnd = VM + 0x4000;
  const mod = vmModule(bias, [
    { start: VM - bias, end: vmEnd - bias },
    { start: vmEnd - bias, end: vmEnd + 0xa0 - bias },
  ]);

  it('names handlers, the rest of the VM, and the FDE right after it', () => {
    const n = InterpreterNames.check(code, mod, bias)!;
    expect(n.regionStart).toBe(VM);
    expect(n.nameAt(handler(NBC - 2) + 5)).toEqual({ name: 'lj_BC_FUNCC', start: handler(NBC - 2) });
    expect(n.nameAt(handler(NBC - 1) + 5)).toEqual({ name: LJ_VM_REGION, start: VM });
    expect(n.nameAt(ff(3))).toEqual({ name: LJ_VM_REGION, start: VM });
    expect(n.nameAt(vmEnd + 4)).toEqual({ name: 'lj_vm_ffi_call', start: vmEnd });
    expect(n.nameAt(VM - 1)).toBeNull();
    expect(n.nameAt(vmEnd + 0xa0)).toBeNull();
  });

  it('names nothing when the entries do not sit in the FDE that covers the first, from its start', () => {
    const short = vmModule(bias, [{ start: VM - bias, end: VM + 0x400 - bias }]);
    expect(InterpreterNames.check(code, short, bias)).toBeNull();
    const shifted = vmModule(bias, [{ start: VM - 0x10 - bias, end: vmEnd - bias }]);
    expect(InterpreterNames.check(code, shifted, bias)).toBeNull();
    expect(InterpreterNames.check(code, vmModule(bias, []), bias)).toBeNull();
  });
});

describe('splice under a LuaJIT trace', () => {
  const sym = (label: string, o: Partial<NativeSym> = {}): NativeSym => ({
    pc: 1,
    label,
    module: '/usr/lib/libluajit-5.1.so.2',
    internal: false,
    ...o,
  });
  it("puts the Lua frames under the trace and drops the VM's frames below them", () => {
    const native = [
      sym('libluajit-5.1.so.2+0xd610', { internal: true }),
      sym('[LuaJIT trace]', { module: '', jit: true }),
      sym(LJ_VM_REGION, { internal: true, vm: true }),
      sym('lua_pcall'),
      sym('run_step', { module: '/opt/host' }),
    ];
    const lua = ['burn', 'work'].map((name) => ({ frame: { kind: 'lua' as const, name }, isLua: true }));
    expect(splice(native, lua).frames.map((f) => f.name)).toEqual([
      'libluajit-5.1.so.2+0xd610',
      '[LuaJIT trace]',
      'burn',
      'work',
      'lua_pcall',
      'run_step',
    ]);
  });
});
