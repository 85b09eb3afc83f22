/**
 * `luaprof report`, `luaprof view`, `luaprof diff`.
 * User errors are LuaprofErrors: one line "luaprof: <message>" on stderr and a distinct exit code,
 * no stack trace (cli/output.ts). Actions return their exit code; cli/main.ts exits with it.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { diffProfiles, formatDiffSummary, regressionsOver } from '../aggregator/diff.js';
import type { Profile } from '../aggregator/profile.js';
import { renderDiffHtml } from '../report/diff-html.js';
import { DEFAULT_MAX_INPUT_BYTES, ProfileFormatError, readProfile } from '../report/read.js';
import { renderSpeedscopeHtml } from '../report/speedscope-view.js';
import {
  OUTPUT_FORMATS,
  OutputWriteError,
  checkOutputPath,
  isClosedPipe,
  fsReason,
  inferFormat,
  writeFileAtomic,
  writeProfile,
  type OutputFormat,
} from '../report/write.js';
import { ExitCode, LuaprofError } from '../sampler/errors.js';
import { exitCodeAction, type ActionArgs } from './output.js';
import { numberOption } from './number-option.js';
import { formatOption } from './format-option.js';

/** An action of these commands, with unreadable profiles and output paths made user errors. */
function profileAction(fn: (...args: ActionArgs) => Promise<number>) {
  return exitCodeAction(async (...args: ActionArgs) => {
    try {
      return await fn(...args);
    } catch (e) {
      if (e instanceof ProfileFormatError) throw new LuaprofError('malformedProfile', e.message);
      if (e instanceof OutputWriteError) throw new LuaprofError('outputNotWritable', e.message);
      const err = e as NodeJS.ErrnoException;
      if (isClosedPipe(err)) throw err; // `| head -1`: quiet (cli/output.ts)
      if (err && typeof err.code === 'string' && err.syscall) {
        // File-system failure writing the output: the user's path, not our bug.
        throw new LuaprofError(
          'outputNotWritable',
          `cannot write ${err.path ?? 'the output'}: ${fsReason(err)}`,
        );
      }
      throw e;
    }
  });
}

function load(file: string, maxInputSize?: number): Profile {
  return readProfile(file, maxInputSize ?? DEFAULT_MAX_INPUT_BYTES);
}

/** `--max-input-size`: bytes, or with a unit (K, M, G; KB/MB/GB and KiB/MiB/GiB alike, powers of 1024). */
export function sizeOption(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(v);
  const scale = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  const n = m ? Math.floor(Number(m[1]) * scale[m[2].toLowerCase() as keyof typeof scale]) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new InvalidArgumentError('expected a size such as 512M, 1G or a number of bytes');
  return n;
}

const MAX_INPUT_HELP = 'read profiles up to this size (default 256M; e.g. 1G)';

const pctOption = numberOption('a number of percentage points between 0 and 100', (n) => n >= 0 && n <= 100);

const alphaOption = numberOption('a probability between 0 and 1', (n) => n > 0 && n < 1);

export interface ReportOptions {
  input: string;
  output: string;
  format?: OutputFormat;
  /** Profiles larger than this are refused before they are read (default 256 MB). */
  maxInputSize?: number;
}

/** `luaprof report`: converts any readable profile to any output format. */
export async function runReport(opts: ReportOptions): Promise<OutputFormat> {
  const format = opts.format ?? inferFormat(opts.output);
  if (!format)
    throw new LuaprofError(
      'badArguments',
      `cannot tell the format of ${opts.output} from its extension; use -f ${OUTPUT_FORMATS.join('|')}`,
    );
  checkOutputPath(opts.output);
  const profile = load(opts.input, opts.maxInputSize);
  await writeProfile(profile, opts.output, format);
  return format;
}

export interface ViewOptions {
  output?: string;
  open?: boolean;
  maxInputSize?: number;
}

/** `luaprof view`: writes the speedscope page; returns its path and whether a browser was started. */
export async function runView(
  input: string,
  opts: ViewOptions = {},
): Promise<{ path: string; opened: boolean }> {
  const out = resolve(
    opts.output ??
      join(tmpdir(), `luaprof-view-${basename(input).replace(/[^\w.-]+/g, '_')}-${process.pid}.html`),
  );
  checkOutputPath(out);
  const profile = load(input, opts.maxInputSize);
  await writeFileAtomic(out, renderSpeedscopeHtml(profile, basename(input)));
  const opened = opts.open === false ? false : openInBrowser(out);
  return { path: out, opened };
}

function onPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Starts the desktop's default browser on a file when there is a display and xdg-open. */
export function openInBrowser(file: string): boolean {
  const hasDisplay = Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY || process.env.BROWSER);
  const opener = onPath('xdg-open');
  if (!hasDisplay || !opener) return false;
  try {
    const child = spawn(opener, [file], { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

export interface DiffCommandOptions {
  output?: string;
  maxInputSize?: number;
  byLine?: boolean;
  failOnRegression?: number;
  alpha?: number;
  top?: number;
}

export interface DiffRun {
  summary: string;
  exitCode: number;
  failing: string[];
}

/** `luaprof diff`: compares two profile files, writes the page, returns the summary and exit code. */
export async function runDiff(
  baseFile: string,
  newFile: string,
  opts: DiffCommandOptions = {},
): Promise<DiffRun> {
  if (opts.output) {
    const fmt = inferFormat(opts.output);
    if (fmt && fmt !== 'html')
      throw new LuaprofError(
        'badArguments',
        `diff writes an HTML page; ${opts.output} does not end in .html`,
      );
    checkOutputPath(opts.output);
  }
  const base = load(baseFile, opts.maxInputSize);
  const next = load(newFile, opts.maxInputSize);
  const diff = diffProfiles(base, next, { byLine: opts.byLine, alpha: opts.alpha });
  if (opts.output) {
    await writeFileAtomic(
      opts.output,
      renderDiffHtml(diff, {
        baseName: basename(baseFile),
        newName: basename(newFile),
        baseMeta: base.meta,
        newMeta: next.meta,
      }),
    );
  }
  let summary = formatDiffSummary(diff, opts.top ?? 10);
  let exitCode: number = ExitCode.ok;
  let failing: string[] = [];
  if (opts.failOnRegression !== undefined) {
    const bad = regressionsOver(diff, opts.failOnRegression);
    failing = bad.map((f) => f.name);
    if (bad.length) {
      exitCode = ExitCode.regression;
      summary += `FAIL: ${bad.length} function(s) grew by more than ${opts.failOnRegression} pts of total: ${bad
        .slice(0, 5)
        .map((f) => `${f.name} (+${f.deltaTotalPts.toFixed(2)})`)
        .join(', ')}\n`;
    }
  }
  return { summary, exitCode, failing };
}

/** Commander's own usage errors (missing/invalid arguments): one line; runCommand makes them exit 2. */
function oneLineUsageErrors(cmd: Command): Command {
  return cmd
    .configureOutput({
      outputError: (str, write) => write(`luaprof: ${str.replace(/^error: /, '').split('\n')[0]}\n`),
    })
    .exitOverride();
}

export function registerReportCommands(program: Command): void {
  const report = program
    .command('report')
    .description('convert a profile (speedscope JSON, folded, pprof) to another format or an HTML flamegraph')
    .requiredOption(
      '-i, --input <file>',
      'profile to read (speedscope .json, folded .txt/.folded, pprof .pb.gz)',
    )
    .requiredOption('-o, --output <file>', 'file to write')
    .option(
      '-f, --format <format>',
      `output format: ${OUTPUT_FORMATS.join(', ')} (default: from the extension of -o)`,
      formatOption,
    )
    .option('--max-input-size <size>', MAX_INPUT_HELP, sizeOption)
    .action(
      profileAction(async (o: ReportOptions) => {
        const fmt = await runReport(o);
        process.stderr.write(`luaprof: wrote ${o.output} (${fmt})\n`);
        return ExitCode.ok;
      }),
    );

  oneLineUsageErrors(report);

  const view = program
    .command('view')
    .description("open a profile in speedscope (one offline page with speedscope's app and the profile)")
    .argument('<profile>', 'profile to view')
    .option('-o, --output <file>', 'where to write the page (default: a file in the temp directory)')
    .option('--no-open', 'do not start a browser, only print the path')
    .option('--max-input-size <size>', MAX_INPUT_HELP, sizeOption)
    .action(
      profileAction(async (input: string, o: ViewOptions) => {
        const r = await runView(input, o);
        process.stdout.write(r.opened ? `opened ${r.path}\n` : `${r.path}\n`);
        return ExitCode.ok;
      }),
    );

  oneLineUsageErrors(view);

  const diff = program
    .command('diff')
    .description('compare two profiles: differential flamegraph, table with significance, summary')
    .argument('<base>', 'the earlier profile')
    .argument('<new>', 'the later profile')
    .option('-o, --output <file>', 'write the differential flamegraph page (.html)')
    .option('--by-line', 'match frames by file and line, not only by function', false)
    .option(
      '--fail-on-regression <pct>',
      "exit 7 when a function's total share grows significantly by more than PCT points",
      pctOption,
    )
    .option('--alpha <p>', 'family-wise significance level (Bonferroni-corrected)', alphaOption, 0.01)
    .option('--max-input-size <size>', MAX_INPUT_HELP, sizeOption)
    .option(
      '--top <n>',
      'rows per section in the summary',
      numberOption('a positive integer', (n) => n >= 1, true),
      10,
    )
    .action(
      profileAction(async (baseFile: string, newFile: string, o: DiffCommandOptions) => {
        const r = await runDiff(baseFile, newFile, o);
        process.stdout.write(r.summary);
        if (o.output) process.stderr.write(`luaprof: wrote ${o.output}\n`);
        return r.exitCode;
      }),
    );
  oneLineUsageErrors(diff);
}
