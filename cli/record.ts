/** `luaprof record`: sample a process (or a command it starts) and write the profile. */
import { basename } from 'node:path';
import type { Profile } from '../aggregator/profile.js';
import { writeProfile, type OutputFormat } from '../report/write.js';
import { LuaprofError, ExitCode } from '../sampler/errors.js';
import { processExists } from '../sampler/os/procfs.js';
import { startRecording } from '../sampler/recorder.js';
import { launch, type Launched } from './launch.js';
import { VERSION } from './version.js';

export interface RecordCliOptions {
  pid?: number;
  command: string[];
  durationMs: number | null;
  rate: number;
  output: string;
  format: OutputFormat;
  lines: boolean;
  luaVersion?: string;
  native?: boolean;
  threads?: number[];
  subprocesses?: boolean;
  idle?: boolean;
  blocking?: boolean;
  progress: boolean;
}

const fmtSeconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export async function record(opts: RecordCliOptions): Promise<number> {
  let launched: Launched | null = null;
  let pid = opts.pid;
  if (opts.command.length > 0) {
    launched = await launch(opts.command);
    pid = launched.pid;
  } else if (pid === undefined || !processExists(pid)) {
    throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
  }
  const rec = startRecording(
    { pid: pid!, rate: opts.rate, durationMs: opts.durationMs, byLine: opts.lines, waitForLua: launched !== null, version: opts.luaVersion, native: opts.native, threads: opts.threads, subprocesses: opts.subprocesses, idle: opts.idle, blocking: opts.blocking },
    { version: VERSION, ...(launched ? { command: opts.command } : {}) },
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
  launched?.exited.then(() => rec.stop());

  let ticker: NodeJS.Timeout | null = null;
  rec.attached.then((v) => {
    const until = opts.durationMs !== null ? `for ${fmtSeconds(opts.durationMs)}` : launched ? 'until it exits' : 'until Ctrl-C';
    process.stderr.write(`luaprof: sampling pid ${pid} (${v}) at ${opts.rate} Hz ${until}\n`);
    if (!opts.progress) return;
    ticker = setInterval(() => {
      const p = rec.progress();
      process.stderr.write(`\r\x1b[Kluaprof: ${fmtSeconds(p.elapsedMs)}  ${p.samples} samples  ${p.errors} errors`);
    }, 250);
  }, () => undefined);
  let result;
  try {
    result = await rec.done;
  } catch (e) {
    if (launched && e instanceof LuaprofError && e.kind === 'targetExited') {
      const status = await launched.exited;
      throw new LuaprofError('targetExited', `${basename(opts.command[0])} exited (status ${status}) before any Lua state was found`);
    }
    throw e;
  } finally {
    if (ticker) clearInterval(ticker);
    if (opts.progress) process.stderr.write('\r\x1b[K');
  }
  const { profile, reason, stats } = result;
  await writeProfile(profile as Profile, opts.output, opts.format);
  const ticks = stats.samples + stats.errors + stats.empty + stats.offCpu;
  const seconds = Math.max(stats.durationMs / 1000, 1e-9);
  const summary = [
    `luaprof: ${stats.samples} samples in ${fmtSeconds(stats.durationMs)} (${(ticks / seconds).toFixed(0)} Hz achieved), ` +
      `${stats.errors} errors, ${stats.late} late, ${stats.offCpu} off-CPU${stats.idle ? `, ${stats.idle} idle` : ''}; pause per sample p50 ${stats.pauseP50Us.toFixed(0)} µs, p99 ${stats.pauseP99Us.toFixed(0)} µs`,
    `luaprof: wrote ${opts.format} profile to ${opts.output}`,
  ];
  process.stderr.write(summary.join('\n') + '\n');
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  if (launched) {
    await launched.exited;
    return ExitCode.ok;
  }
  if (reason === 'target-exited' && opts.durationMs !== null && interrupted === 0) {
    process.stderr.write(`luaprof: process ${pid} exited after ${fmtSeconds(stats.durationMs)}, before the ${fmtSeconds(opts.durationMs)} recording ended\n`);
    return ExitCode.targetExited;
  }
  return ExitCode.ok;
}
