/** Errors a user can cause, each with its own exit code (documented in README). */
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
} as const;

export type ExitCodeName = keyof typeof ExitCode;

export class LuaprofError extends Error {
  constructor(readonly kind: ExitCodeName, message: string) {
    super(message);
  }
  get exitCode(): number {
    return ExitCode[this.kind];
  }
}

export function permissionHint(pid: number): string {
  return (
    `permission denied attaching to process ${pid}: run as root or the same user, grant CAP_SYS_PTRACE ` +
    `(sudo setcap cap_sys_ptrace+ep $(which node)), or allow it with 'sysctl kernel.yama.ptrace_scope=0'`
  );
}
