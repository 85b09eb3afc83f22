/** "Is the target gone?", answered here for the recorder, the worker and the CLI. */
import { processExists } from './os/procfs.js';
import { TargetGoneError } from './errors.js';

/** The process has exited, or `error` (from Target) says one of its threads vanished under it. */
export function targetGone(pid: number, error?: unknown): boolean {
  return error instanceof TargetGoneError || !processExists(pid);
}
