/** The user registers perf records (PERF_SAMPLE_REGS_USER), as this sampler asks for them and reads them. */
import { u64 } from './memory.js';
import type { Registers } from './registers.js';

/** perf's x86_64 register numbers (arch/x86/include/uapi/asm/perf_regs.h) of what is recorded, in mask order. */
const PERF_REGS: readonly [number, keyof Registers][] = [
  [0, 'rax'],
  [1, 'rbx'],
  [2, 'rcx'],
  [3, 'rdx'],
  [4, 'rsi'],
  [5, 'rdi'],
  [6, 'rbp'],
  [7, 'rsp'],
  [8, 'rip'],
  [16, 'r8'],
  [17, 'r9'],
  [18, 'r10'],
  [19, 'r11'],
  [20, 'r12'],
  [21, 'r13'],
  [22, 'r14'],
  [23, 'r15'],
];
/** perf_event_attr.sample_regs_user for them. */
export const USER_REGS_MASK = PERF_REGS.reduce((m, [n]) => m | (1n << BigInt(n)), 0n);
/** Bytes they take in a record (after its u64 abi). */
export const USER_REGS_BYTES = PERF_REGS.length * 8;

/** The registers recorded from `off` in `rec`. */
export function readUserRegs(rec: Buffer, off: number): Partial<Registers> {
  const regs: Partial<Registers> = {};
  for (let i = 0; i < PERF_REGS.length; i++) regs[PERF_REGS[i][1]] = u64(rec, off + i * 8);
  return regs;
}
