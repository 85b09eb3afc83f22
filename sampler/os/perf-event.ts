/**
 * A perf event opened on one thread with its ring buffer mapped: the kernel writes its records there
 * and the reader takes them without a system call (os/on-cpu.ts, os/switch-regs.ts).
 */
import koffi from 'koffi';

const SYS_PERF_EVENT_OPEN = 298;
const PERF_FLAG_FD_CLOEXEC = 8;
const PROT_RW = 3;
const MAP_SHARED = 1;
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_ATTR_SIZE = 128;
export const CLOCK_MONOTONIC = 1;
export const PAGE = 4096;

interface Sys {
  open(attr: Buffer, pid: number, cpu: number, group: number, flags: number): number;
  mmap(len: number, prot: number, flags: number, fd: number): unknown;
  munmap(p: unknown, len: number): number;
  close(fd: number): number;
}
let sys: Sys | null = null;
function bind(): Sys {
  if (sys) return sys;
  const lib = koffi.load('libc.so.6');
  const syscall = lib.func('long syscall(long, void*, int, int, int, unsigned long)');
  const mmap = lib.func('void* mmap(void*, size_t, int, int, int, long)');
  const munmap = lib.func('int munmap(void*, size_t)');
  const close = lib.func('int close(int)');
  sys = {
    open: (a, p, c, g, f) => Number(syscall(SYS_PERF_EVENT_OPEN, a, p, c, g, f)),
    mmap: (len, prot, flags, fd) => mmap(null, len, prot, flags, fd, 0),
    munmap: (p, len) => munmap(p, len) as number,
    close: (fd) => close(fd) as number,
  };
  return sys;
}

export class PerfRing {
  /** The control page: data_head at 1024, data_tail at 1032. */
  readonly meta: DataView;
  /** The records, dataPages pages, wrapping around. */
  readonly data: ArrayBuffer;
  readonly dataOffset = PAGE;

  private constructor(
    private fd: number,
    private readonly map: unknown,
    private readonly len: number,
  ) {
    this.data = koffi.view(map, len);
    this.meta = new DataView(this.data, 0, PAGE);
  }

  /** perf_event_open(attr) on the thread, its ring of dataPages mapped; null where refused. */
  static open(attr: Buffer, tid: number, dataPages: number): PerfRing | null {
    const s = bind();
    const fd = s.open(attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) return null;
    const len = (1 + dataPages) * PAGE;
    const map = s.mmap(len, PROT_RW, MAP_SHARED, fd);
    if (!map || Number(koffi.address(map)) === -1) {
      s.close(fd);
      return null;
    }
    return new PerfRing(fd, map, len);
  }

  close(): void {
    if (this.fd < 0) return;
    const s = bind();
    s.munmap(this.map, this.len);
    s.close(this.fd);
    this.fd = -1;
  }
}
