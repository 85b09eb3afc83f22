/** `luaprof top` without a terminal: the rolling window's rows and the screen at several widths. */
import { describe, expect, it } from 'vitest';
import type { Frame } from '../aggregator/profile.js';
import { sortRows, TopWindow } from '../aggregator/top-window.js';
import { renderTop, renderTopText, truncateMiddle, type TopViewState } from '../report/top-view.js';

const FRAMES: Frame[] = [
  { kind: 'lua', name: 'burn', file: 'shares.lua', lineDefined: 10, line: 12 },
  { kind: 'lua', name: 'alpha', file: 'shares.lua', lineDefined: 16, line: 16 },
  { kind: 'lua', name: 'beta', file: 'shares.lua', lineDefined: 17, line: 17 },
  { kind: 'lua', name: 'main chunk', file: 'shares.lua', lineDefined: 0, line: 25 },
  { kind: 'lua', name: 'burn', file: 'shares.lua', lineDefined: 10, line: 13 },
  { kind: 'lua', name: 'rec', file: 'r.lua', lineDefined: 1, line: 2 },
];
const frameOf = (id: number) => FRAMES[id];

/** 60 samples of burn under alpha (two lines of burn), 30 under beta, 10 of recursion, over 10 s. */
function filled(): TopWindow {
  const w = new TopWindow(frameOf, 10_000);
  for (let i = 0; i < 100; i++) {
    const t = i * 100;
    if (i < 40) w.add(t, '1:1', [0, 1, 3]);
    else if (i < 60) w.add(t, '1:1', [4, 1, 3]);
    else if (i < 90) w.add(t, '1:2', [0, 2, 3]);
    else w.add(t, '1:1', [5, 5, 5, 3]);
  }
  return w;
}

const rowsOf = (t: ReturnType<TopWindow['table']>) =>
  Object.fromEntries(t.rows.map((r) => [`${r.frame.name}${r.frame.line ?? ''}`, [r.own, r.total]]));

describe('TopWindow', () => {
  it('counts own and total per function, recursion once, lines folded', () => {
    const t = filled().table({ windowMs: null, now: 10_000, thread: null, byLine: false });
    expect(t.samples).toBe(100);
    const rows = Object.fromEntries(t.rows.map((r) => [r.frame.name, [r.own, r.total]]));
    expect(rows).toEqual({
      burn: [90, 90],
      alpha: [0, 60],
      beta: [0, 30],
      'main chunk': [0, 100],
      rec: [10, 10],
    });
    expect(t.threads).toEqual(['1:1', '1:2']);
  });

  it('splits by current line with byLine', () => {
    const t = filled().table({ windowMs: null, now: 10_000, thread: null, byLine: true });
    const rows = rowsOf(t);
    expect(rows.burn12).toEqual([70, 70]);
    expect(rows.burn13).toEqual([20, 20]);
  });

  it('keeps the last seconds only in a window, and one thread when asked', () => {
    const w = filled();
    const recent = w.table({ windowMs: 3000, now: 9_950, thread: null, byLine: false });
    // Samples at 7000..9900 ms: 20 of beta's thread, 10 of recursion.
    expect(recent.samples).toBe(30);
    const one = w.table({ windowMs: null, now: 9_950, thread: '1:2', byLine: false });
    expect(one.samples).toBe(30);
    expect(one.threads).toEqual(['1:2']);
    // Expired samples leave the window but not the totals since the start.
    w.expire(30_000);
    expect(w.table({ windowMs: 10_000, now: 30_000, thread: null, byLine: false }).samples).toBe(0);
    expect(w.table({ windowMs: null, now: 30_000, thread: null, byLine: false }).samples).toBe(100);
  });

  it('sorts by own or total', () => {
    const t = filled().table({ windowMs: null, now: 10_000, thread: null, byLine: false });
    expect(sortRows(t.rows, 'ownPct').map((r) => r.frame.name)[0]).toBe('burn');
    expect(sortRows(t.rows, 'totalTime').map((r) => r.frame.name)[0]).toBe('main chunk');
  });
});

function state(over: Partial<TopViewState> = {}): TopViewState {
  const t = filled().table({ windowMs: null, now: 10_000, thread: null, byLine: false });
  return {
    header: {
      pid: 4242,
      luaVersion: 'Lua 5.4.4',
      threadsShown: 2,
      threadsSampled: 2,
      thread: null,
      rateAchieved: 99.4,
      rateAsked: 100,
      samples: 100,
      errors: 1,
      torn: 2,
      cpuPct: 3.25,
      windowMs: 10_000,
      elapsedMs: 12_000,
    },
    rows: sortRows(t.rows, 'ownPct'),
    samples: t.samples,
    sort: 'ownPct',
    byLine: false,
    paused: false,
    secondsPerSample: 0.01,
    ...over,
  };
}

describe('renderTop', () => {
  it('draws header, titles and rows at 120 columns, every line exactly the width', () => {
    const lines = renderTop(state(), 120, 40);
    expect(lines.every((l) => [...l].length === 120)).toBe(true);
    expect(lines[0]).toMatch(
      /^luaprof top {2}pid 4242 \(Lua 5\.4\.4\) {2}threads 2\/2 \[all\] {2}window last 10s/,
    );
    expect(lines[1]).toMatch(/rate 99\/100 Hz {2}samples 100 {2}errors 1 {2}torn 2 {2}luaprof CPU 3\.3%/);
    expect(lines[4]).toMatch(/^ %Own\* {2}%Total {2}OwnTime {2}TotalTime {2}Function/);
    expect(lines[5].trimEnd()).toBe(' 90.0%   90.0%    0.90s      0.90s  burn (shares.lua:10)');
    expect(lines[6].trimEnd()).toBe(' 10.0%   10.0%    0.10s      0.10s  rec (r.lua:1)');
    expect(lines.length).toBe(10);
  });

  it('fits 40 columns: no time columns, long names cut in the middle', () => {
    const long: Frame = {
      kind: 'lua',
      name: 'a_really_long_function_name_for_testing',
      file: 'some/deep/path/module.lua',
      lineDefined: 321,
    };
    const s = state({ rows: [{ frame: long, own: 50, total: 80 }], samples: 100 });
    const lines = renderTop(s, 40, 10);
    expect(lines.every((l) => [...l].length === 40)).toBe(true);
    expect(lines[4]).not.toContain('OwnTime');
    const row = lines[5];
    expect(row).toMatch(/^ 50\.0% {3}80\.0% {2}a_really_lo/);
    expect(row).toMatch(/…/);
    expect(row).toMatch(/…[a-z/]*\.lua:321\)$/);
  });

  it('shows as many rows as the height allows, and the sort and pause it is in', () => {
    const lines = renderTop(state({ sort: 'totalPct', paused: true }), 80, 7);
    expect(lines.length).toBe(7);
    expect(lines[0]).toContain('[PAUSED]');
    expect(lines[4]).toMatch(/%Total\*/);
    expect(lines[2]).toContain('sort (%Total)');
  });

  it("says where a started command's output goes, on the line under the keys", () => {
    const log = '/tmp/luaprof-top-Ab12Cd/command.log';
    const lines = renderTop(state({ commandLog: log }), 120, 40);
    expect(lines[3].trimEnd()).toBe(`command output: ${log}`);
    expect(lines[4]).toMatch(/^ %Own\*/);
    expect(renderTop(state(), 120, 40)[3].trim()).toBe('');
    // Cut in the middle at 40 columns: the file name stays.
    expect(renderTop(state({ commandLog: log }), 40, 10)[3]).toMatch(/^command output: .*….*command\.log$/);
  });

  it('makes target text inert', () => {
    const evil: Frame = { kind: 'lua', name: '\x1b[2Jx\x07', file: '\x9b31m.lua', lineDefined: 1 };
    const lines = renderTop(state({ rows: [{ frame: evil, own: 1, total: 1 }], samples: 1 }), 80, 10);
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(lines.join('')).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
    expect(lines[5]).toContain('\\x1b[2Jx\\x07 (\\xc2\\x9b31m.lua:1)'.replace('\\xc2\\x9b', '\\x9b'));
  });

  it('prints plain text for a pipe: trimmed lines, a blank line after each table', () => {
    const text = renderTopText(state(), 120);
    expect(text.endsWith('\n\n')).toBe(true);
    expect(text.split('\n')[5]).toBe(' 90.0%   90.0%    0.90s      0.90s  burn (shares.lua:10)');
  });
});

describe('truncateMiddle', () => {
  it('keeps both ends', () => {
    expect(truncateMiddle('abcdefghij', 5)).toBe('ab…ij');
    expect(truncateMiddle('abc', 5)).toBe('abc');
    expect(truncateMiddle('abcdef', 1)).toBe('a');
  });
});
