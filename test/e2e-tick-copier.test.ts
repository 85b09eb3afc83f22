/**
 * The kernel's copies of a running thread (sampler/copier/tick-copier.ts) against a real busy lua5.4:
 * the BPF program loads, its timer fires on the thread's CPU time at about the rate asked, each copy
 * holds the bytes the plan names, and a span that cannot be read cuts the copy there; and the
 * program follows a linked list of records itself (fixtures/copier/chain.c).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { TickCopiers } from '../sampler/copier/tick-copier.js';
import type { CopierCopy } from '../sampler/copier/copier.js';
import { ThreadAffinity, keepProcessOff } from '../sampler/os/affinity.js';
import { iovOf } from './helpers/iov.js';
import { CLI, ROOT, tempDir } from './helpers/lua-process.js';
import { CHAIN_ENTRY_BYTES, MAX_CHAIN } from '../sampler/os/call-chain.js';
import { join } from 'node:path';

const children: ChildProcess[] = [];
afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

function busyLua(): ChildProcess {
  const c = spawn('lua5.4', ['-e', 'local x = 0 while true do x = x + 1 end'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

/** The first mapping of the executable (its ELF header) and an address nothing maps. */
function exeStart(pid: number): number {
  const first = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')[0];
  return parseInt(first.split('-')[0], 16);
}

/**
 * The thread's CPU time so far (ms). The timer counts it: a thread the host gives less of a CPU to
 * (another process, the hypervisor) is copied less often, at the same rate per CPU second.
 */
function cpuMs(pid: number, tid = pid): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/** Copies within half to one and a half times one per `intervalMs` of the thread's CPU time (`ranMs`). */
function expectRate(copies: number, ranMs: number, intervalMs: number, what: string): void {
  const expected = ranMs / intervalMs;
  expect(copies, `${what}: ${copies} copies in ${ranMs.toFixed(0)} ms of its CPU time`).toBeGreaterThan(
    0.5 * expected,
  );
  expect(copies, what).toBeLessThan(1.5 * expected + 10);
}

/** The copies of `ms` ms: each with its first 4 bytes as text, and its chain copied out of the ring. */
function copiesFor(copier: TickCopiers, ms: number): (CopierCopy & { head: string })[] {
  const out: (CopierCopy & { head: string })[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const c = copier.next(20, 8);
    if (c)
      out.push({
        ...c,
        head: c.bytes.subarray(0, 4).toString('latin1'),
        chain: c.chain && Buffer.from(c.chain),
      });
  }
  return out;
}

describe.runIf(process.getuid?.() === 0)('the kernel copies a running thread at its timer ticks', () => {
  it('copies at about the rate asked, each with the plan bytes, and cuts at a span it cannot read', async () => {
    const lua = busyLua();
    await new Promise((r) => setTimeout(r, 200));
    const pid = lua.pid!;
    const copier = TickCopiers.open(pid, 1);
    expect(copier, 'BPF program refused').not.toBeNull();
    expect(copier!.add(pid), 'task-clock timer refused').toBe(true);
    try {
      const base = exeStart(pid);
      expect(
        copier!.publishPlan(
          pid,
          iovOf([
            [base, 64],
            [base + 16, 48],
          ]),
          2,
          112,
          1,
        ),
      ).toBe(true);
      const ran = cpuMs(pid);
      const whole = copiesFor(copier!, 500);
      expectRate(whole.length, cpuMs(pid) - ran, 1, 'the thread');
      for (const c of whole) {
        expect(c.planVersion).toBe(1);
        expect(c.got).toBe(112);
        expect(c.head).toBe('\x7fELF');
        expect(c.still).toBe(true);
      }
      for (let i = 1; i < whole.length; i++) expect(whole[i].dueNs).toBeGreaterThan(whole[i - 1].dueNs);
      // A second span the thread does not map: the copy is whole up to it.
      expect(
        copier!.publishPlan(
          pid,
          iovOf([
            [base, 64],
            [0x1000, 32],
            [base, 8],
          ]),
          3,
          104,
          2,
        ),
      ).toBe(true);
      const ranCut = cpuMs(pid);
      const cut = copiesFor(copier!, 200).filter((c) => c.planVersion === 2);
      expectRate(cut.length, cpuMs(pid) - ranCut, 1, 'the thread, with a span it does not map');
      for (const c of cut) expect([c.got, c.head]).toEqual([64, '\x7fELF']);
      // Paused: no copies.
      copier!.setCpu(pid, -1);
      copiesFor(copier!, 30);
      expect(copiesFor(copier!, 200)).toHaveLength(0);
    } finally {
      copier?.stop();
    }
  });
});

describe.runIf(process.getuid?.() === 0)('the kernel copies several threads of one process', () => {
  it("one program and ring: each copy is its thread's, with that thread's plan; a thread removed gives none", async () => {
    // Two threads spinning in one process (a shell loop's subshells would be processes of their own).
    const host = spawn(
      'perl',
      [
        '-Mthreads',
        '-e',
        'my @t = map { threads->create(sub { my $x = 0; $x++ while 1 }) } 1..2; $_->join for @t',
      ],
      { stdio: 'ignore' },
    );
    children.push(host);
    await new Promise((r) => setTimeout(r, 300));
    const pid = host.pid!;
    const workers = readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((t) => t !== pid);
    expect(workers).toHaveLength(2);
    const copiers = TickCopiers.open(pid, 2);
    expect(copiers, 'BPF program refused').not.toBeNull();
    try {
      const base = exeStart(pid);
      const [a, b] = workers;
      expect(copiers!.add(a) && copiers!.add(b)).toBe(true);
      expect(copiers!.publishPlan(a, iovOf([[base, 16]]), 1, 16, 1)).toBe(true);
      expect(copiers!.publishPlan(b, iovOf([[base, 40]]), 1, 40, 7)).toBe(true);
      const [ranA, ranB] = [cpuMs(pid, a), cpuMs(pid, b)];
      const both = copiesFor(copiers!, 500);
      const of = (tid: number) => both.filter((c) => c.tid === tid);
      expectRate(of(a).length, cpuMs(pid, a) - ranA, 2, 'thread a');
      expectRate(of(b).length, cpuMs(pid, b) - ranB, 2, 'thread b');
      expect(of(a).length + of(b).length).toBe(both.length);
      for (const c of of(a)) expect([c.planVersion, c.got, c.head]).toEqual([1, 16, '\x7fELF']);
      for (const c of of(b)) expect([c.planVersion, c.got, c.head]).toEqual([7, 40, '\x7fELF']);
      copiers!.remove(b);
      expect(copiers!.tids).toEqual([a]);
      copiesFor(copiers!, 30);
      const ranAfter = cpuMs(pid, a);
      const after = copiesFor(copiers!, 200);
      expectRate(after.length, cpuMs(pid, a) - ranAfter, 2, 'thread a alone');
      expect(after.every((c) => c.tid === a)).toBe(true);
    } finally {
      copiers?.stop();
    }
  });
});

/** The CPUs each thread of this process may run on (from Cpus_allowed_list). */
function allowedCpus(): Set<number>[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))![1];
    const cpus = new Set<number>();
    for (const part of list.split(',')) {
      const [a, b] = part.split('-').map(Number);
      for (let c = a; c <= (b ?? a); c++) cpus.add(c);
    }
    return cpus;
  });
}

describe.runIf(availableParallelism() > 1)('keepProcessOff', () => {
  it('keeps every thread of the process off the CPU, after the calling thread already keeps off it', () => {
    const cpus = availableParallelism();
    const cpu = cpus - 1;
    try {
      // The worker's order: its own thread first (avoid), then the whole process.
      new ThreadAffinity().avoid(cpu);
      keepProcessOff(cpu);
      const threads = allowedCpus();
      expect(threads.length).toBeGreaterThan(1);
      for (const allowed of threads) {
        expect(allowed.has(cpu)).toBe(false);
        expect(allowed.size).toBe(cpus - 1);
      }
    } finally {
      spawnSync('taskset', ['-a', '-p', '-c', `0-${cpus - 1}`, String(process.pid)], { stdio: 'ignore' });
    }
  });
});

describe.runIf(availableParallelism() > 1 && process.getuid?.() === 0)('a luaprof started on one CPU', () => {
  it('still has the kernel copy the thread, beside it or on its CPU', async () => {
    for (const cpu of [0, 1]) {
      const lua = spawn('taskset', ['-c', '1', 'lua5.4', '-e', 'local x = 0 while true do x = x + 1 end'], {
        stdio: 'ignore',
      });
      children.push(lua);
      const out = join(tempDir(), 'one-cpu.json');
      // A parent's own affinity (taskset, a bench that moved itself) is what luaprof starts with.
      const luaprof = spawn(
        'taskset',
        [
          '-c',
          String(cpu),
          process.execPath,
          CLI,
          'record',
          '-p',
          String(lua.pid),
          '-d',
          '1s',
          '-r',
          '500',
          '-o',
          out,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      children.push(luaprof);
      // The target's CPU time from the sampling loop's start (its line) to luaprof's exit.
      let stderr = '';
      let ranFrom = NaN;
      luaprof.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (Number.isNaN(ranFrom) && stderr.includes('sampling pid')) ranFrom = cpuMs(lua.pid!);
      });
      const status = await new Promise<number | null>((resolve) => luaprof.once('exit', resolve));
      const ran = cpuMs(lua.pid!) - ranFrom;
      lua.kill('SIGKILL');
      expect(status, stderr).toBe(0);
      const meta = JSON.parse(readFileSync(out, 'utf8')).luaprof.meta as {
        samples: number;
        tickCopies?: number;
      };
      // Copies begin once their program is loaded (~180 ms); samples are taken the usual way until then.
      const copies = meta.tickCopies ?? 0;
      const what = `luaprof on CPU ${cpu}: ${meta.samples} samples, ${copies} copies`;
      expectRate(meta.samples, ran, 2, what);
      expectRate(copies, ran, 2, what);
    }
  });
});

describe.runIf(process.getuid?.() === 0 && existsSync('/usr/bin/gcc'))(
  'the kernel follows a call chain',
  () => {
    /** chain.c started with `args`, its list copied at 300 ticks with the `loops` form: what it printed, and the chains copied. */
    async function copiedChains(loops: 'converging' | 'walked', args: string[]) {
      const exe = join(tempDir(), 'chain');
      execFileSync('gcc', ['-O2', '-o', exe, join(ROOT, 'fixtures/copier/chain.c')]);
      const proc = spawn(exe, args, { stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(proc);
      const line = await new Promise<string>((resolve) =>
        proc.stdout!.once('data', (d: Buffer) => resolve(`${d}`)),
      );
      const printed = line
        .trim()
        .split(' ')
        .map((h) => parseInt(h, 16));
      const [headWord, base] = printed;
      const copier = TickCopiers.open(proc.pid!, 1, Math.random, 0, [loops]);
      expect(copier, 'BPF program refused').not.toBeNull();
      expect(copier!.add(proc.pid!)).toBe(true);
      try {
        const chain = { head: headWord, stop: base, recordBytes: 64, nextAt: 16 };
        expect(copier!.publishPlan(proc.pid!, iovOf([[headWord, 8]]), 1, 8, 1, chain)).toBe(true);
        const chains = copiesFor(copier!, 300).flatMap((c) => (c.chain ? [c.chain] : []));
        expect(chains.length).toBeGreaterThan(20);
        return { printed, chains };
      } finally {
        copier?.stop();
      }
    }

    /**
     * Where a copied chain differs from `records` (innermost first, each the caller of the one before;
     * the last one's caller `last`), checked word by word: null when it does not. One expect per copy
     * (~100,000 expects took 6-8 s).
     */
    function chainMismatch(entries: Buffer, records: number[], last: number): string | null {
      if (entries.length !== records.length * CHAIN_ENTRY_BYTES) return `${entries.length} bytes`;
      for (let i = 0; i < records.length; i++) {
        const e = i * CHAIN_ENTRY_BYTES;
        if (Number(entries.readBigUInt64LE(e)) !== records[i]) return `record ${i}'s address`;
        const bytes = entries.subarray(e + 8, e + 8 + 64);
        const caller = i + 1 < records.length ? records[i + 1] : last;
        if (Number(bytes.readBigUInt64LE(16)) !== caller) return `record ${i}'s caller`;
        for (const b of [0, 15, 24, 63])
          if (bytes[b] !== ((i * 16 + b) & 0xff)) return `record ${i}, byte ${b}`;
      }
      return null;
    }

    // Both forms of the program's loops (tick-program.ts TickLoops): this kernel loads either.
    it.each(['converging', 'walked'] as const)(
      'copies each record where it lies: beside its callee, far from it, and with nothing readable below it (%s loops)',
      async (loops) => {
        const { printed, chains } = await copiedChains(loops, []);
        const [, base, ...records] = printed;
        for (const entries of chains) expect(chainMismatch(entries, records, base)).toBeNull();
      },
    );

    // A list longer than the kernel follows: the innermost MAX_CHAIN records, whole, and no other.
    it.each(['converging', 'walked'] as const)(
      'copies the innermost MAX_CHAIN records of a list of 1,500 (%s loops)',
      async (loops) => {
        const { printed, chains } = await copiedChains(loops, ['1500']);
        const [, , innermost, stride] = printed;
        const records = Array.from({ length: MAX_CHAIN }, (_, i) => innermost - i * stride);
        for (const entries of chains)
          expect(chainMismatch(entries, records, innermost - MAX_CHAIN * stride)).toBeNull();
      },
    );
  },
);
