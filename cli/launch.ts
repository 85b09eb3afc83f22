/**
 * Starting a target for `record -- cmd args`. The target is started as a grandchild (through sh) so
 * that Node's own SIGCHLD handling never reaps the ptrace stops meant for the sampler.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Launched {
  pid: number;
  /** Resolves with the target's exit status (as sh reports it) once it has exited. */
  exited: Promise<number>;
  shell: ChildProcess;
}

// `"$@" <&0 &` keeps the terminal's stdin (a background job would otherwise get /dev/null);
// the target's pid goes to fd 3, then sh waits and exits with the target's status.
const SCRIPT = '"$@" <&0 & echo $! >&3; wait $!';

export function launch(argv: string[]): Promise<Launched> {
  return new Promise((resolve, reject) => {
    const shell = spawn('/bin/sh', ['-c', SCRIPT, 'luaprof-launch', ...argv], {
      stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    });
    const exited = new Promise<number>((res) => {
      shell.on('exit', (code, signal) => res(code ?? (signal ? 128 : 1)));
    });
    let text = '';
    const pipe = shell.stdio[3] as NodeJS.ReadableStream;
    pipe.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /^(\d+)\n/.exec(text);
      if (m) resolve({ pid: Number(m[1]), exited, shell });
    });
    shell.on('error', reject);
    shell.on('exit', () => {
      if (!/^\d+\n/.test(text)) reject(new Error(`could not start ${argv[0]}`));
    });
  });
}
