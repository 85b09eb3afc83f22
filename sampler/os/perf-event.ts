/**
 * A perf event opened on one thread with its ring buffer mapped: the kernel writes its records there
 * and the reader takes them without a system call (os/on-cpu.ts, os/switch-regs.ts).
 */
import koffi from 'koffi';
import { closeFd, kernelPosition, mapShared, PAGE, PROT_RW, unmap } from './shared-pages.js';

const SYS_PERF_EVENT_OPEN = 298;
const PERF_FLAG_FD_CLOEXEC = 8;
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_ATTR_SIZE = 128;
export const CLOCK_MONOTONIC = 1;

interface Sys {
  open(attr: Buffer, pid: number, cpu: number, group: number, flags: number): number;
  ioctl(fd: number, request: number, arg: number | bigint): number;
}
let sys: Sys | null = null;
function bind(): Sys {
  if (sys) return sys;
  const lib = koffi.load('libc.so.6');
  const syscall = lib.func('long syscall(long, void*, int, int, int, unsigned long)');
  const ioctl = lib.func('int ioctl(int, unsigned long, uint64_t)');
  sys = {
    ioctl: (fd, request, arg) => ioctl(fd, request, arg) as number,
    open: (a, p, c, g, f) => Number(syscall(SYS_PERF_EVENT_OPEN, a, p, c, g, f)),
  };
  return sys;
}

export class PerfRing {
  /** The control page: data_head at 1024, data_tail at 1032. */
  readonly meta: DataView;
  /** The records, dataPages pages, wrapping around. */
  readonly data: ArrayBuffer;
  readonly dataOffset = PAGE;
  /** The data pages, where records wrap around. */
  readonly records: Buffer;

  private constructor(
    private descriptor: number,
    private readonly map: unknown,
    private readonly len: number,
  ) {
    this.data = koffi.view(map, len);
    this.meta = new DataView(this.data, 0, PAGE);
    this.records = Buffer.from(this.data, PAGE, len - PAGE);
  }

  /** perf_event_open(attr) on the thread, its ring of dataPages mapped; null where refused. */
  static open(attr: Buffer, tid: number, dataPages: number): PerfRing | null {
    const fd = bind().open(attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0) return null;
    const len = (1 + dataPages) * PAGE;
    const map = mapShared(fd, len, PROT_RW);
    if (!map) {
      closeFd(fd);
      return null;
    }
    return new PerfRing(fd, map, len);
  }

  /** The event's file descriptor (-1 once closed). */
  get fd(): number {
    return this.descriptor;
  }

  /** Where the kernel's next record goes (data_head), and where the reader is (data_tail), as ring offsets. */
  get head(): number {
    return kernelPosition(this.meta, 1024);
  }

  /** Only this reader moves data_tail: it is kept here, and written whole when it moves. */
  private tailAt = -1;

  get tail(): number {
    if (this.tailAt < 0) this.tailAt = Number(this.meta.getBigUint64(1032, true));
    return this.tailAt;
  }

  /** Gives the records before `at` back to the kernel. */
  set tail(at: number) {
    if (at === this.tailAt) return;
    this.tailAt = at;
    this.meta.setBigUint64(1032, BigInt(at), true);
  }

  /** The size of the record at ring offset `at` (header included; 0: none written there). */
  recordSize(at: number): number {
    return this.records.readUInt16LE(((at % this.records.length) + 6) % this.records.length);
  }

  /**
   * The `size` bytes of the record at ring offset `at`: where the kernel wrote them, or copied whole
   * into `scratch` when they wrap around the ring's end (null when they do not fit it).
   */
  recordAt(at: number, size: number, scratch: Buffer): Buffer | null {
    const from = at % this.records.length;
    const first = this.records.length - from;
    if (size <= first) return this.records.subarray(from, from + size);
    if (size > scratch.length) return null;
    this.records.copy(scratch, 0, from, from + first);
    this.records.copy(scratch, first, 0, size - first);
    return scratch.subarray(0, size);
  }

  /**
   * Hands each record written since the reader's place to `visit` (as recordAt gives it: null when it
   * wraps around the ring's end and does not fit `scratch`), then gives them back to the kernel.
   */
  drain(scratch: Buffer, visit: (rec: Buffer | null) => void): void {
    const head = this.head;
    let tail = this.tail;
    while (tail + 8 <= head) {
      const size = this.recordSize(tail);
      if (size === 0) break;
      visit(this.recordAt(tail, size, scratch));
      tail += size;
    }
    this.tail = tail;
  }

  close(): void {
    if (this.descriptor < 0) return;
    unmap(this.map, this.len);
    closeFd(this.descriptor);
    this.descriptor = -1;
  }
}

const PERF_COUNT_SW_TASK_CLOCK = 1;
const IOC_ENABLE = 0x2400;
const IOC_DISABLE = 0x2401;
const IOC_PERIOD = 0x40082404; // _IOW('$', 4, __u64)
const IOC_SET_BPF = 0x40042408; // _IOW('$', 8, __u32)

/**
 * What each firing of a ThreadTimer records in its ring besides running its program: the thread's
 * user registers (perf's x86_64 numbers, `regsMask`) and `stackBytes` of its user stack from rsp up.
 */
export interface UserSampleSpec {
  regsMask: bigint;
  stackBytes: number;
  dataPages: number;
}
const PERF_SAMPLE_TID = 1 << 1;
const PERF_SAMPLE_TIME = 1 << 2;
const PERF_SAMPLE_REGS_USER = 1 << 12;
const PERF_SAMPLE_STACK_USER = 1 << 13;

/**
 * A timer on one thread's own CPU time (task-clock): it fires in the thread's context each time the
 * thread has run `periodNs`, and runs the program attached to it there. With a UserSampleSpec, a
 * firing whose program returns non-zero also writes a perf sample (the registers and the top of the
 * stack of that instant) to the event's ring; else nothing is recorded in a ring.
 */
export class ThreadTimer {
  private readonly period = Buffer.alloc(8);

  private constructor(
    private fd: number,
    /** The event's ring (a timer that records user samples). */
    readonly ring: PerfRing | null,
  ) {}

  /** Opened disabled, with `program` attached; null where refused. */
  static open(tid: number, periodNs: number, program: number, user?: UserSampleSpec): ThreadTimer | null {
    const s = bind();
    const attr = Buffer.alloc(PERF_ATTR_SIZE);
    attr.writeUInt32LE(PERF_TYPE_SOFTWARE, 0);
    attr.writeUInt32LE(PERF_ATTR_SIZE, 4);
    attr.writeBigUInt64LE(BigInt(PERF_COUNT_SW_TASK_CLOCK), 8);
    attr.writeBigUInt64LE(BigInt(Math.round(periodNs)), 16);
    let ring: PerfRing | null = null;
    let fd: number;
    if (user) {
      attr.writeBigUInt64LE(
        BigInt(PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER),
        24,
      );
      // flags: disabled (0), exclude_hv (6), use_clockid (25): times comparable with bpf_ktime_get_ns.
      attr.writeBigUInt64LE((1n << 0n) | (1n << 6n) | (1n << 25n), 40);
      attr.writeBigUInt64LE(user.regsMask, 80);
      attr.writeUInt32LE(user.stackBytes, 88);
      attr.writeInt32LE(CLOCK_MONOTONIC, 92);
      ring = PerfRing.open(attr, tid, user.dataPages);
      if (!ring) return null;
      fd = ring.fd;
    } else {
      attr.writeBigUInt64LE(1n, 40); // disabled
      fd = s.open(attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
      if (fd < 0) return null;
    }
    if (s.ioctl(fd, IOC_SET_BPF, program) !== 0) {
      if (ring) ring.close();
      else closeFd(fd);
      return null;
    }
    return new ThreadTimer(fd, ring);
  }

  enable(): boolean {
    return bind().ioctl(this.fd, IOC_ENABLE, 0) === 0;
  }

  disable(): boolean {
    return bind().ioctl(this.fd, IOC_DISABLE, 0) === 0;
  }

  /** A new period from the next firing on (the kernel tells the thread's CPU: an interrupt there). */
  setPeriod(periodNs: number): boolean {
    this.period.writeBigUInt64LE(BigInt(Math.max(10_000, Math.round(periodNs))), 0);
    return bind().ioctl(this.fd, IOC_PERIOD, BigInt(koffi.address(this.period) as number | bigint)) === 0;
  }

  close(): void {
    if (this.fd < 0) return;
    this.disable();
    if (this.ring) this.ring.close();
    else closeFd(this.fd);
    this.fd = -1;
  }
}
