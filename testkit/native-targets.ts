/**
 * Native targets for the native unwinder tests and bench/unwind.ts: build fixtures, start targets, and
 * record what gdb sees of a stopped process (registers, frame pcs, a dump of the stack) for an offline
 * comparison with our unwinder.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMaps, type Mapping } from '../sampler/os/maps.js';
import { ROOT, tempDir } from './root.js';

export const FIXTURES = path.join(ROOT, 'fixtures', 'native');

/** Compiles fixtures/native/host.c against liblua5.4 into dir; returns the binary path. */
export function buildHost(dir: string, extra: string[] = []): string {
  const out = path.join(dir, 'host');
  let flags: string[];
  try {
    flags = execFileSync('pkg-config', ['--cflags', '--libs', 'lua5.4'], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
  } catch {
    flags = ['-I/usr/include/lua5.4', '-llua5.4'];
  }
  execFileSync('gcc', ['-O2', '-g', ...extra, '-o', out, path.join(FIXTURES, 'host.c'), ...flags], {
    stdio: 'pipe',
  });
  return out;
}

export async function startTarget(cmd: string, args: string[], waitMs = 300): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.resume();
  child.stderr?.resume();
  await new Promise((r) => setTimeout(r, waitMs));
  if (child.exitCode !== null || !child.pid) throw new Error(`target ${cmd} exited early`);
  return child;
}

export function stopTarget(child: ChildProcess): void {
  try {
    child.kill('SIGKILL');
  } catch {
    /* gone */
  }
}

export interface GdbCapture {
  pid: number;
  regs: Record<string, number>;
  stack: { addr: number; bytes: Buffer };
  maps: Mapping[];
  /** Frame pcs as gdb's unwinder reports them (frame 0 = rip, then return addresses). */
  gdbPcs: number[];
  /** Callee-saved registers gdb recovered per physical frame (absent when gdb says not saved). */
  gdbRegs: Record<string, number>[];
  bt: string;
}

// Physical frames only: gdb also shows inlined frames and tail-call frames synthesised from DWARF
// call-site info, which have no counterpart in CFI.
const PY_SRC = [
  'f = gdb.newest_frame()',
  'while f is not None:',
  '  if f.type() not in (gdb.INLINE_FRAME, gdb.TAILCALL_FRAME):',
  "    print('LUAPROF_PC', hex(f.pc()))",
  "    for r in ('rbx', 'rbp', 'r12', 'r13', 'r14', 'r15'):",
  '      try:',
  '        v = f.read_register(r)',
  "        if not v.is_optimized_out: print('LUAPROF_REG', r, hex(int(v) & 0xffffffffffffffff))",
  '      except Exception:',
  '        pass',
  '  f = f.older()',
].join('\\n');
const PY = `python exec("${PY_SRC.replace(/"/g, '\\"')}")`;

/** Dumps [rsp, end of the mapping holding rsp) of the selected thread (at most `max` bytes). */
function dumpPy(file: string, pid: number, max: number): string {
  const src = [
    "rsp = int(gdb.parse_and_eval('$rsp')) & 0xffffffffffffffff",
    'end = rsp',
    `for line in open('/proc/${pid}/maps'):`,
    "  lo, hi = [int(x, 16) for x in line.split()[0].split('-')]",
    '  if lo <= rsp < hi: end = hi',
    `end = min(end, rsp + ${max})`,
    `gdb.execute('dump memory ${file} %d %d' % (rsp, end))`,
  ].join('\\n');
  return `python exec("${src}")`;
}

/**
 * Attaches gdb to pid (which stops it), records registers, gdb's frame pcs and the stack from rsp to
 * the end of its mapping for the given thread (gdb's thread number, 1 = main), and detaches.
 * Everything the unwinder needs besides code is in the record.
 */
export function gdbCapture(pid: number, stackMax = 256 * 1024, thread = 1): GdbCapture {
  const maps = parseMaps(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));
  const dump = path.join(tempDir('luaprof-native-'), 'stack.bin');
  const out = execFileSync(
    'gdb',
    [
      '-p',
      String(pid),
      '-batch',
      '-nx',
      '-ex',
      'set pagination off',
      '-ex',
      'set width 0',
      '-ex',
      'set backtrace past-main on',
      '-ex',
      'set backtrace past-entry on',
      '-ex',
      `thread ${thread}`,
      '-ex',
      'info registers',
      '-ex',
      PY,
      '-ex',
      'bt',
      '-ex',
      dumpPy(dump, pid, stackMax),
    ],
    { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const regs: Record<string, number> = {};
  const pcs: number[] = [];
  const fregs: Record<string, number>[] = [];
  for (const line of out.split('\n')) {
    const g = /^LUAPROF_REG (\w+) (0x[0-9a-f]+)/.exec(line);
    if (g && fregs.length) fregs[fregs.length - 1][g[1]] = parseInt(g[2], 16);
    const r = /^(r[a-z0-9]+|e?flags)\s+0x([0-9a-f]+)\s/.exec(line);
    if (r && !(r[1] in regs)) regs[r[1]] = parseInt(r[2], 16);
    const p = /^LUAPROF_PC (0x[0-9a-f]+)/.exec(line);
    if (p) {
      pcs.push(parseInt(p[1], 16));
      fregs.push({});
    }
  }
  if (regs.rsp === undefined || regs.rip === undefined) throw new Error(`gdb gave no registers:\n${out}`);
  const bytes = fs.readFileSync(dump);
  fs.rmSync(path.dirname(dump), { recursive: true, force: true });
  const bt = out
    .split('\n')
    .filter((l) => /^#\d+/.test(l))
    .join('\n');
  return { pid, regs, stack: { addr: regs.rsp, bytes }, maps, gdbPcs: pcs, gdbRegs: fregs, bt };
}
