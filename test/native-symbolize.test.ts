/**
 * Symbolizer (FDE function bounds for stripped binaries, symtab/dynsym, vdso) and the Itanium
 * demangler. Against g++, c++filt and a live target: e2e-native-symbolize.test.ts.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../sampler/elf/elf.js';
import { demangle } from '../sampler/native/demangle.js';
import { Symbolizer, ehFrameOf } from '../sampler/native/index.js';
import type { Memory } from '../sampler/os/memory.js';
import { readMaps, type Mapping } from '../sampler/os/maps.js';
import { ProcMemMemory } from '../sampler/os/procmem.js';
import { rng } from './helpers/fuzz.js';
import { fakeMaps } from './helpers/maps.js';

const LUA = '/usr/bin/lua5.4';
const NOMEM: Memory = { read: () => null };

describe('Symbolizer on the stripped lua5.4', () => {
  const base = 0x5600_0000_0000;
  const sym = new Symbolizer(0, NOMEM, { maps: fakeMaps(LUA, base) });
  const elf = ElfFile.parse(fs.readFileSync(LUA))!;
  const eh = ehFrameOf(elf)!;
  const dyn = elf.dynsym().filter((s) => s.type === 2 && s.size > 0);

  it('names exported API functions from .dynsym', () => {
    const pcall = dyn.find((s) => s.name === 'lua_pcallk')!;
    const r = sym.symbolize(base + pcall.value + 5);
    expect(r).toMatchObject({ module: LUA, name: 'lua_pcallk', start: base + pcall.value, offset: 5, moduleOffset: pcall.value, label: 'lua_pcallk' });
  });

  it('prints unnamed internal functions as module+function start (FDE bounds), never a borrowed name', () => {
    let unnamed = 0;
    for (const f of eh.scanFdes()) {
      const covered = dyn.some((s) => s.value <= f.start && f.start < s.value + s.size);
      if (covered) continue;
      unnamed++;
      const label = `lua5.4+0x${f.start.toString(16)}`;
      for (const a of [f.start, f.start + ((f.end - f.start) >> 1), f.end - 1]) {
        const r = sym.symbolize(base + a);
        expect(r.name).toBeUndefined();
        expect(r.label).toBe(label);
        expect(r.start).toBe(base + f.start);
        expect(r.offset).toBe(a - f.start);
      }
    }
    expect(unnamed).toBeGreaterThan(300); // luaV_execute, luaD_*, … all unnamed
  });

  it('uses the call site for return addresses, and handles pcs outside any object', () => {
    const fdes = [...eh.scanFdes()].sort((a, b) => a.start - b.start);
    // A return address equal to the next function's first byte belongs to the previous function.
    const i = fdes.findIndex((f, k) => k > 0 && fdes[k - 1].end === f.start);
    const f = fdes[i];
    expect(sym.symbolize(base + f.start, true).start).toBe(base + fdes[i - 1].start);
    expect(sym.symbolize(base + f.start, false).start).toBe(base + f.start);
    expect(sym.symbolize(0x1234)).toMatchObject({ module: '', label: '0x1234', offset: 0x1234 });
  });
});

describe('Symbolizer on a live process (vdso read from memory, libc)', () => {
  it('symbolizes vdso functions from the image in the target memory', () => {
    const maps = readMaps(process.pid)!;
    const vdsoMap = maps.find((m) => m.path === '[vdso]')!;
    const mem = new ProcMemMemory(process.pid);
    const img = mem.read(vdsoMap.start, vdsoMap.end - vdsoMap.start)!;
    const elf = ElfFile.parse(img)!;
    const f = elf.dynsym().find((s) => s.name === '__vdso_clock_gettime' || s.name === 'clock_gettime')!;
    const sym = new Symbolizer(process.pid, mem);
    const r = sym.symbolize(vdsoMap.start - elf.baseVaddr() + f.value + 4);
    expect(r.module).toBe('[vdso]');
    expect(['__vdso_clock_gettime', 'clock_gettime']).toContain(r.name);
    expect(r.offset).toBe(4);
    mem.close();
  });
});

describe('demangle', () => {
  const cases: [string, string][] = [
    ['_ZN3foo3barEv', 'foo::bar()'],
    ['_Z3addii', 'add(int, int)'],
    ['_ZN4game6Widget4spinEi', 'game::Widget::spin(int)'],
    ['_ZNK4game6Widget4spinEi', 'game::Widget::spin(int) const'],
    ['_ZN4game6WidgetC2Ei', 'game::Widget::Widget(int)'],
    ['_ZN4game6WidgetD0Ev', 'game::Widget::~Widget()'],
    ['_ZNK4game6WidgeteqERKS0_', 'game::Widget::operator==(game::Widget const&) const'],
    ['_ZN4game3sumIiEET_RKSt6vectorIS1_SaIS1_EE', 'int game::sum<int>(std::vector<int, std::allocator<int> > const&)'],
    ['_ZNSt6vectorIiSaIiEE9push_backERKi', 'std::vector<int, std::allocator<int> >::push_back(int const&)'],
    ['_ZNSsC1EPKcRKSaIcE', 'std::basic_string<char, std::char_traits<char>, std::allocator<char> >::basic_string(char const*, std::allocator<char> const&)'],
    ['_ZStlsISt11char_traitsIcEERSt13basic_ostreamIcT_ES5_PKc', 'std::basic_ostream<char, std::char_traits<char> >& std::operator<< <std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, char const*)'],
    ['_Z1fPFviE', 'f(void (*)(int))'],
    ['_Z1fRA10_i', 'f(int (&) [10])'],
    ['_Z1fM1AFivE', 'f(int (A::*)())'],
    ['_ZN12_GLOBAL__N_14helpEv', '(anonymous namespace)::help()'],
    ['_ZZ4mainENKUlvE_clEv', 'main::{lambda()#1}::operator()() const'],
    ['_ZTV6Widget', 'vtable for Widget'],
    ['_ZTI6Widget', 'typeinfo for Widget'],
    ['_ZThn8_N1B1fEv', 'non-virtual thunk to B::f()'],
    ['_ZGVZ4mainE1x', 'guard variable for main::x'],
    ['_ZN1A1fEv.cold', 'A::f() [clone .cold]'],
    ['_ZL6staticv.isra.0', 'static() [clone .isra.0]'],
    ['_ZN1AcvbEv', 'A::operator bool()'],
    ['_ZN1AixEi', 'A::operator[](int)'],
    ['_Z1fIJidEEvDpT_', 'void f<int, double>(int, double)'],
    ['_Z1fILi3EEvv', 'void f<3>()'],
    ['_Z1fIbLb1EEvv', 'void f<bool, true>()'],
    ['_ZNKSt8functionIFviEEclEi', 'std::function<void (int)>::operator()(int) const'],
    ['main', 'main'],
    ['lua_pcallk', 'lua_pcallk'],
    ['_Z', '_Z'],
    ['_ZN3foo', '_ZN3foo'],
    ['_Z1fS9_', '_Z1fS9_'],
    ['_Z1fT_', '_Z1fT_'],
  ];
  it.each(cases)('%s', (m, want) => {
    expect(demangle(m)).toBe(want);
  });

  it('never throws or hangs on random and deeply nested input', () => {
    const rnd = rng(3);
    const alphabet = '_ZNEIKRPSTLDCvijcdS0_123456789abcXJ';
    for (let i = 0; i < 3000; i++) {
      let s = '_Z';
      const n = Math.floor(rnd() * 40);
      for (let k = 0; k < n; k++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      expect(typeof demangle(s)).toBe('string');
    }
    expect(demangle('_Z1f' + 'P'.repeat(5000) + 'i')).toBeTypeOf('string');
    expect(demangle('_ZN' + '1a'.repeat(3000) + 'Ev')).toBeTypeOf('string');
  });
});
