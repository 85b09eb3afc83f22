/**
 * Pages the kernel shares with the sampler (a perf event's ring, a BPF ring buffer): mapped from the
 * object's file descriptor, unmapped, and the descriptor closed.
 */
import koffi from 'koffi';

export const PAGE = 4096;
export const PROT_READ = 1;
export const PROT_RW = 3;

/**
 * A little-endian u64 position the kernel moves (a ring's head), as two words without a BigInt (one
 * per record was a measurable part of the sampler's CPU); read again when the high word changed
 * between them.
 */
export function kernelPosition(view: DataView, at: number): number {
  for (;;) {
    const hi = view.getUint32(at + 4, true);
    const lo = view.getUint32(at, true);
    if (view.getUint32(at + 4, true) === hi) return hi * 0x1_0000_0000 + lo;
  }
}

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
