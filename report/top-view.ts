/**
 * The `luaprof top` screen as a pure function: a state in, the lines to show out, fitted to a width
 * and height. The live loop (cli/top.ts) draws these lines; --once and a pipe print them as they are.
 * Every name and file comes from the target and is made inert here.
 */
import type { TopRow, TopSort } from '../aggregator/top-window.js';
import { inertLatin1 } from './terminal-text.js';

export interface TopHeader {
  pid: number;
  luaVersion: string;
  /** Threads in the rows shown, and threads sampled. */
  threadsShown: number;
  threadsSampled: number;
  /** The thread the rows are limited to ("pid:tid"), or null for all. */
  thread: string | null;
  rateAchieved: number;
  rateAsked: number;
  samples: number;
  errors: number;
  torn: number;
  /** luaprof's own CPU, percent of one core. */
  cpuPct: number;
  /** null: since the start. */
  windowMs: number | null;
  elapsedMs: number;
}

export interface TopViewState {
  header: TopHeader;
  rows: readonly TopRow[];
  /** Samples the rows are shares of. */
  samples: number;
  sort: TopSort;
  byLine: boolean;
  paused: boolean;
  /** Seconds one sample stands for (1 / rate). */
  secondsPerSample: number;
  /** A one-line note under the header (e.g. the target exited). */
  note?: string;
  /** Where the output of the command top started goes (top -- cmd on a terminal). */
  commandLog?: string;
}

/** How many lines come before the rows (header, keys, blank, column titles). */
export const TOP_HEADER_LINES = 5;

const SORT_TITLE: Record<TopSort, string> = {
  ownPct: '%Own',
  totalPct: '%Total',
  ownTime: 'OwnTime',
  totalTime: 'TotalTime',
};

/** Cuts text to `width` columns, keeping its start and end: "very_lo…me.lua:12". */
export function truncateMiddle(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return chars.slice(0, Math.max(0, width)).join('');
  const head = Math.ceil((width - 1) / 2);
  const tail = width - 1 - head;
  return chars.slice(0, head).join('') + '…' + (tail > 0 ? chars.slice(chars.length - tail).join('') : '');
}

/** Pads or cuts a line to exactly `width` columns. */
function fit(line: string, width: number): string {
  const n = [...line].length;
  return n >= width ? truncateMiddle(line, width) : line + ' '.repeat(width - n);
}

function seconds(ms: number): string {
  return ms >= 60_000
    ? `${Math.floor(ms / 60_000)}m${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}s`
    : `${(ms / 1000).toFixed(0)}s`;
}

function formatTime(s: number): string {
  return s >= 100 ? `${s.toFixed(0)}s` : s >= 10 ? `${s.toFixed(1)}s` : `${s.toFixed(2)}s`;
}

/** The function column: the name as profiles print it, then where it is defined (or the line). */
function functionText(row: TopRow, byLine: boolean): string {
  const f = row.frame;
  const name = inertLatin1(f.name);
  if (!f.file) return name;
  const line = byLine ? f.line : f.lineDefined;
  return `${name} (${inertLatin1(f.file)}${line !== undefined && line > 0 ? `:${line}` : ''})`;
}

function headerLines(s: TopViewState, width: number): string[] {
  const h = s.header;
  const window =
    h.windowMs === null ? `since start (${seconds(h.elapsedMs)})` : `last ${seconds(h.windowMs)}`;
  const thread = h.thread === null ? 'all' : h.thread.split(':')[1];
  const parts1 = [
    `luaprof top  pid ${h.pid} (${inertLatin1(h.luaVersion)})`,
    `threads ${h.threadsShown}/${h.threadsSampled} [${thread}]`,
    `window ${window}`,
    s.paused ? '[PAUSED]' : '',
  ];
  const parts2 = [
    `rate ${h.rateAchieved.toFixed(0)}/${h.rateAsked} Hz`,
    `samples ${h.samples}`,
    `errors ${h.errors}`,
    `torn ${h.torn}`,
    `luaprof CPU ${h.cpuPct.toFixed(1)}%`,
  ];
  const keys = `keys: 1-4 sort (${SORT_TITLE[s.sort]}) t thread w window l ${s.byLine ? 'lines' : 'functions'} p pause q quit`;
  return [
    fit(parts1.filter(Boolean).join('  '), width),
    fit(parts2.join('  '), width),
    fit(s.note ? inertLatin1(s.note) : keys, width),
    fit(s.commandLog ? `command output: ${inertLatin1(s.commandLog)}` : '', width),
  ];
}

/**
 * The screen: header, then one row per function, as many as fit. Under 60 columns the two time
 * columns are left out; names are cut in the middle so that both the name and its file stay visible.
 */
export function renderTop(s: TopViewState, width: number, height: number): string[] {
  const w = Math.max(20, width);
  const narrow = w < 60;
  const cols: { title: string; sort: TopSort; width: number; cell: (r: TopRow) => string }[] = [
    { title: '%Own', sort: 'ownPct', width: 6, cell: (r) => pct(r.own, s.samples) },
    { title: '%Total', sort: 'totalPct', width: 7, cell: (r) => pct(r.total, s.samples) },
  ];
  if (!narrow)
    cols.push(
      { title: 'OwnTime', sort: 'ownTime', width: 8, cell: (r) => formatTime(r.own * s.secondsPerSample) },
      {
        title: 'TotalTime',
        sort: 'totalTime',
        width: 10,
        cell: (r) => formatTime(r.total * s.secondsPerSample),
      },
    );
  // The cells, one space between them, two before the name.
  const lead = cols.reduce((n, c) => n + c.width, 0) + cols.length - 1 + 2;
  const nameWidth = Math.max(1, w - lead);
  const title =
    cols.map((c) => (c.sort === s.sort ? `${c.title}*` : c.title).padStart(c.width)).join(' ') +
    '  ' +
    (s.byLine ? 'Function (file:line)' : 'Function (file:line defined)');
  const lines = headerLines(s, w);
  lines.push(fit(title, w));
  const room = Math.max(0, height - lines.length);
  const shown = s.rows.slice(0, room);
  for (const r of shown) {
    const cells = cols.map((c) => c.cell(r).padStart(c.width)).join(' ');
    lines.push(fit(`${cells}  ${truncateMiddle(functionText(r, s.byLine), nameWidth)}`, w));
  }
  if (s.rows.length === 0 && room > 0) lines.push(fit('  (no samples with Lua frames yet)', w));
  return lines.slice(0, Math.max(1, height));
}

function pct(n: number, of: number): string {
  return of > 0 ? `${((100 * n) / of).toFixed(1)}%` : '-';
}

/** The same table for a pipe or a log: no padding to the width, a blank line after. */
export function renderTopText(s: TopViewState, width: number, maxRows = 30): string {
  const lines = renderTop(s, width, TOP_HEADER_LINES + maxRows).map((l) => l.trimEnd());
  return lines.join('\n') + '\n\n';
}
