/** Which words of a stopped thread may point at the lua_State it runs (discovery.runningCandidates). */
import { describe, expect, it } from 'vitest';
import { runningCandidates } from '../sampler/lua/puc/discovery.js';
import type { MapEntry } from '../sampler/os/procfs.js';
import { REG_NAMES, type Registers } from '../sampler/os/registers.js';

const HEAP = 0x5555_0000_0000;
const STACK = 0x7ffd_0000_0000;
const maps = [
  { start: 0x5554_0000_0000, end: 0x5554_0001_0000, perms: 'r-xp', path: '/usr/bin/host' },
  { start: HEAP, end: HEAP + 0x10_0000, perms: 'rw-p', path: '[heap]' },
  { start: STACK, end: STACK + 0x2_0000, perms: 'rw-p', path: '[stack]' },
] as unknown as MapEntry[];

function regs(values: Partial<Registers>): Registers {
  return { ...Object.fromEntries(REG_NAMES.map((r) => [r, 0])), ...values } as Registers;
}

function stackOf(words: number[]): { addr: number; bytes: Buffer } {
  const bytes = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => bytes.writeBigUInt64LE(BigInt(w), i * 8));
  return { addr: STACK + 0x1000, bytes };
}

describe('runningCandidates', () => {
  it('registers first, then stack words innermost first, each once', () => {
    const got = runningCandidates(
      regs({ rbx: HEAP + 0x100, rdi: HEAP + 0x200, rip: HEAP + 0x300 }),
      stackOf([HEAP + 0x400, HEAP + 0x100, HEAP + 0x500]),
      maps,
    );
    // rip is not a data register; rbx's value met again on the stack is not repeated.
    expect(got).toEqual([HEAP + 0x100, HEAP + 0x200, HEAP + 0x400, HEAP + 0x500]);
  });

  it('leaves out what cannot be a heap object: code, the stack itself, unaligned or small values', () => {
    const got = runningCandidates(
      regs({ rax: 0x5554_0000_0100, rcx: STACK + 0x1008, rdx: HEAP + 3, rsi: 42 }),
      stackOf([STACK + 0x1010, 0, -1 >>> 0, HEAP + 0x800]),
      maps,
    );
    expect(got).toEqual([HEAP + 0x800]);
  });

  it('reads at most maxWords words of the stack', () => {
    const words = Array.from({ length: 100 }, (_, i) => HEAP + 0x1000 + i * 16);
    expect(runningCandidates(regs({}), stackOf(words), maps, 10)).toHaveLength(10);
  });
});
