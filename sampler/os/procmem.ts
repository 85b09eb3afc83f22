/**
 * Memory backed by /proc/PID/mem (pread at the address). Works on a process that is stopped under
 * ptrace by us or by someone else (e.g. gdb) and, for a process we may ptrace, on a running one.
 * Slower than process_vm_readv (one syscall and one fd per process, no batching) but needs no FFI.
 */
import * as fs from 'node:fs';
import type { Memory } from './memory.js';

export class ProcMemMemory implements Memory {
  private fd: number | null = null;
  private failed = false;
  reads = 0;

  constructor(readonly pid: number) {}

  private open(): number | null {
    if (this.fd !== null) return this.fd;
    if (this.failed) return null;
    try {
      this.fd = fs.openSync(`/proc/${this.pid}/mem`, 'r');
    } catch {
      this.failed = true;
      return null;
    }
    return this.fd;
  }

  read(addr: number, len: number): Buffer | null {
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(len) || len < 0) return null;
    if (len > 64 * 1024 * 1024) return null;
    if (len === 0) return Buffer.alloc(0);
    const fd = this.open();
    if (fd === null) return null;
    this.reads++;
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    try {
      while (got < len) {
        const n = fs.readSync(fd, buf, got, len - got, addr + got);
        if (n <= 0) return null;
        got += n;
      }
    } catch {
      return null;
    }
    return buf;
  }

  close(): void {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd);
      } catch {
        /* ignore */
      }
      this.fd = null;
    }
  }
}
