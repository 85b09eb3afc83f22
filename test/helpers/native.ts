/** Native-code tests: the native targets of testkit/ (shared with bench/unwind.ts) and tool detection. */
import { execFileSync } from 'node:child_process';

export { tempDir } from '../../testkit/root.js';
export {
  FIXTURES,
  buildHost,
  gdbCapture,
  startTarget,
  stopTarget,
  type GdbCapture,
} from '../../testkit/native-targets.js';

/** Whether a command is on PATH (runs `sh -c 'command -v NAME'`: a process, so e2e tests only). */
export function haveTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
