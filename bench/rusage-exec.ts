/**
 * Runs a command and reports the CPU time it used, to the microsecond: posix_spawnp + wait4, whose
 * rusage (ru_utime, ru_stime) is what the kernel charged the child and its threads. Node's
 * child_process does not expose a child's rusage, /proc/PID/stat counts in 10 ms clock ticks and is
 * gone once the child is reaped, and GNU time prints hundredths; so bench/run.ts runs luaprof through
 * this. The command's stdio is this process's (inherited); its pid is announced on stderr first.
 *
 *   node dist/bench/rusage-exec.js OUT.json CMD ARGS…
 *     stderr: "rusage-exec: pid N" before anything the command writes
 *     OUT.json: {"pid":N,"exitCode":C,"signal":S,"userUs":U,"sysUs":S}; exits with the command's code
 */
import koffi from 'koffi';
import { writeFileSync, writeSync } from 'node:fs';

const [out, file, ...rest] = process.argv.slice(2);
if (!out || !file) {
  process.stderr.write('usage: rusage-exec OUT.json CMD ARGS...\n');
  process.exit(2);
}
const lib = koffi.load('libc.so.6');
koffi.struct('bench_timeval', { sec: 'long', usec: 'long' });
koffi.struct('bench_rusage', {
  utime: 'bench_timeval',
  stime: 'bench_timeval',
  rest: koffi.array('long', 14),
});
const posixSpawnp = lib.func(
  'int posix_spawnp(_Out_ int *pid, const char *file, void *fa, void *attr, const char **argv, const char **envp)',
);
const wait4 = lib.func('int wait4(int pid, _Out_ int *status, int options, _Out_ bench_rusage *ru)');

const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
// Node opens the standard descriptors close-on-exec; the command must inherit them.
for (const fd of [0, 1, 2]) fcntl(fd, 2 /* F_SETFD */, 'int', 0);
const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
const pidOut = [0];
const rc = posixSpawnp(pidOut, file, null, null, [file, ...rest, null], [...env, null]) as number;
if (rc !== 0) {
  process.stderr.write(`rusage-exec: cannot start ${file} (error ${rc})\n`);
  process.exit(127);
}
const pid = pidOut[0];
writeSync(2, `rusage-exec: pid ${pid}\n`);
// Signals meant for the command (Ctrl-C from a terminal reaches both) must not end this process first.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => process.kill(pid, sig));
const status = [0];
const ru: { utime?: { sec: number; usec: number }; stime?: { sec: number; usec: number } } = {};
let got: number;
do got = wait4(pid, status, 0, ru) as number;
while (got < 0 && koffi.errno() === 4 /* EINTR */);
if (got !== pid) {
  process.stderr.write(`rusage-exec: wait4 failed (errno ${koffi.errno()})\n`);
  process.exit(127);
}
const s = status[0];
const exitCode = (s & 0x7f) === 0 ? (s >> 8) & 0xff : null;
const signal = (s & 0x7f) !== 0 ? s & 0x7f : null;
const us = (t: { sec: number; usec: number }) => t.sec * 1e6 + t.usec;
writeFileSync(out, JSON.stringify({ pid, exitCode, signal, userUs: us(ru.utime!), sysUs: us(ru.stime!) }));
process.exit(exitCode ?? 128 + (signal ?? 0));
