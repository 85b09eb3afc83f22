/**
 * Pages the kernel shares with the sampler (a perf event's ring, a BPF ring buffer): mapped from the
 * object's file descriptor, unmapped, and the descriptor closed.
 */
import koffi from 'koffi';

export const PAGE = 4096;
export const PROT_READ = 1;
export const PROT_RW = 3;

interface Calls {
  mmap(len: number, prot: number, fd: number, offset: number): unknown;
  munmap(p: unknown, len: number): number;
  close(fd: number): number;
}
let calls: Calls | null = null;
function bind(): Calls {
  if (calls) return calls;
  const lib = koffi.load('libc.so.6');
  const mmap = lib.func('void* mmap(void*, size_t, int, int, int, long)');
  const munmap = lib.func('int munmap(void*, size_t)');
  const close = lib.func('int close(int)');
  calls = {
    mmap: (len, prot, fd, offset) => mmap(null, len, prot, 1 /* MAP_SHARED */, fd, offset),
    munmap: (p, len) => munmap(p, len) as number,
    close: (fd) => close(fd) as number,
  };
  return calls;
}

/** `len` bytes of the object behind `fd` from `offset`, mapped shared; null where refused. */
export function mapShared(fd: number, len: number, prot: number, offset = 0): unknown {
  const p = bind().mmap(len, prot, fd, offset);
  return p && Number(koffi.address(p)) !== -1 ? p : null;
}

export function unmap(p: unknown, len: number): void {
  bind().munmap(p, len);
}

export function closeFd(fd: number): void {
  if (fd >= 0) bind().close(fd);
}
