/**
 * luaprof command line: record, dump, top, report, view, diff. Each command's module is loaded when it
 * runs: the time to a recording's first sample counts every module loaded before its worker starts.
 */
import { Command, InvalidArgumentError } from 'commander';
import { inferFormat, isClosedPipe, OUTPUT_FORMATS, type OutputFormat } from '../report/output-path.js';
import { ExitCode, LuaprofError } from '../sampler/errors.js';
import { parseDuration } from './duration.js';
import { exitCodeAction, runCommand } from './output.js';
import { formatOption } from './format-option.js';
import { recordsFor } from './recording-commands.js';
import { parseTidList } from '../sampler/threads.js';
import { VERSION } from './version.js';
import { EndpointError, parseEndpoint } from '../upload/endpoint.js';
import { LabelError, parseTags } from '../upload/labels.js';
import type { UploadCliOptions } from './record.js';
import { DEFAULT_MAX_THREADS } from '../sampler/thread-identities.js';
import { numberOption } from './number-option.js';

const pidOption = numberOption('a process id (a positive integer)', (n) => n > 0, true);

function durationOption(v: string): number {
  const ms = parseDuration(v);
  if (ms === null)
    throw new InvalidArgumentError('expected a duration such as 30s, 2m, 500ms or a number of seconds');
  return ms;
}

const rateOption = numberOption('a rate in Hz between 1 and 10000', (n) => n > 0 && n <= 10_000);

const maxThreadsOption = numberOption(
  'a number of threads between 1 and 1000000',
  (n) => n >= 1 && n <= 1_000_000,
  true,
);

function threadsOption(v: string): number[] {
  const tids = parseTidList(v);
  if (!tids) throw new InvalidArgumentError('expected thread ids separated by commas (e.g. 4242,4250)');
  return tids;
}

function localsOption(v: string): 'all' {
  if (v !== 'all') throw new InvalidArgumentError('expected --locals or --locals=all');
  return 'all';
}

/** --match: a regular expression, checked here (one line, not a stack trace from the worker). */
function matchOption(v: string): string {
  try {
    new RegExp(v);
  } catch (e) {
    throw new InvalidArgumentError(`not a regular expression: ${(e as Error).message}`);
  }
  return v;
}

function uploadIntervalOption(v: string): number {
  const ms = durationOption(v);
  if (ms < 1000 || ms > 3_600_000) throw new InvalidArgumentError('expected an interval between 1s and 1h');
  return ms;
}

/** The --upload options together, or null without --upload (its companions alone are a usage error). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commander's parsed options
function uploadOptions(o: any): UploadCliOptions | undefined {
  if (o.upload === undefined) {
    const stray = ['uploadInterval', 'appName', 'tags', 'tenant'].find((k) => o[k] !== undefined);
    if (stray)
      throw new LuaprofError(
        'badArguments',
        `--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --upload URL`,
      );
    return undefined;
  }
  try {
    return {
      endpoint: parseEndpoint(o.upload),
      intervalMs: o.uploadInterval ?? 10_000,
      appName: o.appName,
      tags: o.tags === undefined ? {} : parseTags(o.tags),
      tenant: o.tenant,
    };
  } catch (e) {
    if (e instanceof EndpointError || e instanceof LabelError)
      throw new LuaprofError('badArguments', e.message);
    throw e;
  }
}

function defaultOutput(pid: number | undefined, format: OutputFormat): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const ext = { html: 'html', speedscope: 'json', folded: 'folded', pprof: 'pb.gz' }[format];
  return `luaprof-${pid ?? 'cmd'}-${stamp}.${ext}`;
}

const program = new Command();
program
  .name('luaprof')
  .description(
    'Sampling profiler for Lua processes (PUC Lua 5.1–5.4, LuaJIT 2.1; attach with -p or start a command)',
  )
  .version(VERSION)
  .enablePositionalOptions()
  .exitOverride()
  .configureOutput({
    writeErr: (s) => process.stderr.write(s.startsWith('error: ') ? `luaprof: ${s.slice(7)}` : s),
  });

program
  .command('record')
  .description(
    'sample a running process (-p PID), the processes matching --match REGEX, or a command (-- cmd args...); write a profile or --upload it',
  )
  .option('-p, --pid <pid>', 'process id to attach to', pidOption)
  .option(
    '-d, --duration <time>',
    'stop after this long (30s, 2m, 500ms, or seconds); default: until Ctrl-C or the target exits',
    durationOption,
  )
  .option('-r, --rate <hz>', 'samples per second', rateOption, 100)
  .option('-o, --output <file>', 'output file (format inferred from .html, .json, .folded, .pb.gz)')
  .option('-f, --format <format>', `output format: ${OUTPUT_FORMATS.join(', ')}`, formatOption)
  .option('--lines', 'key frames by current line instead of by function', false)
  .option('--lua-version <version>', 'assume this Lua version instead of detecting it (e.g. 5.4.4)')
  .option('--native', 'mixed stacks: native frames with the Lua frames spliced in', false)
  .option('--threads <tids>', 'sample only these threads (comma-separated thread ids)', threadsOption)
  .option(
    '--subprocesses',
    'follow every descendant process (a wrapper script, a test runner, a server that forks): one profile per process that runs Lua',
    false,
  )
  .option('--keep-running', 'with -- cmd and -d: leave the command running when the recording ends', false)
  .option(
    '--max-threads <n>',
    'threads with a profile of their own; threads first seen after them share one profile per name',
    maxThreadsOption,
    DEFAULT_MAX_THREADS,
  )
  .option('--idle', 'keep samples of threads blocked in the kernel, marked [idle]', false)
  .option('--blocking', 'stop each thread for its sample (ptrace) instead of copying it while it runs', false)
  .option(
    '--match <regex>',
    'follow every process whose command line matches, and new ones as they start (instead of -p or -- cmd)',
    matchOption,
  )
  .option(
    '--upload <url>',
    'send a profile every --upload-interval: http(s)://host:4040 (Pyroscope) or parca+http(s)://host:7070 (Parca); credentials from LUAPROF_UPLOAD_TOKEN or LUAPROF_UPLOAD_USER/PASSWORD',
  )
  .option(
    '--upload-interval <time>',
    'with --upload: length of each window sent (default 10s)',
    uploadIntervalOption,
  )
  .option('--app-name <name>', "with --upload: the service's name (default: the executable's name)")
  .option('--tags <k=v,...>', 'with --upload: labels added to every series')
  .option('--tenant <id>', 'with --upload: tenant id (X-Scope-OrgID header)')
  .option('--no-progress', 'no live progress line')
  .argument('[command...]', 'command to start and profile until it exits (after --)')
  .passThroughOptions()
  .action(
    exitCodeAction(async (command: string[], o) => {
      const targets = [o.pid !== undefined, o.match !== undefined, command.length > 0].filter(Boolean).length;
      if (targets !== 1)
        throw new LuaprofError(
          'badArguments',
          'record needs one of -p PID, --match REGEX or -- command args...',
        );
      const upload = uploadOptions(o);
      const perProcess = o.match !== undefined && !upload;
      const format: OutputFormat =
        o.format ?? (o.output && !perProcess ? inferFormat(o.output) : null) ?? (upload ? 'pprof' : 'html');
      if (o.output && !o.format && !perProcess && !inferFormat(o.output))
        throw new LuaprofError(
          'badArguments',
          `cannot tell the format of ${o.output}: use -f ${OUTPUT_FORMATS.join('|')}`,
        );
      // --upload alone writes nothing; --match alone writes one file per process into a directory.
      const output: string | null =
        o.output ?? (upload ? null : perProcess ? '.' : defaultOutput(o.pid, format));
      const { record } = await import('./record.js');
      return record({
        pid: o.pid,
        match: o.match,
        upload,
        command,
        durationMs: o.duration ?? null,
        rate: o.rate,
        output,
        format,
        byLine: o.lines,
        version: o.luaVersion,
        native: o.native,
        threads: o.threads,
        subprocesses: o.subprocesses,
        keepRunning: o.keepRunning,
        idle: o.idle,
        blocking: o.blocking,
        maxThreads: o.maxThreads,
        progress: o.progress && process.stderr.isTTY === true,
      });
    }),
  );

program
  .command('dump')
  .description('print the current Lua stack of a process, innermost frame first')
  .requiredOption('-p, --pid <pid>', 'process id', pidOption)
  .option('--json', 'print JSON: {"pid":N,"threads":[{"tid":N,"frames":[…]}]}', false)
  .option('--lua-version <version>', 'assume this Lua version instead of detecting it')
  .option('--native', 'mixed stacks: native frames with the Lua frames spliced in', false)
  .option('--threads <tids>', 'only these threads (comma-separated thread ids)', threadsOption)
  .option('--locals [which]', "each Lua frame's local variables (--locals=all: upvalues too)", localsOption)
  .action(
    exitCodeAction(async (o) => {
      const { dump } = await import('./dump.js');
      process.stdout.write(
        dump({
          pid: o.pid,
          json: o.json,
          version: o.luaVersion,
          native: o.native,
          threads: o.threads,
          locals: o.locals === true ? 'locals' : (o.locals ?? false),
        }),
      );
      return ExitCode.ok;
    }),
  );

program
  .command('top')
  .description('live view of the functions a process (-p PID) or a command (-- cmd args...) runs now')
  .option('-p, --pid <pid>', 'process id to attach to', pidOption)
  .option('-r, --rate <hz>', 'samples per second', rateOption, 100)
  .option('--once', 'print the table once, after -d (default 5s), and exit', false)
  .option('-d, --duration <time>', 'stop after this long (with --once: sample this long)', durationOption)
  .option('--lua-version <version>', 'assume this Lua version instead of detecting it (e.g. 5.4.4)')
  .option('--native', 'mixed stacks: native frames with the Lua frames spliced in', false)
  .option('--threads <tids>', 'sample only these threads (comma-separated thread ids)', threadsOption)
  .option('--subprocesses', 'also sample child processes', false)
  .option('--idle', 'keep samples of threads blocked in the kernel, marked [idle]', false)
  .option('--blocking', 'stop each thread for its sample (ptrace) instead of copying it while it runs', false)
  .argument('[command...]', 'command to start and watch until it exits (after --)')
  .passThroughOptions()
  .action(
    exitCodeAction(async (command: string[], o) => {
      if ((o.pid === undefined) === (command.length === 0))
        throw new LuaprofError('badArguments', 'top needs either -p PID or -- command args...');
      const { top } = await import('./top.js');
      return top({
        pid: o.pid,
        command,
        rate: o.rate,
        once: o.once,
        durationMs: o.duration ?? null,
        version: o.luaVersion,
        native: o.native,
        threads: o.threads,
        subprocesses: o.subprocesses,
        idle: o.idle,
        blocking: o.blocking,
      });
    }),
  );

/** Runs the command line; returns the exit code (cli/main.ts exits with it). */
export async function runProgram(argv: readonly string[]): Promise<number> {
  // report, view and diff (their readers, diff and pages) are loaded only when no recording is asked for.
  if (!recordsFor(argv)) (await import('./report-commands.js')).registerReportCommands(program);
  // A reader that closed its end (`luaprof dump -p PID | head -1`) is not an error: the rest of the
  // output has nowhere to go, and the exit code stays the action's.
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (e) => {
      if (!isClosedPipe(e)) throw e;
    });
  return runCommand(program, argv);
}
