/** koffi bindings to the few libc calls the sampler needs. Loaded lazily so unit tests never need them. */
import koffi from 'koffi';

export interface Libc {
  ptrace(request: number, pid: number, addr: Buffer | null, data: Buffer | null): number;
  ptraceData(request: number, pid: number, addr: null, data: number): number;
  waitpid(pid: number, status: Int32Array, options: number): number;
  processVmReadv(
    pid: number,
    local: Buffer,
    liovcnt: number,
    remote: Buffer,
    riovcnt: number,
    flags: number,
  ): number;
  kill(pid: number, sig: number): number;
  errno(): number;
  address(buf: Buffer): number;
}

let cached: Libc | null = null;

export function libc(): Libc {
  if (cached) return cached;
  const lib = koffi.load('libc.so.6');
  const ptrace = lib.func('long ptrace(int, int, void*, void*)');
  const ptraceData = lib.func('ptrace', 'long', ['int', 'int', 'void*', 'uintptr_t']);
  const waitpid = lib.func('int waitpid(int, _Out_ int*, int)');
  const pvr = lib.func(
    'long process_vm_readv(int, void*, unsigned long, void*, unsigned long, unsigned long)',
  );
  const kill = lib.func('int kill(int, int)');
  cached = {
    ptrace: (r, p, a, d) => Number(ptrace(r, p, a, d)),
    ptraceData: (r, p, a, d) => Number(ptraceData(r, p, a, d)),
    waitpid: (p, s, o) => waitpid(p, s, o) as number,
    processVmReadv: (p, l, lc, r, rc, f) => Number(pvr(p, l, lc, r, rc, f)),
    kill: (p, s) => kill(p, s) as number,
    errno: () => koffi.errno(),
    address: (b) => Number(koffi.address(b)),
  };
  return cached;
}
