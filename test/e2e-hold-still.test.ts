/**
 * sampler/hold-still.ts on a real thread: the sampler (real-time) takes the CPU of a busy lua5.4 and
 * holds it still without a ptrace stop, as the attach's layout check copies it. The oracle is the
 * kernel's own count of the thread's run time (/proc/PID/schedstat): while the hold lasts, it must
 * not move.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/lua-process.js';

const HAVE = existsSync('/usr/bin/lua5.4') && process.getuid?.() === 0;

/** Tries holdStill a few times in a process of its own (it makes itself real-time). */
const PROBE = `
import { readFileSync } from 'node:fs';
import { becomeRealtime } from '${ROOT}/dist/sampler/os/realtime.js';
import { holdStill } from '${ROOT}/dist/sampler/hold-still.js';
const pid = Number(process.argv[1]);
const ranNs = () => Number(readFileSync('/proc/' + pid + '/schedstat', 'utf8').split(' ')[0]);
const realtime = becomeRealtime();
const tries = [];
for (let i = 0; i < Number(process.argv[2]); i++) {
  const held = holdStill(pid, pid, () => {
    const before = ranNs();
    const t = performance.now();
    while (performance.now() - t < 0.3);
    return ranNs() - before;
  });
  tries.push(held ? held.value : null);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
}
console.log(JSON.stringify({ realtime, tries }));
`;

describe.skipIf(!HAVE)('holding a thread still without a stop', () => {
  const children: ChildProcess[] = [];
  afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

  /** A busy lua5.4, on one CPU when `cpu` is given; killed after the tests. */
  function busyLua(cpu?: number): ChildProcess {
    const lua = ['lua5.4', '-e', 'local x = 0 while true do x = x + 1 end'];
    const [cmd, ...rest] = cpu === undefined ? lua : ['taskset', '-c', String(cpu), ...lua];
    const child = spawn(cmd, rest, { stdio: 'ignore' });
    children.push(child);
    return child;
  }

  /** Starts a busy lua5.4 (on CPU `cpu` when given) and holds its thread still `tries` times. */
  async function holds(tries: number, cpu?: number): Promise<(number | null)[]> {
    const lua = busyLua(cpu);
    await new Promise((r) => setTimeout(r, 300));
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', PROBE, String(lua.pid), String(tries)],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { realtime: boolean; tries: (number | null)[] };
    expect(out.realtime).toBe(true);
    return out.tries;
  }

  it('a busy lua5.4 does not run while held, and the switch records say it was held', async () => {
    const tries = await holds(5);
    const held = tries.filter((t): t is number => t !== null);
    // Most holds are confirmed (a thread the scheduler moved to another CPU meanwhile is not).
    expect(held.length, JSON.stringify(tries)).toBeGreaterThanOrEqual(3);
    // While a confirmed hold lasted (0.3 ms spun inside it), the thread's run time did not move.
    for (const ranNs of held) expect(ranNs).toBe(0);
  });

  // A thread waiting for its CPU behind another busy one leaves no switch record between the tracker's
  // opening and the hold's end: it stood still all along, and is held (a stop waited ~1 ms for it).
  it('a lua5.4 waiting for its CPU behind another busy process is held, and does not run', async () => {
    const cpu = availableParallelism() - 1;
    busyLua(cpu);
    const tries = await holds(10, cpu);
    const held = tries.filter((t): t is number => t !== null);
    // Half of these find the thread waiting: before, none of those was held.
    expect(held.length, JSON.stringify(tries)).toBeGreaterThanOrEqual(9);
    for (const ranNs of held) expect(ranNs).toBe(0);
  });
});
