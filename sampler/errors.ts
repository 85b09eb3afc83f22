/**
 * Errors a user can cause, each with its own exit code (README's exit-code table is the contract).
 * They live here, beside LuaprofError, because the sampler throws them by name (its kind) and must
 * not depend on cli/; cli/output.ts turns a LuaprofError into its line and code.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  badArguments: 2,
  noSuchProcess: 3,
  permissionDenied: 4,
  noLua: 5,
  malformedProfile: 6,
  regression: 7,
  unsupportedVersion: 8,
  targetExited: 9,
  /** No sample of the recording had a Lua frame (the profile is still written). */
  noLuaFrames: 10,
  /** The target is already traced by another tracer (a debugger, strace, …): a thread has one tracer at most. */
  alreadyTraced: 11,
  /** The output file or its directory cannot be written (checked before the first sample; at the end, the profile went to a fallback file). */
  outputNotWritable: 12,
  /** --upload: the backend refused a profile (4xx other than 429: URL, labels, credentials); said once with its message. */
  uploadRejected: 13,
  /** --upload: windows were recorded but none reached the backend (unreachable, or failing throughout). */
  uploadFailed: 14,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

export class LuaprofError extends Error {
  constructor(
    readonly kind: ExitCodeName,
    message: string,
  ) {
    super(message);
  }
  get exitCode(): number {
    return ExitCode[this.kind];
  }
}

/** The one line for a target another tracer holds; the command is from /proc, made printable. */
export function alreadyTracedMessage(
  pid: number,
  tid: number,
  tracer: { pid: number; command: string },
): string {
  const command = tracer.command.replace(/[^\x20-\x7e]/g, '?').slice(0, 32);
  const which = tid === pid ? `process ${pid}` : `thread ${tid} of process ${pid}`;
  return `${which} is already traced by pid ${tracer.pid} (${command}): detach it first (a process has one tracer at most)`;
}

/** A thread or process of the target vanished under luaprof (sampler/pause.ts raises it). */
export class TargetGoneError extends Error {}
