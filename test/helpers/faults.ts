/**
 * Shared by the fault and safety e2e suites: Lua targets killed after the file, stderr lines, a target
 * found untraced and running, a tracer attached and confirmed by the kernel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, expect } from 'vitest';
import { alive, ptraceState, startLua, waitFor } from './lua-process.js';

/** Processes a suite started; each suite kills its own after its tests (call at the top of the file). */
export function processesOfThisFile(): ChildProcess[] {
  const started: ChildProcess[] = [];
  afterAll(() => started.forEach((c) => c.kill('SIGKILL')));
  return started;
}

/** A lua5.4 that keeps a CPU busy until killed (fixtures/lua/idle.lua), kept in `started`. */
export function busyLua(started: ChildProcess[]): ChildProcess {
  const c = startLua('lua5.4', 'idle.lua');
  started.push(c);
  return c;
}

/** The non-empty lines of an output. */
export const lines = (s: string): string[] =>
  s
    .trimEnd()
    .split('\n')
    .filter((l) => l.length > 0);

/** The target has no tracer (the kernel releases it asynchronously when its tracer dies), and runs. */
export async function untracedAndRunning(pid: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => ptraceState(pid).tracer === 0, timeoutMs, `process ${pid} to be untraced`);
  expect(alive(pid)).toBe(true);
  expect(['R', 'S']).toContain(ptraceState(pid).state);
}

/** Starts a tracer (strace, gdb) on `pid` and waits until the kernel says it traces it. */
export async function traced(
  started: ChildProcess[],
  cmd: string,
  args: string[],
  pid: number,
): Promise<ChildProcess> {
  const tracer = spawn(cmd, args, { stdio: 'ignore' });
  started.push(tracer);
  await waitFor(() => ptraceState(pid).tracer === tracer.pid, 20_000, `${cmd} to attach to ${pid}`);
  return tracer;
}
