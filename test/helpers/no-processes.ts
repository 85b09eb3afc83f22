/**
 * Setup file of the unit project: unit tests start no process. Every way node:child_process starts
 * one throws, so a test that needs a process fails here and is named e2e-*.test.ts instead.
 */
import { vi } from 'vitest';

const refuse = (name: string) => (): never => {
  throw new Error(
    `a unit test started a process (child_process.${name}): tests that start processes are e2e-*.test.ts`,
  );
};

async function guarded<T extends object>(real: T): Promise<T> {
  const names = ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'];
  return { ...real, ...Object.fromEntries(names.map((n) => [n, refuse(n)])) };
}

vi.mock('node:child_process', async (importOriginal) => guarded(await importOriginal<object>()));
vi.mock('child_process', async (importOriginal) => guarded(await importOriginal<object>()));
