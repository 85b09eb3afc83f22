/** .eh_frame of system objects and CFI rows printed the way readelf prints them, for the CFI tests. */
import * as fs from 'node:fs';
import { ElfFile } from '../../sampler/elf/elf.js';
import {
  R_EXPR,
  R_OFFSET,
  R_REG,
  R_SAME,
  R_UNDEF,
  R_UNSPEC,
  R_VAL_EXPR,
  R_VAL_OFFSET,
  type Row,
} from '../../sampler/native/cfi.js';
import { EhFrame } from '../../sampler/native/ehframe.js';
import { DWARF_REG_NAMES } from '../../sampler/native/unwinder.js';
import { ehFrameOf } from '../../sampler/native/modules.js';

/** DWARF register numbers 0-16 by readelf's names (it calls the return address column ra). */
export const NAMES = [...DWARF_REG_NAMES.slice(0, 16), 'ra'];

/** The parsed ELF file at path and its .eh_frame; throws when either is missing. */
export function load(path: string): { elf: ElfFile; eh: EhFrame } {
  const elf = ElfFile.parse(fs.readFileSync(path));
  if (!elf) throw new Error(`cannot parse ${path}`);
  const eh = ehFrameOf(elf);
  if (!eh) throw new Error(`no eh_frame in ${path}`);
  return { elf, eh };
}

/** Our row rendered the way readelf -wF prints a table cell. */
export function cell(row: Row, reg: number): string {
  const v = row.val[reg];
  switch (row.rule[reg]) {
    case R_UNSPEC:
    case R_UNDEF:
      return 'u';
    case R_SAME:
      return 's';
    case R_OFFSET:
      return `c${v >= 0 ? '+' : ''}${v}`;
    case R_VAL_OFFSET:
      return `v${v >= 0 ? '+' : ''}${v}`;
    case R_REG:
      return `r${v} (${NAMES[v] ?? `r${v}`})`; // readelf prints "r<N> (<name>)"
    case R_EXPR:
      return 'exp';
    case R_VAL_EXPR:
      return 'vexp';
  }
  return '?';
}

export function cfaCell(row: Row): string {
  if (row.cfaExpr) return 'exp';
  return `${NAMES[row.cfaReg]}${row.cfaOff >= 0 ? '+' : ''}${row.cfaOff}`;
}
