/**
 * Symbolizer (FDE function bounds for stripped binaries, symtab/dynsym, vdso, C++ names). The
 * demangler itself is tested in demangle.test.ts.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../sampler/elf/elf.js';
import { demangle } from '../sampler/native/demangle.js';
import { Symbolizer, ehFrameOf } from '../sampler/native/index.js';
import type { Memory } from '../sampler/os/memory.js';
import { readMaps, type Mapping } from '../sampler/os/maps.js';
import { ProcMemMemory } from '../sampler/os/procmem.js';
import { FIXTURES, haveTool, tmpDir } from './native-helpers.js';

const LUA = '/usr/bin/lua5.4';
const NOMEM: Memory = { read: () => null };

/** Mappings of a file as the dynamic loader would lay it out at base. */
function fakeMaps(file: string, base: number): Mapping[] {
  const elf = ElfFile.parse(fs.readFileSync(file))!;
  const st = fs.statSync(file);
  return elf.loads().map((p) => {
    const start = base + p.vaddr - (p.vaddr % 4096);
    const end = base + p.vaddr + p.memsz + ((4096 - ((p.vaddr + p.memsz) % 4096)) % 4096);
    const perms = `${p.flags & 4 ? 'r' : '-'}${p.flags & 2 ? 'w' : '-'}${p.flags & 1 ? 'x' : '-'}p`;
    return {
      start, end, perms, readable: !!(p.flags & 4), writable: !!(p.flags & 2), executable: !!(p.flags & 1),
      offset: p.offset - (p.offset % 4096), dev: '00:00', inode: st.ino, path: file, deleted: false,
    };
  });
}

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

describe.skipIf(!haveTool('g++'))('C++ names', () => {
  it('demangles symtab names of a C++ program', () => {
    const dir = tmpDir();
    const exe = path.join(dir, 'widget');
    execFileSync('g++', ['-O2', '-o', exe, path.join(FIXTURES, 'widget.cpp')]);
    const elf = ElfFile.parse(fs.readFileSync(exe))!;
    const base = 0x5500_0000_0000;
    const sym = new Symbolizer(0, NOMEM, { maps: fakeMaps(exe, base) });
    const want = ['game::Widget::spin(int) const', 'int game::sum<int>(std::vector<int, std::allocator<int> > const&)', 'main'];
    const got: string[] = [];
    for (const s of elf.symtab()) {
      if (s.type !== 2 || s.size === 0) continue;
      const r = sym.symbolize(base + s.value + 1);
      if (r.name) got.push(r.name);
      // Aliases (e.g. D1/D2 destructors) share an address: the printed name is what must match.
      if (s.name.startsWith('_Z') && r.mangled === s.name) expect(r.name).toBe(demangle(s.name));
    }
    for (const w of want) expect(got).toContain(w);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('deleted or replaced objects', () => {
  it('reads a deleted executable through /proc/PID/map_files', async () => {
    const { startTarget, stopTarget } = await import('./native-helpers.js');
    const dir = tmpDir();
    const exe = path.join(dir, 'lua-copy');
    fs.copyFileSync(LUA, exe);
    fs.chmodSync(exe, 0o755);
    const child = await startTarget(exe, [path.join(FIXTURES, 'busy.lua')]);
    try {
      fs.rmSync(exe);
      fs.writeFileSync(exe, 'not the mapped file'); // same path, another inode
      const mem = new ProcMemMemory(child.pid!);
      const sym = new Symbolizer(child.pid!, mem);
      const maps = sym.modules.maps.filter((m) => m.path === exe && m.executable);
      expect(maps.length).toBe(1);
      expect(maps[0].deleted).toBe(true);
      const elf = ElfFile.parse(fs.readFileSync(LUA))!;
      const pcall = elf.dynsym().find((s) => s.name === 'lua_pcallk')!;
      const l = sym.modules.lookup(maps[0].start)!;
      expect(l).not.toBeNull();
      expect(sym.symbolize(l.bias + pcall.value + 3).name).toBe('lua_pcallk');
      mem.close();
    } finally {
      stopTarget(child);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
