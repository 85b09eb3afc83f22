/** The registers of a stopped x86_64 thread: the one register type of the sampler. */

/** x86_64 struct user_regs_struct, in kernel order. */
export const REG_NAMES = [
  'r15',
  'r14',
  'r13',
  'r12',
  'rbp',
  'rbx',
  'r11',
  'r10',
  'r9',
  'r8',
  'rax',
  'rcx',
  'rdx',
  'rsi',
  'rdi',
  'orig_rax',
  'rip',
  'cs',
  'eflags',
  'rsp',
  'ss',
  'fs_base',
  'gs_base',
  'ds',
  'es',
  'fs',
  'gs',
] as const;
export type RegName = (typeof REG_NAMES)[number];
/** Values past 2^53 (kernel addresses, negative numbers) read as -1. */
export type Registers = Record<RegName, number>;
