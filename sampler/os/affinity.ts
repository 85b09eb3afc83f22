/**
 * The CPUs the calling thread may run on (sched_setaffinity on thread 0, i.e. itself). The sampler
 * moves itself onto the CPU a target thread runs on before it sleeps, so that its timer wakes it
 * there and its wake-up takes that CPU from the thread at the sampling instant: while the sampler
 * copies, the thread is switched out, and the copy is of one moment. Then it moves off again.
 */
import koffi from 'koffi';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const MASK_BYTES = 128; // cpu_set_t
/**
 * The CPUs this process may use, counted once, before any of its threads is restricted:
 * availableParallelism() counts the calling thread's own affinity, one CPU once it keeps off another.
 */
const CPUS = availableParallelism();

let setaffinity: ((pid: number, size: number, mask: Buffer) => number) | null = null;
function bind(): (pid: number, size: number, mask: Buffer) => number {
  if (!setaffinity) {
    const lib = koffi.load('libc.so.6');
    const f = lib.func('int sched_setaffinity(int, size_t, void*)');
    setaffinity = (pid, size, mask) => f(pid, size, mask) as number;
  }
  return setaffinity;
}

/** `mask` (a cpu_set_t) set to every one of `cpus` CPUs but `cpu`. */
function allBut(cpu: number, cpus: number, mask: Buffer): Buffer {
  mask.fill(0);
  for (let c = 0; c < cpus && c < MASK_BYTES * 8; c++) if (c !== cpu) mask[c >> 3] |= 1 << (c & 7);
  return mask;
}

export class ThreadAffinity {
  private readonly cpus = CPUS;
  private readonly mask = Buffer.alloc(MASK_BYTES);
  /** The CPU the thread is pinned to, -1 when it is not pinned. */
  private pinned = -1;
  /** The CPU the thread keeps off (avoid), -1 when none. */
  private avoiding = -1;

  /** Pinned to one CPU now. */
  get isPinned(): boolean {
    return this.pinned >= 0;
  }

  /** Whether moving between CPUs can help: more than one CPU. */
  get useful(): boolean {
    return this.cpus > 1;
  }

  /** Runs the calling thread on `cpu` only (no-op when already there). */
  pin(cpu: number): boolean {
    if (this.pinned === cpu) return true;
    if (cpu < 0 || cpu >= MASK_BYTES * 8) return false;
    this.mask.fill(0);
    this.mask[cpu >> 3] = 1 << (cpu & 7);
    if (bind()(0, MASK_BYTES, this.mask) !== 0) return false;
    this.pinned = cpu;
    this.avoiding = -1;
    return true;
  }

  /**
   * Runs the calling thread anywhere but on `cpu` (no-op when already so): the sampling worker keeps
   * off the CPU of the thread the copier thread copies (sampler/copier), so that walks never take it.
   */
  avoid(cpu: number): void {
    if (this.pinned >= 0 || this.avoiding === cpu || cpu < 0 || cpu >= this.cpus) return;
    if (this.runAllBut(cpu)) this.avoiding = cpu;
  }

  /** Lets the calling thread run on every CPU but `cpu`. */
  private runAllBut(cpu: number): boolean {
    return bind()(0, MASK_BYTES, allBut(cpu, this.cpus, this.mask)) === 0;
  }

  /** Leaves the CPU the thread is pinned to, for any other (nothing when it is not pinned). */
  release(): void {
    if (this.pinned < 0) return;
    if (this.runAllBut(this.pinned)) {
      this.avoiding = this.pinned;
      this.pinned = -1;
    }
  }
}

/** The calling thread's (the sampler's; a worker has one) affinity. */
export const samplerAffinity = new ThreadAffinity();

/** The CPU every thread of this process was last kept off (-1: none). */
let processAvoiding = -1;

/**
 * Keeps every thread of this process (Node's own and V8's helpers, which a thread's affinity does not
 * reach) off `cpu`, the CPU of the thread the kernel copies at its ticks (sampler/copier/tick-copier.ts):
 * any of them scheduled there would hold the thread off its CPU. Threads made later inherit it from
 * the thread that makes them. No-op when already so, or with one CPU.
 */
export function keepProcessOff(cpu: number): void {
  if (cpu === processAvoiding || cpu < 0) return;
  if (CPUS < 2 || cpu >= Math.min(CPUS, MASK_BYTES * 8)) return;
  const mask = allBut(cpu, CPUS, Buffer.alloc(MASK_BYTES));
  const set = bind();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return;
  }
  for (const tid of tids) set(Number(tid), MASK_BYTES, mask);
  processAvoiding = cpu;
}
