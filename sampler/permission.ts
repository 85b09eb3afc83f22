/**
 * Why the kernel refused to let luaprof trace a process, as one line that says what to do. The
 * reason depends on who owns the target, who luaprof runs as, CAP_SYS_PTRACE and Yama's
 * kernel.yama.ptrace_scope (0 classic, 1 descendants only, 2 CAP_SYS_PTRACE only, 3 nobody):
 * advice that does not match the cause (ptrace_scope on a kernel without Yama, "run as the same
 * user" when it already is) sends people the wrong way.
 */
import { readFileSync } from 'node:fs';

export interface PermissionFacts {
  /** Real uid of the target (null: its /proc entry could not be read). */
  targetUid: number | null;
  /** luaprof's effective uid. */
  ownUid: number;
  /** luaprof holds CAP_SYS_PTRACE. */
  capSysPtrace: boolean;
  /** kernel.yama.ptrace_scope, null when the kernel has no Yama. */
  ptraceScope: number | null;
  /** User names by uid (from /etc/passwd), for the message. */
  userName: (uid: number) => string | null;
}

const CAP_SYS_PTRACE = 19n;
const GRANT = 'grant CAP_SYS_PTRACE (sudo setcap cap_sys_ptrace+ep $(which node))';

function who(uid: number, f: PermissionFacts): string {
  const name = f.userName(uid);
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

/** The one line for a refused attach to `pid`, from the facts that explain it. */
export function permissionMessage(pid: number, f: PermissionFacts): string {
  const head = `permission denied attaching to process ${pid}`;
  if (f.ptraceScope === 3)
    return `${head}: kernel.yama.ptrace_scope=3 forbids ptrace to everyone until the next boot`;
  if (f.targetUid !== null && f.targetUid !== f.ownUid && !f.capSysPtrace)
    return (
      `${head}: it runs as ${who(f.targetUid, f)} and luaprof as ${who(f.ownUid, f)}: ` +
      `run luaprof as root or as that user, or ${GRANT}`
    );
  if (f.ptraceScope === 2 && !f.capSysPtrace)
    return `${head}: kernel.yama.ptrace_scope=2 lets only root trace: run luaprof as root or ${GRANT}`;
  if (f.ptraceScope === 1 && !f.capSysPtrace)
    return (
      `${head}: kernel.yama.ptrace_scope=1 lets a process trace only its own descendants: ` +
      `start the program under luaprof (luaprof record -- cmd args...), run luaprof as root or ${GRANT}, ` +
      `or allow it with 'sudo sysctl kernel.yama.ptrace_scope=0'`
    );
  return (
    `${head}: the process may have changed its credentials (setuid) or made itself undumpable, or ` +
    `luaprof runs without CAP_SYS_PTRACE (a container): run luaprof as root or ${GRANT}`
  );
}

function readOr<T>(path: string, parse: (text: string) => T, fallback: T): T {
  try {
    return parse(readFileSync(path, 'utf8'));
  } catch {
    return fallback;
  }
}

function userNames(): (uid: number) => string | null {
  const names = readOr(
    '/etc/passwd',
    (t) => new Map(t.split('\n').map((l) => [Number(l.split(':')[2]), l.split(':')[0]] as const)),
    new Map<number, string>(),
  );
  return (uid) => names.get(uid) ?? null;
}

/** The facts as this machine has them now. */
export function permissionFacts(pid: number): PermissionFacts {
  const statusUid = (path: string) =>
    readOr(path, (t) => Number(/^Uid:\s*(\d+)\s+(\d+)/m.exec(t)?.[1] ?? NaN), NaN);
  const targetUid = statusUid(`/proc/${pid}/status`);
  const ownEffective = readOr('/proc/self/status', (t) => Number(/^Uid:\s*\d+\s+(\d+)/m.exec(t)?.[1]), NaN);
  const capEff = readOr(
    '/proc/self/status',
    (t) => BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(t)?.[1] ?? '0'}`),
    0n,
  );
  const scope = readOr('/proc/sys/kernel/yama/ptrace_scope', (t) => Number(t.trim()), null);
  return {
    targetUid: Number.isInteger(targetUid) ? targetUid : null,
    ownUid: Number.isInteger(ownEffective) ? ownEffective : (process.geteuid?.() ?? 0),
    capSysPtrace: ((capEff >> CAP_SYS_PTRACE) & 1n) === 1n,
    ptraceScope: scope !== null && Number.isInteger(scope) ? scope : null,
    userName: userNames(),
  };
}

export function permissionHint(pid: number): string {
  return permissionMessage(pid, permissionFacts(pid));
}
