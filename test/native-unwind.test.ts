/**
 * Unwinder behaviour on synthetic stacks: vdso CFI read from memory, the sigreturn-sequence
 * fallback, frame-pointer steps, leaf frames, termination rules, and hostile input.
 */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ElfFile } from '../sampler/elf/elf.js';
import { NativeUnwinder } from '../sampler/native/index.js';
import type { Registers as Regs } from '../sampler/os/registers.js';
import { SnapshotMemory } from '../sampler/os/memory.js';
import { readMaps } from '../sampler/os/maps.js';
import { rng } from './helpers/fuzz.js';
import { mapping } from './helpers/maps.js';
import { ProcMemMemory } from '../sampler/os/procmem.js';

function regs(r: Partial<Regs>): Regs {
  return { rip: 0, rsp: 0, rbp: 0, rbx: 0, r12: 0, r13: 0, r14: 0, r15: 0, ...r } as Regs;
}

const CODE = 0x1000_0000; // fake anonymous executable region (no ELF, no FDE)
const STACK = 0x7ffd_0000_0000;
const STACK_SIZE = 0x10000;

function codeImage(): Buffer {
  const b = Buffer.alloc(0x1000, 0x90);
  // sigreturn sequence at CODE: mov $15,%rax; syscall
  Buffer.from([0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05]).copy(b, 0);
  // "call rel32" instructions ending at 0x105, 0x205, 0x305 (return addresses follow them).
  for (const ra of [0x105, 0x205, 0x305]) b[ra - 5] = 0xe8;
  return b;
}

function setup(): { u: NativeUnwinder; stack: Buffer } {
  const maps = [mapping(CODE, CODE + 0x1000, 'r-xp'), mapping(STACK, STACK + STACK_SIZE, 'rw-p', '[stack]')];
  const mem = new SnapshotMemory([{ addr: CODE, bytes: codeImage() }]);
  const u = new NativeUnwinder(0, mem, { maps });
  return { u, stack: Buffer.alloc(STACK_SIZE) };
}

const put = (b: Buffer, addr: number, v: number) => b.writeBigUInt64LE(BigInt(v), addr - STACK);

describe('synthetic stacks', () => {
  it('signal frame via the sigreturn sequence (no FDE), then frame-pointer steps', () => {
    const { u, stack } = setup();
    const sp0 = STACK + 0x100;
    // ucontext at rsp: gregs at +40 (r8…), rbp +120, rbx +128, rsp +160, rip +168.
    const rbp1 = STACK + 0x2000;
    put(stack, sp0 + 120, rbp1);
    put(stack, sp0 + 128, 0xb0b);
    put(stack, sp0 + 72, 0x1212); // r12
    put(stack, sp0 + 160, STACK + 0x1f00); // interrupted rsp
    put(stack, sp0 + 168, CODE + 0x400); // interrupted rip (exact, not a return address)
    // Frame-pointer chain of the interrupted code: [rbp] = next rbp, [rbp+8] = return address.
    const rbp2 = STACK + 0x3000;
    put(stack, rbp1, rbp2);
    put(stack, rbp1 + 8, CODE + 0x105);
    put(stack, rbp2, 0);
    put(stack, rbp2 + 8, CODE + 0x205);
    const frames = u.unwind(regs({ rip: CODE, rsp: sp0, rbp: 1, rbx: 2 }), { addr: STACK, bytes: stack });
    expect(frames.map((f) => f.pc - CODE)).toEqual([0, 0x400, 0x105, 0x205]);
    expect(frames.map((f) => f.method)).toEqual(['regs', 'cfi', 'fp', 'fp']);
    expect(frames[0].signal).toBe(true);
    expect(frames[1].regs).toMatchObject({ rbx: 0xb0b, rbp: rbp1, r12: 0x1212 });
    expect(frames[1].sp).toBe(STACK + 0x1f00);
    expect(frames[2].sp).toBe(rbp1 + 16);
    expect(frames[2].regs).toEqual({ rbp: rbp2 });
  });

  it('leaf frame without FDE: return address from [rsp] when it follows a call', () => {
    const { u, stack } = setup();
    const sp0 = STACK + 0x100;
    put(stack, sp0, CODE + 0x305);
    const frames = u.unwind(regs({ rip: CODE + 0x800, rsp: sp0, rbp: 0 }), { addr: STACK, bytes: stack });
    expect(frames.map((f) => f.method)).toEqual(['regs', 'leaf']);
    expect(frames[1].pc).toBe(CODE + 0x305);
    expect(frames[0].cfa).toBe(sp0 + 8);
  });

  it('refuses frame-pointer steps that do not look like frames, and cycles', () => {
    const { u, stack } = setup();
    const sp0 = STACK + 0x100;
    // rbp below sp
    expect(
      u.unwind(regs({ rip: CODE + 0x800, rsp: sp0, rbp: sp0 - 64 }), { addr: STACK, bytes: stack }).length,
    ).toBe(1);
    // return address not after a call
    put(stack, sp0 + 0x40 + 8, CODE + 0x123);
    expect(
      u.unwind(regs({ rip: CODE + 0x800, rsp: sp0, rbp: sp0 + 0x40 }), { addr: STACK, bytes: stack }).length,
    ).toBe(1);
    // a self-referencing chain terminates (sp must grow)
    const bp = sp0 + 0x80;
    put(stack, bp, bp);
    put(stack, bp + 8, CODE + 0x105);
    const f = u.unwind(regs({ rip: CODE + 0x800, rsp: sp0, rbp: bp }), { addr: STACK, bytes: stack });
    expect(f.length).toBeLessThanOrEqual(3);
  });

  it('stops at unknown pcs and missing registers, and respects maxFrames', () => {
    const { u, stack } = setup();
    expect(u.unwind(regs({ rip: 0, rsp: STACK }), { addr: STACK, bytes: stack })).toEqual([]);
    expect(u.unwind({ rip: CODE } as Regs, { addr: STACK, bytes: stack })).toEqual([]);
    expect(u.unwind(regs({ rip: 0x42, rsp: STACK + 8 }), { addr: STACK, bytes: stack }).length).toBe(1);
    // A long FP chain, cut by maxFrames.
    for (let i = 0; i < 100; i++) {
      const bp = STACK + 0x100 + i * 0x40;
      put(stack, bp, bp + 0x40);
      put(stack, bp + 8, CODE + 0x105);
    }
    const all = u.unwind(regs({ rip: CODE + 0x800, rsp: STACK + 0x100 - 8, rbp: STACK + 0x100 }), {
      addr: STACK,
      bytes: stack,
    });
    expect(all.length).toBeGreaterThan(50);
    const cut = u.unwind(
      regs({ rip: CODE + 0x800, rsp: STACK + 0x100 - 8, rbp: STACK + 0x100 }),
      { addr: STACK, bytes: stack },
      5,
    );
    expect(cut.length).toBe(5);
  });
});

describe('live process objects', () => {
  it('unwinds out of the vdso with the CFI of the image read from memory', () => {
    const maps = readMaps(process.pid)!;
    const vdsoMap = maps.find((m) => m.path === '[vdso]')!;
    const mem = new ProcMemMemory(process.pid);
    const img = mem.read(vdsoMap.start, vdsoMap.end - vdsoMap.start)!;
    const elf = ElfFile.parse(img)!;
    const fn = elf.dynsym().find((s) => /clock_gettime$/.test(s.name) && s.size > 0)!;
    const entry = vdsoMap.start - elf.baseVaddr() + fn.value;
    // A return address into libc's text.
    const libc = maps.find((m) => /libc\.so\.6$/.test(m.path) && m.executable)!;
    const ra = libc.start + 0x100;
    const sp = 0x7ffd_0000_1000;
    const stack = Buffer.alloc(256);
    stack.writeBigUInt64LE(BigInt(ra), 0);
    const u = new NativeUnwinder(process.pid, mem);
    const frames = u.unwind(regs({ rip: entry, rsp: sp, rbp: 7 }), { addr: sp, bytes: stack });
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(frames[0].cfa).toBe(sp + 8);
    expect(frames[1]).toMatchObject({ pc: ra, sp: sp + 8, method: 'cfi' });
    expect(frames[1].regs.rbp).toBe(7);
    mem.close();
  });

  it('never throws or runs away on random registers and stack bytes', () => {
    const mem = new ProcMemMemory(process.pid);
    const u = new NativeUnwinder(process.pid, mem);
    const maps = readMaps(process.pid)!;
    const exec = maps.filter((m) => m.executable && m.path.startsWith('/'));
    const rnd = rng(99);
    const t0 = Date.now();
    for (let t = 0; t < 300; t++) {
      const bytes = Buffer.alloc(16384);
      for (let i = 0; i < bytes.length; i += 8) {
        const m = exec[Math.floor(rnd() * exec.length)];
        const kind = rnd();
        // Mix of code addresses, stack-ish addresses and noise.
        const v =
          kind < 0.4
            ? m.start + Math.floor(rnd() * (m.end - m.start))
            : kind < 0.7
              ? 0x7ffd_0000_0000 + Math.floor(rnd() * 16384)
              : Math.floor(rnd() * 2 ** 32);
        bytes.writeBigUInt64LE(BigInt(v), i);
      }
      const m = exec[Math.floor(rnd() * exec.length)];
      const r = regs({
        rip: m.start + Math.floor(rnd() * (m.end - m.start)),
        rsp: 0x7ffd_0000_0000 + 8 * Math.floor(rnd() * 512),
        rbp: 0x7ffd_0000_0000 + 8 * Math.floor(rnd() * 2048),
        rbx: Math.floor(rnd() * 2 ** 40),
      });
      const frames = u.unwind(r, { addr: 0x7ffd_0000_0000, bytes }, 64);
      expect(frames.length).toBeLessThanOrEqual(64);
      for (let i = 1; i < frames.length; i++)
        if (!frames[i - 1].signal) expect(frames[i].sp).toBeGreaterThan(frames[i - 1].sp);
    }
    expect(Date.now() - t0).toBeLessThan(20_000);
    mem.close();
  });
});

it('fixtures are sources only', () => {
  for (const f of fs.readdirSync(new URL('../fixtures/native/', import.meta.url)))
    expect(f).toMatch(/\.(c|cpp|lua)$/);
});

describe('mapping changes', () => {
  it('keeps per-pc caches on data-only changes and drops them when executable mappings change', () => {
    const { u, stack } = setup();
    const base = [
      mapping(CODE, CODE + 0x1000, 'r-xp'),
      mapping(STACK, STACK + STACK_SIZE, 'rw-p', '[stack]'),
    ];
    const g0 = u.modules.generation;
    u.setMaps([...base, mapping(0x2000_0000, 0x2010_0000, 'rw-p')]); // heap grew
    expect(u.modules.generation).toBe(g0);
    expect(u.modules.maps.length).toBe(3);
    u.setMaps([...base, mapping(0x3000_0000, 0x3000_1000, 'r-xp')]); // new code
    expect(u.modules.generation).toBe(g0 + 1);
    expect(u.modules.isExecutable(0x3000_0010)).toBe(true);
    expect(
      u.unwind(regs({ rip: CODE, rsp: STACK + 0x100 }), { addr: STACK, bytes: stack }).length,
    ).toBeGreaterThan(0);
  });
});
