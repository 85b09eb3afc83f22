/**
 * The checkout's root and scratch directories, for the tests and the benchmarks alike (testkit/ is
 * compiled into dist/ with bench/, so this also works from dist/testkit/).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest ancestor with package.json and fixtures/ (from testkit/ or dist/testkit/). */
export const ROOT = ((): string => {
  let d = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'fixtures'))) return d;
    d = path.dirname(d);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
})();

/** A new empty directory under the system temp dir. */
export function tempDir(prefix = 'luaprof-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
