/**
 * Symbolizer and demangler against real programs: a C++ program built with g++, c++filt on libstdc++'s
 * names, and a live target whose executable was deleted.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../sampler/elf/elf.js';
import { demangle } from '../sampler/native/demangle.js';
import { Symbolizer } from '../sampler/native/index.js';
import type { Memory } from '../sampler/os/memory.js';
import { ProcMemMemory } from '../sampler/os/procmem.js';
import { fakeMaps } from './helpers/maps.js';
import { FIXTURES, haveTool, startTarget, stopTarget, tempDir } from './helpers/native.js';

const LUA = '/usr/bin/lua5.4';
const NOMEM: Memory = { read: () => null };

describe.skipIf(!haveTool('g++'))('C++ names', () => {
  it('demangles symtab names of a C++ program', () => {
    const dir = tempDir();
    const exe = path.join(dir, 'widget');
    execFileSync('g++', ['-O2', '-o', exe, path.join(FIXTURES, 'widget.cpp')]);
    const elf = ElfFile.parse(fs.readFileSync(exe))!;
    const base = 0x5500_0000_0000;
    const sym = new Symbolizer(0, NOMEM, { maps: fakeMaps(exe, base) });
    const want = [
      'game::Widget::spin(int) const',
      'int game::sum<int>(std::vector<int, std::allocator<int> > const&)',
      'main',
    ];
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

describe('demangle against c++filt', () => {
  it.skipIf(!haveTool('c++filt'))('agrees with c++filt on the exported names of libstdc++', () => {
    const lib = fs.readdirSync('/usr/lib/x86_64-linux-gnu').find((f) => /^libstdc\+\+\.so\.6\.\d/.test(f));
    expect(lib, 'libstdc++.so.6.* in /usr/lib/x86_64-linux-gnu').toBeDefined();
    const elf = ElfFile.parse(fs.readFileSync(`/usr/lib/x86_64-linux-gnu/${lib!}`))!;
    const names = [
      ...new Set(
        elf
          .dynsym()
          .map((s) => s.name)
          .filter((n) => n.startsWith('_Z')),
      ),
    ];
    const want = execFileSync('c++filt', {
      input: names.join('\n'),
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }).split('\n');
    expect(names.length).toBeGreaterThan(3000);
    // A name is either printed as c++filt prints it or left as it is: never printed wrong.
    const wrong = names.filter((n, i) => demangle(n) !== want[i] && demangle(n) !== n);
    const raw = names.filter((n, i) => demangle(n) === n && want[i] !== n);
    expect(wrong).toEqual([]);
    expect(raw.length / names.length).toBeLessThan(0.01);
  });
});

describe('deleted or replaced objects', () => {
  it('reads a deleted executable through /proc/PID/map_files', async () => {
    const dir = tempDir();
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
