/**
 * The CFI interpreter against binutils' own interpretation of the same .eh_frame (readelf
 * --debug-dump=frames-interp) on real system objects (runs readelf).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { NAMES, cell, cfaCell, load } from './helpers/cfi.js';
import { haveTool } from './helpers/native.js';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';
const LUA = '/usr/bin/lua5.4';
const LIBLUA = '/usr/lib/x86_64-linux-gnu/liblua5.4.so.0';

interface ReadelfRow {
  loc: number;
  cells: Map<string, string>;
  cfa: string;
  fdeStart: number;
  fdeEnd: number;
}

/** Parses `readelf --debug-dump=frames-interp` into rows per FDE (CIE-only FDEs get one row). */
function readelfRows(path: string): ReadelfRow[] {
  const text = execFileSync('readelf', ['-wN', '--debug-dump=frames-interp', path], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  const rows: ReadelfRow[] = [];
  const cieRows = new Map<string, { cols: string[]; vals: string[] }>();
  let cols: string[] = [];
  let curCie: string | null = null;
  let fde: { start: number; end: number; cie: string; got: boolean } | null = null;
  const flushFde = (): void => {
    if (fde && !fde.got) {
      const init = cieRows.get(fde.cie);
      if (init) {
        const cells = new Map<string, string>();
        init.cols.forEach((c, i) => cells.set(c, init.vals[i]));
        rows.push({
          loc: fde.start,
          cells,
          cfa: cells.get('CFA') ?? '',
          fdeStart: fde.start,
          fdeEnd: fde.end,
        });
      }
    }
  };
  for (const line of text.split('\n')) {
    let m = /^([0-9a-f]{8}) [0-9a-f]+ [0-9a-f]+ CIE/.exec(line);
    if (m) {
      flushFde();
      fde = null;
      curCie = m[1];
      continue;
    }
    m = /^[0-9a-f]{8} [0-9a-f]+ [0-9a-f]+ FDE cie=([0-9a-f]+) pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (m) {
      flushFde();
      curCie = null;
      fde = { cie: m[1], start: parseInt(m[2], 16), end: parseInt(m[3], 16), got: false };
      continue;
    }
    if (/^\s+LOC\s+CFA/.test(line)) {
      cols = line.trim().split(/\s+/).slice(1);
      continue;
    }
    m = /^([0-9a-f]{16}) (.*)$/.exec(line);
    if (m) {
      // A register rule prints as "r9 (r9)": glue the parenthesised name to its cell.
      const vals: string[] = [];
      for (const tok of m[2].trim().split(/\s+/)) {
        if (/^\(.*\)$/.test(tok) && vals.length) vals[vals.length - 1] += ` ${tok}`;
        else vals.push(tok);
      }
      if (curCie && !fde) {
        cieRows.set(curCie, { cols: cols.slice(), vals });
        continue;
      }
      if (!fde) continue;
      fde.got = true;
      const cells = new Map<string, string>();
      cols.forEach((c, i) => cells.set(c, vals[i]));
      rows.push({
        loc: parseInt(m[1], 16),
        cells,
        cfa: cells.get('CFA') ?? '',
        fdeStart: fde.start,
        fdeEnd: fde.end,
      });
    }
  }
  flushFde();
  return rows;
}

function compareWithReadelf(path: string): { rows: number; fdes: number } {
  const { eh } = load(path);
  const rows = readelfRows(path);
  expect(rows.length).toBeGreaterThan(100);
  const mismatches: string[] = [];
  const fdes = new Set<number>();
  for (const r of rows) {
    fdes.add(r.fdeStart);
    const ours = eh.rowAt(r.loc);
    if (!ours) {
      mismatches.push(`${r.loc.toString(16)}: no row`);
      continue;
    }
    expect(ours.start).toBe(r.fdeStart);
    expect(ours.end).toBe(r.fdeEnd);
    const got: string[] = [`CFA=${cfaCell(ours)}`];
    const want: string[] = [`CFA=${r.cfa}`];
    for (const [col, v] of r.cells) {
      if (col === 'CFA') continue;
      const reg = NAMES.indexOf(col);
      if (reg < 0) continue; // xmm etc.: not tracked
      got.push(`${col}=${cell(ours, reg)}`);
      want.push(`${col}=${v}`);
    }
    if (got.join(' ') !== want.join(' '))
      mismatches.push(`${r.loc.toString(16)}: want ${want.join(' ')} got ${got.join(' ')}`);
  }
  expect(mismatches.slice(0, 10)).toEqual([]);
  return { rows: rows.length, fdes: fdes.size };
}
describe.skipIf(!haveTool('readelf'))('CFI rows agree with readelf --debug-dump=frames-interp', () => {
  it('lua5.4 (every row of every FDE)', () => {
    const r = compareWithReadelf(LUA);
    expect(r.fdes).toBeGreaterThan(300);
  });
  it('liblua5.4.so.0', () => {
    compareWithReadelf(LIBLUA);
  });
  it('libc.so.6 (incl. PLT expressions and __restore_rt)', () => {
    const r = compareWithReadelf(LIBC);
    expect(r.fdes).toBeGreaterThan(2000);
  }, 30_000);
});
