import { describe, expect, it } from 'vitest';
import { permissionMessage, type PermissionFacts } from '../sampler/permission.js';

const names = new Map([
  [0, 'root'],
  [1001, 'alice'],
]);
const facts = (f: Partial<PermissionFacts>): PermissionFacts => ({
  targetUid: 1001,
  ownUid: 1001,
  capSysPtrace: false,
  ptraceScope: null,
  userName: (uid) => names.get(uid) ?? null,
  ...f,
});

describe('the permission hint names the cause that applies', () => {
  it("another user's process: both users, root or that user or CAP_SYS_PTRACE; no ptrace_scope", () => {
    const m = permissionMessage(42, facts({ targetUid: 0 }));
    expect(m).toBe(
      'permission denied attaching to process 42: it runs as uid 0 (root) and luaprof as uid 1001 (alice): ' +
        'run luaprof as root or as that user, or grant CAP_SYS_PTRACE (sudo setcap cap_sys_ptrace+ep $(which node))',
    );
    expect(permissionMessage(42, facts({ targetUid: 0, ptraceScope: 1 }))).not.toContain('ptrace_scope');
    expect(permissionMessage(42, facts({ targetUid: 7 }))).toContain('runs as uid 7 and');
  });

  it('own process under ptrace_scope=1: names ptrace_scope and `record -- cmd`', () => {
    const m = permissionMessage(42, facts({ ptraceScope: 1 }));
    expect(m).toMatch(/kernel\.yama\.ptrace_scope=1 lets a process trace only its own descendants/);
    expect(m).toContain('luaprof record -- cmd args...');
    expect(m).toContain("'sudo sysctl kernel.yama.ptrace_scope=0'");
  });

  it('ptrace_scope=2: only root or CAP_SYS_PTRACE; 3: nobody, until the next boot', () => {
    expect(permissionMessage(42, facts({ ptraceScope: 2 }))).toMatch(/ptrace_scope=2 lets only root trace/);
    expect(permissionMessage(42, facts({ ptraceScope: 3, capSysPtrace: true }))).toMatch(
      /ptrace_scope=3 forbids ptrace to everyone until the next boot$/,
    );
  });

  it('same user without Yama, or with CAP_SYS_PTRACE: credentials changed or no capability, no ptrace_scope', () => {
    for (const f of [facts({}), facts({ ptraceScope: 1, capSysPtrace: true }), facts({ targetUid: null })]) {
      const m = permissionMessage(42, f);
      expect(m).toMatch(/changed its credentials \(setuid\) or made itself undumpable/);
      expect(m).not.toContain('ptrace_scope');
    }
  });
});
