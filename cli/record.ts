/** `luaprof record`: sample a process (or a command it starts) and write the profile. */
import { basename } from 'node:path';
import type { Profile } from '../aggregator/profile.js';
import {
  OutputWriteError,
  checkOutputPath,
  isClosedPipe,
  writeProfileOrFallback,
  type OutputFormat,
  type WrittenProfile,
} from '../report/write.js';
import { LuaprofError, ExitCode } from '../sampler/errors.js';
import { targetGone } from '../sampler/gone.js';
import { startRecording } from '../sampler/recorder.js';
import type { RecordOptions } from '../sampler/sample.js';
import type { RecordStats } from '../sampler/stats.js';
import { endCommand, launch, type Launched } from './launch.js';
import { VERSION } from './version.js';
import { inert } from '../report/terminal-text.js';

/** The recording's options (sampler/sample.ts), with pid optional when a command is given, plus what only the CLI needs. */
export interface RecordCliOptions extends Omit<RecordOptions, 'pid' | 'waitForLua'> {
  pid?: number;
  /** With -- cmd and -d: leave the command running when the recording ends. */
  keepRunning?: boolean;
  command: string[];
  output: string;
  format: OutputFormat;
  progress: boolean;
}

const fmtSeconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** A path that cannot be written fails before the first sample, not after the recording. */
function checkOutput(file: string): void {
  try {
    checkOutputPath(file);
  } catch (e) {
    if (e instanceof OutputWriteError) throw new LuaprofError('outputNotWritable', e.message);
    throw e;
  }
}

async function writeOutput(
  profile: Parameters<typeof writeProfileOrFallback>[0],
  file: string,
  format: OutputFormat,
): Promise<WrittenProfile> {
  try {
    return await writeProfileOrFallback(profile, file, format);
  } catch (e) {
    // `-o - | head -1`: the reader closed its end with what it wanted; the recording ends as usual.
    if (isClosedPipe(e)) return { path: file };
    if (e instanceof OutputWriteError) throw new LuaprofError('outputNotWritable', e.message);
    throw e;
  }
}

export async function record(opts: RecordCliOptions): Promise<number> {
  let launched: Launched | null = null;
  let pid = opts.pid;
  if (opts.command.length === 0 && (pid === undefined || targetGone(pid)))
    throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
  checkOutput(opts.output);
  if (opts.command.length > 0) {
    // Followed as a tree, the command waits to start until the sampler is ready for its first child.
    launched = await launch(opts.command, opts.subprocesses === true);
    pid = launched.pid;
  }
  const { command, output, format, progress: _progress, keepRunning, ...sampling } = opts;
  const rec = startRecording(
    { ...sampling, pid: pid!, waitForLua: launched !== null },
    { version: VERSION, ...(launched ? { command } : {}) },
  );
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    rec.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // A launched target that exits ends the recording even if no sample notices it first.
  let commandEnded = false;
  launched?.exited.then(() => {
    commandEnded = true;
    rec.stop();
  });

  let ticker: NodeJS.Timeout | null = null;
  rec.attached.then(
    (v) => {
      launched?.go();
      const until =
        opts.durationMs !== null
          ? `for ${fmtSeconds(opts.durationMs)}`
          : launched
            ? 'until it exits'
            : 'until Ctrl-C';
      process.stderr.write(`luaprof: sampling pid ${pid} (${inert(v)}) at ${opts.rate} Hz ${until}\n`);
      if (!opts.progress) return;
      ticker = setInterval(() => {
        const p = rec.progress();
        process.stderr.write(
          `\r\x1b[Kluaprof: ${fmtSeconds(p.elapsedMs)}  ${p.samples} samples  ${p.errors} errors`,
        );
      }, 250);
    },
    () => launched?.go(),
  );
  let result;
  try {
    result = await rec.done;
  } catch (e) {
    if (launched && e instanceof LuaprofError && e.kind === 'targetExited') {
      const status = await launched.exited;
      // A command that ran without Lua is "no Lua"; one that could not start (sh's 127) is gone.
      throw new LuaprofError(
        status === 127 ? 'targetExited' : 'noLua',
        `${basename(opts.command[0])} exited (status ${status}) before any Lua state was found`,
      );
    }
    throw e;
  } finally {
    if (ticker) clearInterval(ticker);
    if (opts.progress) process.stderr.write('\r\x1b[K');
  }
  const { profile, reason, detail, stats } = result;
  const written = await writeOutput(profile, output, format);
  const summary = [
    `luaprof: ${stats.samples} samples in ${fmtSeconds(stats.durationMs)} (${stats.achievedHz.toFixed(0)} Hz achieved), ` +
      `${stats.errors} errors, ${stats.late} late, ${stats.offCpu} off-CPU, ${stats.idle} idle, ${stats.empty} without Lua; ` +
      `torn: ${stats.tornLater} read from a later pass, ${stats.tornCut} cut, ${stats.tornDropped} dropped; ` +
      `luaprof CPU ${stats.cpuPerSampleUs.toFixed(1)} µs per sample` +
      (stats.stops > 0
        ? `; ${stats.stops} stops, pause per sample p50 ${stats.pauseP50Us.toFixed(0)} µs, p99 ${stats.pauseP99Us.toFixed(0)} µs`
        : ''),
    written.failed
      ? `luaprof: ${written.failed}; wrote the ${format} profile to ${written.path} instead`
      : `luaprof: wrote ${format} profile to ${output}`,
  ];
  if (opts.subprocesses) summary.push(...processLines(profile));
  if (stats.stopped > 0)
    summary.push(
      `luaprof: process ${pid} was stopped (SIGSTOP) during ${stats.stopped} samples (~${fmtSeconds((stats.stopped / opts.rate) * 1000)}): ` +
        (opts.idle ? 'kept as idle, marked [idle]' : 'idle time, left out (--idle keeps it)'),
    );
  // Nothing to show is not a success: say why (idle samples count as samples with --idle).
  const nothing = stats.withLua === 0 && !(opts.idle && stats.samples > 0);
  if (nothing) summary.push(`luaprof: no sample had Lua frames: ${whyNoLua(stats)}`);
  process.stderr.write(summary.join('\n') + '\n');
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  if (launched) {
    // A recording that ended first (-d) ends the command it started, unless asked not to.
    if (!commandEnded && reason === 'duration' && !keepRunning) {
      process.stderr.write(
        `luaprof: ending ${basename(command[0])} (pid ${pid}); --keep-running leaves it running\n`,
      );
      for (const d of await endCommand(launched))
        process.stderr.write(`luaprof: left running: pid ${d}, detached from the command (a daemon)\n`);
    }
    await launched.exited;
  }
  if (reason === 'exec') {
    process.stderr.write(
      `luaprof: process ${pid} exec'd ${inert(detail ?? '?')} after ${fmtSeconds(stats.durationMs)}: it no longer runs the Lua program, the recording ended (--subprocesses follows it)\n`,
    );
    return ExitCode.targetExited;
  }
  if (reason === 'traced') {
    process.stderr.write(
      `luaprof: ${detail ?? `process ${pid} is now traced by another tracer`}; the recording ended after ${fmtSeconds(stats.durationMs)}\n`,
    );
    return ExitCode.alreadyTraced;
  }
  if (written.failed) return ExitCode.outputNotWritable;
  if (nothing) return ExitCode.noLuaFrames;
  if (launched) return ExitCode.ok;
  if (reason === 'target-exited' && opts.durationMs !== null && interrupted === 0) {
    process.stderr.write(
      `luaprof: process ${pid} exited after ${fmtSeconds(stats.durationMs)}, before the ${fmtSeconds(opts.durationMs)} recording ended\n`,
    );
    return ExitCode.targetExited;
  }
  return ExitCode.ok;
}

/** --subprocesses: one line per process profiled (pid, samples, its command line), largest first. */
function processLines(profile: Profile): string[] {
  const byPid = new Map<number, { samples: number; name: string }>();
  for (const t of profile.threads) {
    const pid = t.pid ?? profile.meta.pid ?? 0;
    const p = byPid.get(pid) ?? { samples: 0, name: t.name };
    p.samples += t.samples.length;
    if (t.tid === pid) p.name = t.name;
    byPid.set(pid, p);
  }
  return [...byPid]
    .sort((a, b) => b[1].samples - a[1].samples)
    .map(([pid, p]) => `luaprof:   pid ${pid}: ${p.samples} samples  ${inert(p.name)}`);
}

/** The reason a recording kept no Lua frame, from what its ticks found. */
function whyNoLua(stats: RecordStats): string {
  const parts: [number, string][] = [
    [Math.max(0, stats.idle - stats.stopped), 'blocked in the kernel (idle; --idle keeps them)'],
    [stats.stopped, 'of a stopped process (SIGSTOP; idle, --idle keeps them)'],
    [stats.empty, 'running no Lua code'],
    [stats.offCpu, 'waiting for a CPU'],
    [stats.tornDropped, 'torn'],
    [stats.errors, 'unreadable'],
  ];
  const seen = parts.filter(([n]) => n > 0).map(([n, what]) => `${n} ${what}`);
  return seen.length ? seen.join(', ') : 'no sample was taken';
}
