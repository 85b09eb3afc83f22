/** The ELF reader against binutils' readelf on the stripped lua5.4 and libc (runs readelf). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile, PT_GNU_EH_FRAME } from '../sampler/elf/elf.js';

const LUA = '/usr/bin/lua5.4';
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

function readelfBuildId(p: string): string | null {
  const m = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', p], { encoding: 'utf8' }));
  return m ? m[1] : null;
}
describe('ElfFile against readelf', () => {
  it('reads sections, segments, build-id and debuglink of the stripped lua5.4', () => {
    const elf = ElfFile.parse(fs.readFileSync(LUA))!;
    expect(elf).not.toBeNull();
    expect(elf.type).toBe(3); // PIE
    expect(elf.section('.eh_frame')).not.toBeNull();
    expect(elf.section('.eh_frame_hdr')).not.toBeNull();
    expect(elf.section('.dynsym')).not.toBeNull();
    expect(elf.hasSymtab()).toBe(false);
    expect(elf.segments.some((p) => p.type === PT_GNU_EH_FRAME)).toBe(true);
    expect(elf.loads().length).toBeGreaterThanOrEqual(2);
    expect(elf.buildId()).toBe(readelfBuildId(LUA));
    const link = elf.debugLink()!;
    expect(link.file).toMatch(/\.debug$/);
    const names = elf.dynsym().map((s) => s.name);
    expect(names).toContain('lua_pcallk');
    expect(names).toContain('luaL_newstate');
    const pcall = elf.dynsym().find((s) => s.name === 'lua_pcallk')!;
    expect(pcall.size).toBeGreaterThan(0);
    expect(pcall.type).toBe(2);
  });

  it('matches readelf on libc (segments, build-id, symbol count)', () => {
    const elf = ElfFile.parse(fs.readFileSync(LIBC))!;
    const ph = execFileSync('readelf', ['-lW', LIBC], { encoding: 'utf8' });
    const loads = ph.split('\n').filter((l) => /^\s+LOAD/.test(l));
    expect(elf.loads().length).toBe(loads.length);
    const first = loads[0].trim().split(/\s+/);
    expect(elf.loads()[0].offset).toBe(parseInt(first[1], 16));
    expect(elf.loads()[0].vaddr).toBe(parseInt(first[2], 16));
    expect(elf.buildId()).toBe(readelfBuildId(LIBC));
    const nsyms = execFileSync('readelf', ['--dyn-syms', '-W', LIBC], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /^\s+\d+:/.test(l) && !/^\s+0:/.test(l))
      .filter((l) => !/\s0000000000000000\s/.test(l)).length;
    expect(elf.dynsym().length).toBe(nsyms);
  });
});
