/**
 * What bench/run.ts, bench/rate.ts and bench/attach.ts share: where the built CLI is, which sampling
 * modes it has, how a mode maps to flags, and how to read its end-of-recording summary and profile meta.
 *
 * Modes: `default` (no flag), `blocking` (`--blocking`: the stop-based sampler), `native` (`--native`).
 * A CLI whose `record --help` has no `--blocking` predates the copy mode: its default *is* the
 * stop-based sampler, so `blocking` runs it with no flag and `default` is refused (there is nothing to
 * measure), with a message saying so.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = new URL('../..', import.meta.url).pathname;
/** The CLI to measure: this checkout's build, or `--cli FILE` (e.g. another checkout's dist/cli/main.js). */
export const CLI = (() => {
  const i = process.argv.indexOf('--cli');
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : join(ROOT, 'dist/cli/main.js');
})();
export const RUSAGE_EXEC = join(ROOT, 'dist/bench/rusage-exec.js');

/**
 * The command that runs `cli` as users run luaprof: the bin/luaprof of its checkout when it has one
 * (which starts Node without NODE_EXTRA_CA_CERTS: ~37 ms of a start where this VM sets it), else Node
 * on the file. Figures of a whole process (its start, its CPU) are then those users see.
 */
export function cliCommand(cli = CLI): string[] {
  const bin = join(dirname(cli), '../../bin/luaprof');
  return existsSync(bin) ? [bin] : [process.execPath, cli];
}

/** luaprof `args` started as users run it (cliCommand), stdin ignored, stderr piped. */
export function spawnCli(
  args: readonly string[],
  stdout: 'ignore' | 'pipe' = 'ignore',
  cli = CLI,
): ChildProcess {
  const [command, ...pre] = cliCommand(cli);
  return spawn(command, [...pre, ...args], { stdio: ['ignore', stdout, 'pipe'] });
}

export type LuaprofMode = 'default' | 'blocking' | 'native';

export interface CliModes {
  cli: string;
  /** The CLI has `--blocking` (and so a default that does not stop the target). */
  hasBlocking: boolean;
}

export function detectModes(cli: string): CliModes {
  const help = spawnSync(process.execPath, [cli, 'record', '--help'], { encoding: 'utf8' });
  if (help.status !== 0) throw new Error(`${cli} record --help failed (${help.status}): ${help.stderr}`);
  return { cli, hasBlocking: /--blocking\b/.test(help.stdout) };
}

/** The flags that select `mode` on this CLI, or an error message saying why this CLI cannot run it. */
export function modeFlags(m: CliModes, mode: LuaprofMode): string[] | string {
  if (mode === 'native') return ['--native'];
  if (mode === 'blocking') return m.hasBlocking ? ['--blocking'] : [];
  if (!m.hasBlocking)
    return `${m.cli} has no --blocking flag: its default is still the stop-based sampler (run as "blocking"), so there is no copy-mode default to measure`;
  return [];
}

/**
 * The `--mode` option of a single-mode bench script checked, and the flags that select it on the CLI
 * under test; a mode it does not know or the CLI cannot run ends the script (exit 2, one line).
 */
export function modeOptionFlags(script: string, cli: string): { mode: LuaprofMode; flags: string[] } {
  const mode = option('mode', 'default') as LuaprofMode;
  if (!['default', 'blocking', 'native'].includes(mode)) {
    process.stderr.write(`${script}: unknown mode "${mode}" (default, blocking, native)\n`);
    process.exit(2);
  }
  const flags = modeFlags(detectModes(cli), mode);
  if (typeof flags === 'string') {
    process.stderr.write(`${script}: cannot run mode "${mode}": ${flags}\n`);
    process.exit(2);
  }
  return { mode, flags };
}

export interface Summary {
  samples?: number;
  rateHz?: number;
  p50?: number;
  p99?: number;
}

/** The "luaprof: N samples in T (R Hz achieved), …; pause per sample p50 X µs, p99 Y µs" line. */
export function parseSummary(stderr: string): Summary {
  const s: Summary = {};
  const n = /luaprof: (\d+) samples in/.exec(stderr);
  if (n) s.samples = Number(n[1]);
  const r = /\((\d+(?:\.\d+)?) Hz achieved\)/.exec(stderr);
  if (r) s.rateHz = Number(r[1]);
  const p = /p50 (\d+(?:\.\d+)?) µs, p99 (\d+(?:\.\d+)?) µs/.exec(stderr);
  if (p) {
    s.p50 = Number(p[1]);
    s.p99 = Number(p[2]);
  }
  return s;
}

/** `luaprof.meta` of a speedscope file luaprof wrote ({} if absent or unreadable). */
export function readMeta(file: string): Record<string, unknown> {
  try {
    return (JSON.parse(readFileSync(file, 'utf8')).luaprof?.meta ?? {}) as Record<string, unknown>;
  } catch {
    return {};
  }
}

export const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median of the defined values, or undefined if there are none. */
export function medianOf(xs: (number | undefined)[]): number | undefined {
  const d = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return d.length ? median(d) : undefined;
}

/** CPU time of every live thread of `pid`, in µs, from /proc/PID/task/*\/schedstat (ns); undefined if unreadable. */
export function threadsCpuUs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`))
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1000;
  } catch {
    return undefined;
  }
}

/** The command line this script was started with, for the top of its report. */
/** The value after `--name` on this script's command line, or `dflt`. */
export function option(name: string, dflt: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
}

export function commandLine(): string {
  const rel = (p: string) => (p.startsWith(ROOT) ? p.slice(ROOT.length) : p);
  return ['node', rel(process.argv[1]), ...process.argv.slice(2)]
    .map((a) => (/[\s'"$]/.test(a) ? `'${a}'` : a))
    .join(' ');
}

/** A report's first lines: the command, then the time, the load and what was run. */
export function reportHeader(what: string): string[] {
  const load = loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  return [`    ${commandLine()}`, '', `${new Date().toISOString()}, load average ${load}; ${what}`, ''];
}

const BPF_STATS = '/proc/sys/kernel/bpf_stats_enabled';

/**
 * Runs `body` with the kernel counting BPF programs' time (kernel.bpf_stats_enabled: a few ns per
 * run, so only while asked), and puts the setting back after.
 */
export async function withBpfStats<T>(body: () => Promise<T>): Promise<T> {
  const was = readFileSync(BPF_STATS, 'utf8').trim();
  writeFileSync(BPF_STATS, '1');
  try {
    return await body();
  } finally {
    writeFileSync(BPF_STATS, was);
  }
}

/**
 * bench/cpu.lua at Lua depth `depth` under `interp`, told to go: it recurses and burns CPU there until
 * killed (work enough to outlast any bench).
 */
export function busyLua(interp: string, depth: string): ChildProcess {
  const target = spawn(interp, [join(ROOT, 'bench/cpu.lua'), depth, '1000000'], {
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  target.stdin!.write('go\n');
  return target;
}

/**
 * bench/chunks.lua at Lua depth `depth`, burning chunks of `chunk` iterations, each line (the process's
 * CPU seconds after a chunk) handed to `onChunk` as it comes.
 */
export function chunksTarget(
  interp: string,
  depth: string,
  chunk: string,
  onChunk: (cpuSeconds: number) => void,
): ChildProcess {
  const target = spawn(interp, [join(ROOT, 'bench/chunks.lua'), depth, chunk], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  createInterface({ input: target.stdout! }).on('line', (line) => {
    const cpu = Number(line);
    if (Number.isFinite(cpu)) onChunk(cpu);
  });
  return target;
}
