/**
 * `luaprof top`: a live view of where a process spends its time, refreshed every second. The samples
 * come from the same recording pipeline as `record` (sampler/recorder.ts); a TopWindow folds them
 * into rows and report/top-view.ts draws the screen. On a terminal the screen is full-screen (the
 * alternate screen, raw keys); on a pipe, or with --once, the same table is printed as text.
 */
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { sortRows, TopWindow, type TopSort } from '../aggregator/top-window.js';
import type { Frame } from '../aggregator/profile.js';
import { renderTop, renderTopText, type TopViewState } from '../report/top-view.js';
import { LuaprofError, ExitCode } from '../sampler/errors.js';
import { targetGone } from '../sampler/gone.js';
import { startRecording, type SampleStream } from '../sampler/recorder.js';
import type { RecordOptions } from '../sampler/sample.js';
import { endCommand, launch, type Launched } from './launch.js';
import { VERSION } from './version.js';

export interface TopCliOptions extends Pick<
  RecordOptions,
  'rate' | 'version' | 'native' | 'threads' | 'subprocesses' | 'idle' | 'blocking'
> {
  pid?: number;
  command: string[];
  /** Print the table once after durationMs (default 5 s) and exit. */
  once: boolean;
  durationMs: number | null;
}

const REFRESH_MS = 1000;
const RECENT_MS = 10_000;
const ONCE_DEFAULT_MS = 5000;
/** Width of the table when the output is not a terminal. */
const TEXT_WIDTH = 120;

const SORT_KEYS: Record<string, TopSort> = {
  '1': 'ownPct',
  '2': 'totalPct',
  '3': 'ownTime',
  '4': 'totalTime',
};

// Alternate screen, cursor hidden; and back.
const ENTER = '\x1b[?1049h\x1b[?25l';
const LEAVE = '\x1b[?25h\x1b[?1049l';

/** What the keys change. */
interface ViewChoice {
  sort: TopSort;
  byLine: boolean;
  windowMs: number | null;
  thread: string | null;
  paused: boolean;
}

export async function top(opts: TopCliOptions): Promise<number> {
  const interactive = !opts.once && process.stdout.isTTY === true && process.stdin.isTTY === true;
  let launched: Launched | null = null;
  let commandLog: string | undefined;
  let pid = opts.pid;
  if (opts.command.length > 0) {
    // On the full screen the command's output would draw over the view: it goes to a file instead.
    let fd: number | undefined;
    if (interactive) {
      commandLog = join(mkdtempSync(join(tmpdir(), 'luaprof-top-')), 'command.log');
      fd = openSync(commandLog, 'w');
    }
    try {
      launched = await launch(opts.command, false, fd);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    pid = launched.pid;
  } else if (pid === undefined || targetGone(pid)) {
    throw new LuaprofError('noSuchProcess', `no process with pid ${pid}`);
  }
  const durationMs = opts.once ? (opts.durationMs ?? ONCE_DEFAULT_MS) : opts.durationMs;
  const { command: _c, once: _o, durationMs: _d, pid: _p, ...sampling } = opts;
  // Frames keyed by line: `l` folds them back to functions. The screen reads the stream alone: no
  // profile is kept (a top left open for hours would keep every sample).
  const rec = startRecording(
    { ...sampling, pid: pid!, durationMs, byLine: true, waitForLua: launched !== null },
    { version: VERSION },
    { keepProfile: false },
  );
  let stream: SampleStream | null = null;
  const frameOf = (id: number): Frame => stream!.frames[id];
  const window = new TopWindow(frameOf, RECENT_MS);
  rec.onSamples((samples, s) => {
    stream = s;
    for (const x of samples) window.add(x.time, `${x.pid}:${x.tid}`, x.frames);
  });
  let commandEnded = false;
  launched?.exited.then(() => {
    commandEnded = true;
    rec.stop();
  });

  // --once shows the whole run, however long -d made it.
  const choice: ViewChoice = {
    sort: 'ownPct',
    byLine: false,
    windowMs: opts.once ? null : RECENT_MS,
    thread: null,
    paused: false,
  };
  let luaVersion = '';
  rec.attached.then(
    (v) => (luaVersion = v),
    () => undefined,
  );
  const meter = new RateMeter();
  let note: string | undefined;

  const state = (): TopViewState => {
    const stats = rec.stats;
    const now = stats.startTime > 0 ? Date.now() - stats.startTime : 0;
    const table = window.table({
      windowMs: choice.windowMs,
      now,
      thread: choice.thread,
      byLine: choice.byLine,
    });
    const threads = window.threads;
    const m = meter.sample(stats, Math.max(1, threads.length));
    return {
      header: {
        pid: pid!,
        luaVersion: luaVersion || 'attaching…',
        threadsShown: table.threads.length,
        threadsSampled: threads.length,
        thread: choice.thread,
        rateAchieved: m.rate,
        rateAsked: opts.rate,
        samples: stats.samples,
        errors: stats.errors,
        torn: stats.tornCut + stats.tornDropped,
        cpuPct: m.cpuPct,
        windowMs: choice.windowMs,
        elapsedMs: now,
      },
      rows: sortRows(table.rows, choice.sort),
      samples: table.samples,
      sort: choice.sort,
      byLine: choice.byLine,
      paused: choice.paused,
      secondsPerSample: 1 / opts.rate,
      note,
      commandLog,
    };
  };

  const screen = interactive ? new Screen() : null;
  let shown: TopViewState | null = null;
  const draw = (fresh: boolean) => {
    if (fresh && (!choice.paused || !shown)) shown = state();
    else if (shown) shown = { ...shown, sort: choice.sort, paused: choice.paused, note };
    if (!shown) return;
    if (screen) screen.draw(renderTop(shown, screen.width, screen.height));
    else process.stdout.write(renderTopText(shown, TEXT_WIDTH));
  };

  let quit: () => void = () => undefined;
  const quitting = new Promise<void>((res) => (quit = res));
  const onKey = (key: string) => {
    if (key === 'q' || key === '\x03') return quit();
    if (SORT_KEYS[key]) choice.sort = SORT_KEYS[key];
    else if (key === 'w') choice.windowMs = choice.windowMs === null ? RECENT_MS : null;
    else if (key === 'l') choice.byLine = !choice.byLine;
    else if (key === 'p') choice.paused = !choice.paused;
    else if (key === 't') choice.thread = nextThread(window.threads, choice.thread);
    else return;
    draw(key !== 'p');
  };
  const onSignal = () => quit();
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  let ticker: NodeJS.Timeout | null = null;
  let exitCode: number = ExitCode.ok;
  try {
    await Promise.race([rec.attached, rec.done]);
    if (screen) {
      screen.open(onKey, () => draw(false));
      draw(true);
    }
    if (!opts.once) ticker = setInterval(() => draw(true), REFRESH_MS);
    const ended = await Promise.race([rec.done.then((r) => r.reason), quitting.then(() => null)]);
    if (ended === 'target-exited' && screen) {
      // Leave the last picture up until the user quits; the recording (and every trace) is over.
      note = `process ${pid} exited: q to quit`;
      draw(true);
      if (ticker) clearInterval(ticker);
      ticker = null;
      await quitting;
    }
  } finally {
    if (ticker) clearInterval(ticker);
    screen?.close();
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSignal);
    rec.stop();
  }
  let result;
  try {
    result = await rec.done;
  } catch (e) {
    if (launched && e instanceof LuaprofError && e.kind === 'targetExited') {
      const status = await launched.exited;
      throw new LuaprofError(
        'targetExited',
        `${basename(opts.command[0])} exited (status ${status}) before any Lua state was found`,
      );
    }
    throw e;
  }
  if (opts.once) draw(true);
  if (result.reason === 'target-exited' && !launched) {
    process.stderr.write(`luaprof: process ${pid} exited\n`);
    exitCode = opts.once ? ExitCode.targetExited : ExitCode.ok;
  }
  if (commandLog)
    process.stderr.write(`luaprof: the output of ${basename(opts.command[0])} is in ${commandLog}\n`);
  if (launched) {
    // Quitting (or -d) ends the command top started; one that ends by itself ends top's sampling.
    if (!commandEnded) {
      process.stderr.write(`luaprof: ending ${basename(opts.command[0])} (pid ${pid})\n`);
      for (const d of await endCommand(launched))
        process.stderr.write(`luaprof: left running: pid ${d}, detached from the command (a daemon)\n`);
    }
    await launched.exited;
  }
  return exitCode;
}

/** The next thread for `t`: all → each thread in turn → all. */
function nextThread(threads: readonly string[], current: string | null): string | null {
  if (threads.length === 0) return null;
  if (current === null) return threads[0];
  const i = threads.indexOf(current);
  return i < 0 || i + 1 >= threads.length ? null : threads[i + 1];
}

/** Sampling ticks per second per thread, and luaprof's own CPU, since the last refresh. */
class RateMeter {
  private lastAt = performance.now();
  private lastTicks = 0;
  private lastCpu = process.cpuUsage();
  private rate = 0;
  private cpuPct = 0;

  sample(
    s: { samples: number; errors: number; empty: number; offCpu: number; idle: number; tornDropped: number },
    threads: number,
  ): { rate: number; cpuPct: number } {
    const now = performance.now();
    const dt = (now - this.lastAt) / 1000;
    // Refreshes closer than this (a key press) keep the last figures.
    if (dt < 0.5) return { rate: this.rate, cpuPct: this.cpuPct };
    const ticks = s.samples + s.errors + s.empty + s.offCpu + s.idle + s.tornDropped;
    const cpu = process.cpuUsage();
    this.rate = (ticks - this.lastTicks) / dt / threads;
    this.cpuPct = ((cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1e6 / dt) * 100;
    this.lastAt = now;
    this.lastTicks = ticks;
    this.lastCpu = cpu;
    return { rate: this.rate, cpuPct: this.cpuPct };
  }
}

/** The terminal while top runs: alternate screen, raw keys, redraws on resize; restored on every exit. */
class Screen {
  private restored = true;
  private readonly restoreAtExit = () => this.close();
  private onData: ((d: Buffer) => void) | null = null;
  private onResize: (() => void) | null = null;

  get width(): number {
    return process.stdout.columns || 80;
  }
  get height(): number {
    return process.stdout.rows || 24;
  }

  open(onKey: (key: string) => void, onResize: () => void): void {
    this.restored = false;
    process.on('exit', this.restoreAtExit);
    process.stdout.write(ENTER);
    process.stdin.setRawMode(true);
    this.onData = (d) => {
      for (const ch of d.toString('latin1')) onKey(ch);
    };
    this.onResize = onResize;
    process.stdin.on('data', this.onData);
    process.stdin.resume();
    process.stdout.on('resize', this.onResize);
  }

  draw(lines: string[]): void {
    // Home, each line cleared to its end, and everything under the last line cleared.
    process.stdout.write('\x1b[H' + lines.join('\x1b[K\r\n') + '\x1b[K\x1b[J');
  }

  close(): void {
    if (this.restored) return;
    this.restored = true;
    if (this.onData) process.stdin.off('data', this.onData);
    if (this.onResize) process.stdout.off('resize', this.onResize);
    process.off('exit', this.restoreAtExit);
    try {
      process.stdin.setRawMode(false);
    } catch {
      /* stdin already closed */
    }
    process.stdin.pause();
    process.stdout.write(LEAVE);
  }
}
