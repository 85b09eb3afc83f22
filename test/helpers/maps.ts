/** Synthetic /proc/PID/maps entries for tests that hand mappings to the sampler. */
import type { Mapping } from '../../sampler/os/maps.js';

/** A complete Mapping, flags derived from perms as parseMaps derives them; offset 0, no device or inode. */
export function mapping(start: number, end: number, perms: string, path = ''): Mapping {
  return {
    start, end, perms, readable: perms[0] === 'r', writable: perms[1] === 'w', executable: perms[2] === 'x',
    offset: 0, dev: '00:00', inode: 0, path, deleted: false,
  };
}
