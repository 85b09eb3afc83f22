/** `luaprof record`: sample a process (or a command it starts) and write the profile. */
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { splitByProcess } from '../aggregator/by-process.js';
import type { Profile } from '../aggregator/profile.js';
import { OutputWriteError, checkOutputPath, isClosedPipe, type OutputFormat } from '../report/output-path.js';
import type { WrittenProfile } from '../report/write.js';
import { LuaprofError, ExitCode } from '../sampler/errors.js';
import { targetGone } from '../sampler/gone.js';
import { startRecording } from '../sampler/recorder.js';
import type { RecordOptions } from '../sampler/sample.js';
import type { RecordStats } from '../sampler/stats.js';
import { endCommand, launch, type Launched } from './launch.js';
import { VERSION } from './version.js';
import { inert } from '../report/terminal-text.js';
import { DEFAULT_MAX_THREADS } from '../sampler/thread-identities.js';
import { exePath } from '../sampler/os/procfs.js';
import { AuthError } from '../upload/auth.js';
import type { Endpoint } from '../upload/endpoint.js';
import { LabelError, type Labels } from '../upload/labels.js';
import type { QueueCounts } from '../upload/queue.js';
import type { Uploader } from '../upload/uploader.js';

/** --upload and its options, parsed. */
export interface UploadCliOptions {
  endpoint: Endpoint;
  intervalMs: number;
  appName?: string;
  tags: Labels;
  tenant?: string;
}

/** How long the last window may take to reach the backend once the recording ends (Ctrl-C, SIGTERM, -d). */
const FLUSH_TIMEOUT_MS = 5000;

/** The recording's options (sampler/sample.ts), with pid optional when a command is given, plus what only the CLI needs. */
export interface RecordCliOptions extends Omit<RecordOptions, 'pid' | 'waitForLua'> {
  pid?: number;
  /** With -- cmd and -d: leave the command running when the recording ends. */
  keepRunning?: boolean;
  command: string[];
  /** The profile's file (with --match and no --upload: the directory of one file per process); null: none (--upload alone). */
  output: string | null;
  format: OutputFormat;
  progress: boolean;
  upload?: UploadCliOptions;
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

async function writeOutput(profile: Profile, file: string, format: OutputFormat): Promise<WrittenProfile> {
  // The encoders of every format load when the profile is written, not before the first sample.
  const { writeProfileOrFallback } = await import('../report/write.js');
  try {
    return await writeProfileOrFallback(profile, file, format);
  } catch (e) {
    // `-o - | head -1`: the reader closed its end with what it wanted; the recording ends as usual.
    if (isClosedPipe(e)) return { path: file };
    if (e instanceof OutputWriteError) throw new LuaprofError('outputNotWritable', e.message);
    throw e;
  }
}

/** Pyroscope's service name by default: the process's executable, in the characters it allows. */
function executableName(pid: number): string {
  const exe = exePath(pid)?.replace(/ \(deleted\)$/, '');
  return (exe ? basename(exe) : 'lua').replace(/[^A-Za-z0-9_./-]/g, '_') || 'lua';
}

/** The uploader, its endpoint's rules checked before the first sample: a bad label or credential is a usage error. */
async function makeUploader(opts: RecordCliOptions, upload: UploadCliOptions): Promise<Uploader> {
  // Loaded only for --upload: every module loaded before the worker starts delays the first sample.
  const { Uploader } = await import('../upload/uploader.js');
  try {
    return new Uploader({
      endpoint: upload.endpoint,
      appName: upload.appName ?? executableName,
      tags: upload.tags,
      tenant: upload.tenant,
      intervalMs: upload.intervalMs,
      rate: opts.rate,
      byLine: opts.byLine,
      hostname: hostname(),
      luaprofVersion: VERSION,
      env: process.env,
      log: (line) => process.stderr.write(`luaprof: ${inert(line)}\n`),
    });
  } catch (e) {
    if (e instanceof LabelError || e instanceof AuthError) throw new LuaprofError('badArguments', e.message);
    throw e;
  }
}

/** --match without --upload: one file per process in the output directory. */
async function writeEach(
  profile: Profile,
  dir: string,
  format: OutputFormat,
): Promise<{ lines: string[]; failed: boolean }> {
  const ext = { html: 'html', speedscope: 'json', folded: 'folded', pprof: 'pb.gz' }[format];
  const lines: string[] = [];
  let failed = false;
  for (const [pid, p] of splitByProcess(profile)) {
    const file = join(dir, `luaprof-${pid}.${ext}`);
    const w = await writeOutput(p, file, format);
    if (w.failed) failed = true;
    lines.push(
      w.failed
        ? `luaprof: ${w.failed}; wrote the ${w.format ?? format} profile of pid ${pid} to ${w.path} instead`
        : `luaprof: wrote ${format} profile of pid ${pid} to ${file}`,
    );
  }
  if (lines.length === 0) lines.push('luaprof: no process had samples: no file written');
  return { lines, failed };
}

function uploadLine(upload: UploadCliOptions, c: QueueCounts, pprofBytes: number): string {
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  return (
    `luaprof: upload to ${upload.endpoint.kind} ${upload.endpoint.base.host}: ${c.sent} of ${c.windows} windows sent ` +
    `(${kib(c.bytes)} sent, pprof ${kib(pprofBytes)}), ${c.dropped} dropped, ${c.rejected} refused, ${c.retries} retries`
  );
}

export async function record(opts: RecordCliOptions): Promise<number> {
  let launched: Launched | null = null;
  let pid = opts.pid;
  const matching = opts.match !== undefined;
  if (!matching && opts.command.length === 0 && (pid === undefined || targetGone(pid)))
    throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
  const perProcessFiles = matching && !opts.upload;
  if (opts.output !== null) checkOutput(perProcessFiles ? join(opts.output, 'luaprof-probe') : opts.output);
  const uploader = opts.upload ? await makeUploader(opts, opts.upload) : null;
  if (opts.command.length > 0) {
    // Followed as a tree, the command waits to start until the sampler is ready for its first child.
    launched = await launch(opts.command, opts.subprocesses === true);
    pid = launched.pid;
  }
  const { command, output, format, progress: _progress, keepRunning, upload, ...sampling } = opts;
  const rec = startRecording(
    { ...sampling, pid: pid ?? 0, waitForLua: launched !== null },
    { version: VERSION, ...(launched ? { command } : {}) },
    // Streaming alone (--upload without -o): nothing accumulates, however long it runs.
    { keepProfile: output !== null },
  );
  uploader?.start(rec);
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
      const what = matching ? `processes matching /${inert(opts.match!)}/` : `pid ${pid} (${inert(v)})`;
      const to = upload
        ? `, sending every ${fmtSeconds(upload.intervalMs)} to ${upload.endpoint.kind} ${upload.endpoint.base.host}`
        : '';
      process.stderr.write(`luaprof: sampling ${what} at ${opts.rate} Hz ${until}${to}\n`);
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
  const sent = uploader ? await uploader.finish(FLUSH_TIMEOUT_MS) : null;
  const outputLines: string[] = [];
  let written: { failed?: string | boolean } = {};
  if (output !== null && perProcessFiles) {
    const each = await writeEach(profile, output, format);
    outputLines.push(...each.lines);
    written = { failed: each.failed };
  } else if (output !== null) {
    const w = await writeOutput(profile, output, format);
    written = w;
    outputLines.push(
      w.failed
        ? `luaprof: ${w.failed}; wrote the ${w.format ?? format} profile to ${w.path} instead`
        : `luaprof: wrote ${format} profile to ${output}`,
    );
  }
  const summary = [
    `luaprof: ${stats.samples} samples in ${fmtSeconds(stats.durationMs)} (${stats.achievedHz.toFixed(0)} Hz achieved), ` +
      `${stats.errors} errors, ${stats.late} late, ${stats.offCpu} off-CPU, ${stats.idle} idle, ${stats.empty} without Lua; ` +
      `torn: ${stats.tornLater} read from a later pass, ${stats.tornCut} cut, ${stats.tornDropped} dropped; ` +
      `luaprof CPU ${stats.cpuPerSampleUs.toFixed(1)} µs per sample` +
      (stats.stops > 0
        ? `; ${stats.stops} stops, pause per sample p50 ${stats.pauseP50Us.toFixed(0)} µs, p99 ${stats.pauseP99Us.toFixed(0)} µs`
        : '') +
      (stats.searchStops > 0 ? `; ${stats.searchStops} stops to find states` : ''),
    ...outputLines,
  ];
  if (upload && sent) summary.push(uploadLine(upload, sent, uploader!.pprofBytes));
  if ((opts.subprocesses || matching) && output !== null) summary.push(...processLines(profile));
  if (stats.mergedThreads > 0)
    summary.push(
      `luaprof: ${stats.threads} threads sampled: the first ${opts.maxThreads ?? DEFAULT_MAX_THREADS} with a profile each, the ${stats.mergedThreads} after them merged into one profile per thread name (--max-threads keeps more apart)`,
    );
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
  if (sent && sent.rejected > 0) return ExitCode.uploadRejected;
  if (sent && sent.windows > 0 && sent.sent === 0) return ExitCode.uploadFailed;
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
