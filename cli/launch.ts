/**
 * Starting a target for `record -- cmd args`. The target is started as a grandchild (through sh) so
 * that Node's own SIGCHLD handling never reaps the ptrace stops meant for the sampler.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { processStat } from '../sampler/os/procfs.js';
import { descendants } from '../sampler/threads.js';

export interface Launched {
  pid: number;
  /** Resolves with the target's exit status (as sh reports it) once it has exited. */
  exited: Promise<number>;
  shell: ChildProcess;
  /** A gated command starts when this is called (until then it waits, before its exec). */
  go(): void;
}

// `"$@" <&0 &` keeps the terminal's stdin (a background job would otherwise get /dev/null);
// the target's pid goes to fd 3, then sh waits and exits with the target's status. Gated, the
// background subshell (the target's pid from the start) waits for a line on fd 4, then execs.
const SCRIPT = '"$@" <&0 & echo $! >&3; wait $!';
const GATED_SCRIPT = '( read -r _ <&4; exec "$@" ) <&0 & echo $! >&3; wait $!';

/**
 * Starts `argv`. `gated`: it waits to exec until go() is called, so that a sampler that follows its
 * process tree is ready before its first child (a short-lived one would be missed otherwise).
 * `output`: a file descriptor for the command's stdout and stderr, its stdin then /dev/null (a
 * full-screen view owns the terminal); by default it shares luaprof's terminal.
 */
export function launch(argv: string[], gated = false, output?: number): Promise<Launched> {
  return new Promise((resolve, reject) => {
    const io =
      output === undefined
        ? (['inherit', 'inherit', 'inherit'] as const)
        : (['ignore', output, output] as const);
    const shell = spawn('/bin/sh', ['-c', gated ? GATED_SCRIPT : SCRIPT, 'luaprof-launch', ...argv], {
      stdio: [...io, 'pipe', 'pipe'],
    });
    const exited = new Promise<number>((res) => {
      shell.on('exit', (code, signal) => res(code ?? (signal ? 128 : 1)));
    });
    const gate = shell.stdio[4] as NodeJS.WritableStream;
    gate.on('error', () => undefined); // the command may be gone before its gate opens
    const go = () => gate.end('\n');
    if (!gated) go();
    let text = '';
    const pipe = shell.stdio[3] as NodeJS.ReadableStream;
    pipe.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /^(\d+)\n/.exec(text);
      if (m) resolve({ pid: Number(m[1]), exited, shell, go });
    });
    shell.on('error', reject);
    shell.on('exit', () => {
      if (!/^\d+\n/.test(text)) reject(new Error(`could not start ${argv[0]}`));
    });
  });
}

/** How long a command has to end after SIGTERM before SIGKILL. */
const GRACE_MS = 5000;

/** Session id and parent pid of a process (null once it is gone). */
function sessionAndParent(pid: number): { session: number; ppid: number } | null {
  const f = processStat(pid);
  return f && { ppid: Number(f[1]), session: Number(f[3]) };
}

/**
 * Ends the process tree a recording started (the command and its descendants in its session):
 * SIGTERM, then SIGKILL after GRACE_MS. Processes that detached themselves (a new session: daemons)
 * are left running and returned.
 */
export async function endCommand(l: Launched): Promise<number[]> {
  const own = sessionAndParent(l.pid)?.session;
  const tree = [l.pid, ...descendants(l.pid)];
  const detached = tree.filter((p) => p !== l.pid && sessionAndParent(p)?.session !== own);
  const ours = tree.filter((p) => !detached.includes(p));
  const signal = (sig: NodeJS.Signals) => {
    for (const p of ours)
      try {
        process.kill(p, sig);
      } catch {
        /* already gone */
      }
  };
  signal('SIGTERM');
  const timer = new Promise<void>((r) => setTimeout(r, GRACE_MS).unref());
  if ((await Promise.race([l.exited.then(() => 'exited'), timer.then(() => 'late')])) === 'late')
    signal('SIGKILL');
  await l.exited;
  return detached;
}
