/**
 * The few bpf(2) commands the sampler needs (maps, a program, its ring buffer), and an assembler for
 * the instructions its one program uses. Refused where the kernel or the caller's privileges do not
 * allow it: callers then sample the way they did without it.
 */
import koffi from 'koffi';
import { readFileSync } from 'node:fs';
import { kernelPosition, mapShared, PAGE, PROT_READ, PROT_RW, unmap } from './shared-pages.js';

const SYS_BPF = 321;
const EINTR = 4;
const EAGAIN = 11;
/** Loads of a program a signal interrupted that are tried again. */
const LOAD_ATTEMPTS = 50;
const ATTR_BYTES = 128;
const CMD = {
  mapCreate: 0,
  mapLookup: 1,
  mapUpdate: 2,
  mapDelete: 3,
  progLoad: 5,
  progGetNextId: 11,
  objGetInfoByFd: 15,
} as const;
export const MAP_HASH = 1;
export const MAP_ARRAY = 2;
export const MAP_RINGBUF = 27;
export const PROG_PERF_EVENT = 7;

/** Helper functions by number (include/uapi/linux/bpf.h, `___BPF_FUNC_MAPPER`). */
export const HELPER = {
  mapLookupElem: 1,
  ktimeGetNs: 5,
  getSmpProcessorId: 8,
  getCurrentPidTgid: 14,
  probeReadUser: 112,
  ringbufOutput: 130,
} as const;
/** bpf_ringbuf_output's flag: no wake-up (a self-interrupt on the target's CPU); the reader polls. */
export const RB_NO_WAKEUP = 1;

interface Sys {
  bpf(cmd: number, attr: Buffer): number;
  /** bpf(2) on one of libuv's threads; `done` gets its result (-1 for any failure). */
  bpfOffThread(cmd: number, attr: Buffer, done: (result: number) => void): void;
}
let sys: Sys | null = null;
function bind(): Sys {
  if (sys) return sys;
  const syscall = koffi.load('libc.so.6').func('long syscall(long, long, void*, unsigned int)');
  sys = {
    bpf: (cmd, attr) => Number(syscall(SYS_BPF, cmd, attr, attr.length)),
    bpfOffThread: (cmd, attr, done) =>
      syscall.async(SYS_BPF, cmd, attr, attr.length, (err: unknown, r: unknown) =>
        done(err ? -1 : Number(r)),
      ),
  };
  return sys;
}

const address = (b: Buffer): bigint => BigInt(koffi.address(b) as number | bigint);

/** A map's file descriptor, or -1 where refused. */
export function createMap(type: number, keyBytes: number, valueBytes: number, entries: number): number {
  const a = Buffer.alloc(ATTR_BYTES);
  a.writeUInt32LE(type, 0);
  a.writeUInt32LE(keyBytes, 4);
  a.writeUInt32LE(valueBytes, 8);
  a.writeUInt32LE(entries, 12);
  return bind().bpf(CMD.mapCreate, a);
}

/** Sets key → value (a hash map's value is replaced whole: a program sees the old one or the new). */
export function updateMap(fd: number, key: Buffer, value: Buffer): boolean {
  return elementCall(CMD.mapUpdate, fd, key, value);
}

/** Removes key (a thread no longer copied: the program finds no plan for it). */
export function deleteMapKey(fd: number, key: Buffer): boolean {
  return elementCall(CMD.mapDelete, fd, key, null);
}

/** A map element command: its attr is the map, the key's address and the value's. */
function elementCall(cmd: number, fd: number, key: Buffer, value: Buffer | null): boolean {
  const a = Buffer.alloc(ATTR_BYTES);
  a.writeUInt32LE(fd, 0);
  a.writeBigUInt64LE(address(key), 8);
  if (value) a.writeBigUInt64LE(address(value), 16);
  return bind().bpf(cmd, a) === 0;
}

/** The value under key (valueBytes long), or null. */
export function lookupMap(fd: number, key: Buffer, valueBytes: number): Buffer | null {
  const value = Buffer.alloc(valueBytes);
  return elementCall(CMD.mapLookup, fd, key, value) ? value : null;
}

/** bpf_prog_info's run_time_ns and run_cnt (include/uapi/linux/bpf.h): counted while kernel.bpf_stats_enabled is 1. */
const PROG_INFO_BYTES = 232;
const PROG_INFO_RUN_TIME_NS = 192;
const PROG_INFO_RUN_COUNT = 200;

/** The time a program's runs took in the kernel, and how many: zero unless kernel.bpf_stats_enabled is 1. */
export function programRunStats(fd: number): { runNs: number; runs: number } | null {
  const info = Buffer.alloc(PROG_INFO_BYTES);
  const a = Buffer.alloc(ATTR_BYTES);
  a.writeUInt32LE(fd, 0);
  a.writeUInt32LE(info.length, 4);
  a.writeBigUInt64LE(address(info), 8);
  if (bind().bpf(CMD.objGetInfoByFd, a) !== 0) return null;
  return {
    runNs: Number(info.readBigUInt64LE(PROG_INFO_RUN_TIME_NS)),
    runs: Number(info.readBigUInt64LE(PROG_INFO_RUN_COUNT)),
  };
}

/** Loads a program; its fd, or the verifier's log when refused (asked for only then: it can be long). */
export function loadProgram(type: number, code: Buffer): number | string {
  const license = Buffer.from(LICENSE);
  // The verifier gives up with EAGAIN when a signal reaches the thread (V8's profiler sends one every
  // ms): loaded again, as often as it takes within LOAD_ATTEMPTS.
  let fd = -1;
  let errno = 0;
  for (let i = 0; i < LOAD_ATTEMPTS && fd < 0; i++) {
    fd = bind().bpf(CMD.progLoad, programAttr(type, code, license, null));
    errno = fd < 0 ? koffi.errno() : 0;
    if (errno !== EAGAIN && errno !== EINTR) break;
  }
  if (fd >= 0) return fd;
  const log = Buffer.alloc(1 << 20);
  bind().bpf(CMD.progLoad, programAttr(type, code, license, log));
  const end = log.indexOf(0);
  const text = log.toString('utf8', 0, end < 0 ? log.length : end).trim();
  return `errno ${errno}${text ? `: ${text.slice(-2000)}` : ''}`;
}

/**
 * loadProgram with the verifier's work (up to ~130 ms for the tick program) on one of libuv's
 * threads: the caller goes on meanwhile, and has the result at a later turn of its event loop. A load
 * refused there is tried again on the caller's thread, where its errno and log can be read.
 */
export function loadProgramOffThread(type: number, code: Buffer): Promise<number | string> {
  const license = Buffer.from(LICENSE);
  const attr = programAttr(type, code, license, null);
  // The call's memory, which the other thread reads: held here until the call returns.
  const held: Buffer[] = [code, license, attr];
  return new Promise((resolve) => {
    bind().bpfOffThread(CMD.progLoad, attr, (fd) => {
      held.length = 0;
      resolve(fd >= 0 ? fd : loadProgram(type, code));
    });
  });
}

/** probe_read_user is for GPL-compatible programs. */
const LICENSE = 'Dual MIT/GPL\0';

/** BPF_PROG_LOAD's attr: the program, its license, and a buffer for the verifier's log (or none). */
function programAttr(type: number, code: Buffer, license: Buffer, log: Buffer | null): Buffer {
  const a = Buffer.alloc(ATTR_BYTES);
  a.writeUInt32LE(type, 0);
  a.writeUInt32LE(code.length / 8, 4);
  a.writeBigUInt64LE(address(code), 8);
  a.writeBigUInt64LE(address(license), 16);
  if (log) {
    a.writeUInt32LE(1, 24); // log_level
    a.writeUInt32LE(log.length, 28);
    a.writeBigUInt64LE(address(log), 32);
  }
  return a;
}

/** How many BPF programs the kernel holds now (every process's; -1 where it will not say). */
export function loadedPrograms(): number {
  const a = Buffer.alloc(ATTR_BYTES);
  let n = 0;
  for (let id = 0; ; n++) {
    a.fill(0);
    a.writeUInt32LE(id, 0);
    if (bind().bpf(CMD.progGetNextId, a) !== 0) return koffi.errno() === 2 /* ENOENT: the last */ ? n : -1;
    id = a.readUInt32LE(4);
  }
}

/** How many CPUs the kernel may ever number (a per-CPU array needs one entry each). */
export function possibleCpus(): number {
  try {
    const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
    let most = 0;
    for (const part of text.split(',')) most = Math.max(most, Number(part.split('-').pop()));
    return Number.isInteger(most) ? most + 1 : 0;
  } catch {
    return 0;
  }
}

/**
 * A BPF ring buffer read without system calls: records are taken from its mapped pages and the
 * consumer position written back (Documentation/bpf/ringbuf.rst: an 8-byte header, length with a busy
 * bit 31 and a discard bit 30, then the data, rounded up to 8 bytes).
 */
export class BpfRing {
  private readonly consumer: DataView;
  private readonly producer: DataView;
  private readonly bytes: Buffer;
  private readonly mask: number;
  /** The length in the ring of the record peek() returned, 0 when none is held. */
  private peeked = 0;
  /** The consumer position, as last written (the kernel only reads it). */
  private consumed: number;

  private constructor(
    private readonly maps: { p: unknown; len: number }[],
    consumer: ArrayBuffer,
    producer: ArrayBuffer,
    readonly size: number,
  ) {
    this.consumer = new DataView(consumer);
    this.producer = new DataView(producer);
    this.bytes = Buffer.from(producer);
    this.mask = size - 1;
    this.consumed = Number(this.consumer.getBigUint64(0, true));
  }

  /** Maps a ring of `size` bytes (a power of two, whole pages); null where refused. */
  static map(fd: number, size: number): BpfRing | null {
    const cons = mapShared(fd, PAGE, PROT_RW);
    if (!cons) return null;
    const prodLen = PAGE + 2 * size; // the data pages are mapped twice: a record never wraps
    const prod = mapShared(fd, prodLen, PROT_READ, PAGE);
    if (!prod) {
      unmap(cons, PAGE);
      return null;
    }
    return new BpfRing(
      [
        { p: cons, len: PAGE },
        { p: prod, len: prodLen },
      ],
      koffi.view(cons, PAGE),
      koffi.view(prod, prodLen),
      size,
    );
  }

  /**
   * The oldest committed record's bytes, left in the ring (the kernel writes no other record over
   * them) until release(); null when none is ready. Records the kernel discarded are passed over.
   */
  peek(): Buffer | null {
    const produced = kernelPosition(this.producer, 0);
    let at = this.consumed;
    while (at < produced) {
      const head = PAGE + (at & this.mask);
      const word = this.producer.getUint32(head, true);
      if (word & 0x8000_0000) return null; // still being written
      const len = word & 0x3fff_ffff;
      const size = (len + 8 + 7) & ~7; // header and bytes, 8-aligned
      if (!(word & 0x4000_0000)) {
        this.peeked = size;
        return this.bytes.subarray(head + 8, head + 8 + len);
      }
      at += size;
      this.consume(at);
    }
    return null;
  }

  /** Gives the record peek() returned back to the kernel (its bytes are the kernel's again). */
  release(): void {
    if (this.peeked === 0) return;
    this.consume(this.consumed + this.peeked);
    this.peeked = 0;
  }

  /** Records waiting. */
  get hasRecords(): boolean {
    return kernelPosition(this.producer, 0) > this.consumed;
  }

  /** Only this reader moves the consumer position: it is kept here, and written whole. */
  private consume(at: number): void {
    this.consumed = at;
    this.consumer.setBigUint64(0, BigInt(at), true);
  }

  close(): void {
    for (const m of this.maps) unmap(m.p, m.len);
    this.maps.length = 0;
  }
}

/** eBPF instructions (Documentation/bpf/standardization/instruction-set.rst), as few as the program needs. */
export type Insn = { code: number; dst: number; src: number; off: number | string; imm: number };
export type Item = Insn | { label: string };
const insn = (code: number, dst: number, src: number, off: number | string, imm: number): Insn => ({
  code,
  dst,
  src,
  off,
  imm,
});
export const FP = 10;
export const asm = {
  mov: (d: number, imm: number) => insn(0xb7, d, 0, 0, imm),
  movReg: (d: number, s: number) => insn(0xbf, d, s, 0, 0),
  mov32Reg: (d: number, s: number) => insn(0xbc, d, s, 0, 0),
  add: (d: number, imm: number) => insn(0x07, d, 0, 0, imm),
  addReg: (d: number, s: number) => insn(0x0f, d, s, 0, 0),
  subReg: (d: number, s: number) => insn(0x1f, d, s, 0, 0),
  and: (d: number, imm: number) => insn(0x57, d, 0, 0, imm),
  andReg: (d: number, s: number) => insn(0x5f, d, s, 0, 0),
  xor: (d: number, imm: number) => insn(0xa7, d, 0, 0, imm),
  neg: (d: number) => insn(0x87, d, 0, 0, 0),
  lsh: (d: number, imm: number) => insn(0x67, d, 0, 0, imm),
  orReg: (d: number, s: number) => insn(0x4f, d, s, 0, 0),
  load32: (d: number, s: number, off: number) => insn(0x61, d, s, off, 0),
  load64: (d: number, s: number, off: number) => insn(0x79, d, s, off, 0),
  store32: (d: number, off: number, s: number) => insn(0x63, d, s, off, 0),
  store64: (d: number, off: number, s: number) => insn(0x7b, d, s, off, 0),
  jumpIfEq: (d: number, imm: number, to: string) => insn(0x15, d, 0, to, imm),
  jumpIfNe: (d: number, imm: number, to: string) => insn(0x55, d, 0, to, imm),
  jumpIfAbove: (d: number, imm: number, to: string) => insn(0x25, d, 0, to, imm),
  jumpIfAtLeast: (d: number, imm: number, to: string) => insn(0x35, d, 0, to, imm),
  jumpIfAtLeastReg: (d: number, s: number, to: string) => insn(0x3d, d, s, to, 0),
  jumpIfEqReg: (d: number, s: number, to: string) => insn(0x1d, d, s, to, 0),
  /** *(u64 *)(d + off) += s, atomically. */
  atomicAdd64: (d: number, off: number, s: number) => insn(0xdb, d, s, off, 0),
  jump: (to: string) => insn(0x05, 0, 0, to, 0),
  /**
   * To `to` once the kernel's budget of this loop's turns runs out, else on (BPF_JCOND, may_goto:
   * kernel 6.9+). The verifier then takes a turn whose state one before it covers as verified.
   */
  mayGoto: (to: string) => insn(0xe5, 0, 0, to, 0),
  call: (helper: number) => insn(0x85, 0, 0, 0, helper),
  exit: () => insn(0x95, 0, 0, 0, 0),
  /** A map's address, from its fd (two instructions). */
  loadMap: (d: number, fd: number) => [insn(0x18, d, 1, 0, fd), insn(0, 0, 0, 0, 0)],
  label: (label: string) => ({ label }),
};

/** The program's bytes; jumps to labels resolved. */
export function assemble(items: (Item | Item[])[]): Buffer {
  const flat: Insn[] = [];
  const labels = new Map<string, number>();
  for (const it of items.flat()) {
    if ('label' in it) labels.set(it.label, flat.length);
    else flat.push(it);
  }
  const out = Buffer.alloc(flat.length * 8);
  flat.forEach((x, i) => {
    let off = x.off;
    if (typeof off === 'string') {
      const to = labels.get(off);
      if (to === undefined) throw new Error(`no label ${off}`);
      off = to - i - 1;
    }
    out.writeUInt8(x.code, i * 8);
    out.writeUInt8((x.src << 4) | x.dst, i * 8 + 1);
    out.writeInt16LE(off, i * 8 + 2);
    out.writeInt32LE(x.imm | 0, i * 8 + 4);
  });
  return out;
}
