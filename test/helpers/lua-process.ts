/** Starting Lua fixtures and luaprof itself from tests, and checking a target's ptrace state. */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../testkit/root.js';

export { ROOT, tempDir } from '../../testkit/root.js';
export const CLI = join(ROOT, 'dist/cli/main.js');
export const FIXTURES = join(ROOT, 'fixtures/lua');

/**
 * Starts a Lua fixture detached from the test runner. (Being a direct child of Node is fine here: only
 * `luaprof` traces it, from another process.)
 */
export function startLua(
  interpreter: string,
  script: string,
  args: string[] = [],
  cwd = FIXTURES,
): ChildProcess {
  return spawn(interpreter, [script, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function waitForFile(path: string, timeoutMs = 10_000): Promise<string> {
  await waitFor(() => existsSync(path) && readFileSync(path, 'utf8').length > 0, timeoutMs, path);
  await new Promise((r) => setTimeout(r, 50));
  return readFileSync(path, 'utf8');
}

export function luaprofSync(
  args: string[],
  opts: { timeout?: number; uid?: number } = {},
): SpawnSyncReturns<string> {
  if (opts.uid !== undefined) {
    return spawnSync(
      'setpriv',
      [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', process.execPath, CLI, ...args],
      {
        encoding: 'utf8',
        timeout: opts.timeout ?? 60_000,
      },
    );
  }
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: opts.timeout ?? 60_000 });
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function luaprofAsync(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

/**
 * luaprofAsync awaited without blocking the event loop (tests of several runtimes run side by side):
 * resolves once luaprof has exited and its output is closed; SIGKILL after timeoutMs.
 */
export function luaprof(
  args: string[],
  timeoutMs = 60_000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const r = luaprofAsync(args);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    r.child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: r.stdout(), stderr: r.stderr() });
    }),
  );
}

/** Tracer pid and scheduler state of a process ("R", "S", "t" = traced stop, "T" = stopped). */
export function ptraceState(pid: number): { tracer: number; state: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const tracer = Number(/TracerPid:\s*(\d+)/.exec(status)![1]);
  const state = /State:\s*(\S)/.exec(status)![1];
  return { tracer, state };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/status`, 'utf8').includes('State:\tZ');
  } catch {
    return false;
  }
}

/** Parses the lines of a debug.traceback() (after "stack traceback:"). */
export function tracebackLines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('\t'))
    .map((l) => l.slice(1));
}
