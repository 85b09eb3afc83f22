/** /proc/PID/maps entries made up for tests that hand mappings to the sampler: by hand, or as the loader maps a file. */
import * as fs from 'node:fs';
import { ElfFile } from '../../sampler/elf/elf.js';
import type { Mapping } from '../../sampler/os/maps.js';

/** A complete Mapping, flags derived from perms as parseMaps derives them; offset 0, no device or inode. */
export function mapping(start: number, end: number, perms: string, path = ''): Mapping {
  return {
    start,
    end,
    perms,
    readable: perms[0] === 'r',
    writable: perms[1] === 'w',
    executable: perms[2] === 'x',
    offset: 0,
    dev: '00:00',
    inode: 0,
    path,
    deleted: false,
  };
}

/** Mappings of a file as the dynamic loader would lay it out at base. */
export function fakeMaps(file: string, base: number): Mapping[] {
  const elf = ElfFile.parse(fs.readFileSync(file))!;
  const st = fs.statSync(file);
  return elf.loads().map((p) => {
    const start = base + p.vaddr - (p.vaddr % 4096);
    const end = base + p.vaddr + p.memsz + ((4096 - ((p.vaddr + p.memsz) % 4096)) % 4096);
    const perms = `${p.flags & 4 ? 'r' : '-'}${p.flags & 2 ? 'w' : '-'}${p.flags & 1 ? 'x' : '-'}p`;
    return {
      start,
      end,
      perms,
      readable: !!(p.flags & 4),
      writable: !!(p.flags & 2),
      executable: !!(p.flags & 1),
      offset: p.offset - (p.offset % 4096),
      dev: '00:00',
      inode: st.ino,
      path: file,
      deleted: false,
    };
  });
}
