/**
 * ELF reader, loader (/proc/PID/root, cache, separate debug files), /proc/PID/maps parser and the
 * /proc/PID/mem Memory, on real system files and on malformed input.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../sampler/elf/elf.js';
import { candidatePaths, clearElfCache, debugCandidates, loadElf } from '../sampler/elf/loader.js';
import { findMapping, parseMaps, readMaps } from '../sampler/os/maps.js';
import { ProcMemMemory } from '../sampler/os/procmem.js';
import { rng } from './helpers/fuzz.js';

const LUA = '/usr/bin/lua5.4';
const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

describe('ElfFile', () => {
  it('maps vaddrs to file offsets and computes the load bias of a mapping', () => {
    const elf = ElfFile.parse(fs.readFileSync(LUA))!;
    const text = elf.loads().find((p) => p.flags & 1)!;
    expect(elf.vaddrToOffset(text.vaddr + 16)).toBe(text.offset + 16);
    expect(elf.vaddrToOffset(0x7fff_ffff_0000)).toBe(-1);
    const base = 0x5555_5555_0000;
    const mapOff = text.offset - (text.offset % 4096);
    const mapStart = base + text.vaddr - (text.vaddr % 4096);
    expect(elf.biasFor(mapStart, mapOff)).toBe(base);
  });

  it('returns null or empty results for malformed files, never throws', () => {
    expect(ElfFile.parse(Buffer.alloc(0))).toBeNull();
    expect(ElfFile.parse(Buffer.from('not an elf file at all, just text...'.repeat(4)))).toBeNull();
    const real = fs.readFileSync(LUA);
    // Truncations at many points.
    for (const n of [16, 63, 64, 200, 4096, 70_000, real.length - 1]) {
      expect(() => {
        const e = ElfFile.parse(real.subarray(0, n));
        e?.buildId();
        e?.dynsym();
        e?.symtab();
        e?.debugLink();
      }).not.toThrow();
    }
    // Hostile header fields.
    const bad = Buffer.from(real);
    bad.writeBigUInt64LE(0xffff_ffff_ffffn, 32); // e_phoff
    bad.writeBigUInt64LE(0xffff_ffff_ffffn, 40); // e_shoff
    expect(ElfFile.parse(bad)).toBeNull();
    // Random corruption.
    const rnd = rng(1);
    for (let t = 0; t < 50; t++) {
      const b = Buffer.from(real);
      for (let k = 0; k < 64; k++) b[Math.floor(rnd() * Math.min(b.length, 8192))] = Math.floor(rnd() * 256);
      for (let k = 0; k < 64; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      expect(() => {
        const e = ElfFile.parse(b);
        e?.buildId();
        e?.dynsym();
        e?.debugLink();
        e?.loads();
      }).not.toThrow();
    }
  });
});

describe('loader', () => {
  it('reads through /proc/PID/root first and caches per file identity', () => {
    expect(candidatePaths('/usr/bin/lua5.4', 1234)).toEqual([
      '/proc/1234/root/usr/bin/lua5.4',
      '/usr/bin/lua5.4',
    ]);
    clearElfCache();
    const a = loadElf(LUA, process.pid)!;
    expect(a.realPath).toBe(`/proc/${process.pid}/root${LUA}`);
    expect(loadElf(LUA, process.pid)).toBe(a);
    expect(loadElf(LUA)).toBe(a); // same file identity, same parsed object
    expect(loadElf('/nonexistent/file')).toBeNull();
    expect(loadElf('/etc/hostname')).toBeNull();
    expect(loadElf('relative/path')).toBeNull();
  });

  it('finds separate debug files by build-id (libc6-dbg) and lists debuglink locations', () => {
    expect(debugCandidates('/usr/bin/x', 'abcdef', 'x.debug')).toEqual([
      '/usr/lib/debug/.build-id/ab/cdef.debug',
      '/usr/bin/x.debug',
      '/usr/bin/.debug/x.debug',
      '/usr/lib/debug/usr/bin/x.debug',
    ]);
    const libc = loadElf(LIBC)!;
    const id = libc.buildId!;
    const path = `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
    expect(fs.existsSync(path), `${path}: libc6-dbg is not installed (scripts/setup.sh installs it)`).toBe(
      true,
    );
    const dbg = libc.debug()!;
    expect(dbg).not.toBeNull();
    expect(dbg.hasSymtab()).toBe(true);
    expect(dbg.symtab().some((s) => s.name === '__restore_rt')).toBe(true);
    // lua5.4 has no debug file installed.
    expect(loadElf(LUA)!.debug()).toBeNull();
  });
});

describe('/proc/PID/maps and /proc/PID/mem', () => {
  it('parses maps lines (paths with spaces, deleted files, anonymous and special mappings)', () => {
    const text = [
      '55d0c0a00000-55d0c0a02000 r--p 00000000 fe:00 123 /usr/bin/lua5.4',
      '55d0c0a02000-55d0c0a30000 r-xp 00002000 fe:00 123 /usr/bin/lua5.4',
      '7f0000000000-7f0000001000 rw-p 00000000 00:00 0 ',
      '7f0000001000-7f0000002000 r-xp 00000000 fe:00 9 /tmp/my lib.so (deleted)',
      '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]',
      '7ffd000fe000-7ffd00100000 r-xp 00000000 00:00 0                          [vdso]',
      'garbage line',
      'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
    ].join('\n');
    const maps = parseMaps(text);
    // The [vsyscall] page lies above 2^53 (not representable, and not user space): dropped.
    expect(maps.length).toBe(6);
    expect(maps[1]).toMatchObject({
      start: 0x55d0c0a02000,
      end: 0x55d0c0a30000,
      executable: true,
      offset: 0x2000,
      path: '/usr/bin/lua5.4',
      inode: 123,
    });
    expect(maps[2].path).toBe('');
    expect(maps[3]).toMatchObject({ path: '/tmp/my lib.so', deleted: true });
    expect(maps[5].path).toBe('[vdso]');
    expect(findMapping(maps, 0x55d0c0a02010)?.perms).toBe('r-xp');
    expect(findMapping(maps, 0x55d0c0a30000)).toBeNull();
  });

  it('reads the maps and memory of a live process', () => {
    const maps = readMaps(process.pid)!;
    expect(maps.some((m) => m.path === '[vdso]')).toBe(true);
    expect(readMaps(0x7ffffff0)).toBeNull();
    const mem = new ProcMemMemory(process.pid);
    const vdso = maps.find((m) => m.path === '[vdso]')!;
    const head = mem.read(vdso.start, 4)!;
    expect(head.toString('latin1')).toBe('\x7fELF');
    expect(mem.read(0, 8)).toBeNull();
    expect(mem.read(-1, 8)).toBeNull();
    expect(mem.read(0x7fff_ffff_f000, 8)).toBeNull();
    mem.close();
    expect(new ProcMemMemory(0x7ffffff0).read(vdso.start, 8)).toBeNull();
  });
});
