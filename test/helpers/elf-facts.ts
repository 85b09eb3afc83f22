/** What binutils says about an ELF file: function symbols (readelf -s) and FDE ranges (readelf --debug-dump=frames). */
import { execFileSync } from 'node:child_process';

export interface FuncSymbol {
  name: string;
  value: number;
  size: number;
}

/** Defined FUNC/IFUNC symbols of .symtab when the file has one, else of .dynsym (as the symbolizer picks). */
export function functionSymbols(file: string): FuncSymbol[] {
  const out = execFileSync('readelf', ['-sW', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const tables = new Map<string, FuncSymbol[]>();
  let current: FuncSymbol[] | null = null;
  for (const line of out.split('\n')) {
    const t = /^Symbol table '([^']+)'/.exec(line);
    if (t) {
      current = [];
      tables.set(t[1], current);
      continue;
    }
    const f = line.trim().split(/\s+/);
    // Num: Value Size Type Bind Vis Ndx Name
    if (!current || f.length < 8 || !/^\d+:$/.test(f[0])) continue;
    if ((f[3] !== 'FUNC' && f[3] !== 'IFUNC') || f[6] === 'UND') continue;
    const value = parseInt(f[1], 16);
    if (value === 0) continue;
    const size = f[2].startsWith('0x') ? parseInt(f[2], 16) : Number(f[2]);
    current.push({ name: f[7].replace(/@.*$/, ''), value, size });
  }
  const symtab = tables.get('.symtab');
  return symtab && symtab.length ? symtab : (tables.get('.dynsym') ?? []);
}

/** [start, end) of every FDE in .eh_frame, ascending. */
export function fdeRanges(file: string): { start: number; end: number }[] {
  const out = execFileSync('readelf', ['--debug-dump=frames', file], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const r: { start: number; end: number }[] = [];
  for (const m of out.matchAll(/ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/g))
    r.push({ start: parseInt(m[1], 16), end: parseInt(m[2], 16) });
  return r.sort((a, b) => a.start - b.start);
}

export function fdeAt(
  fdes: readonly { start: number; end: number }[],
  v: number,
): { start: number; end: number } | null {
  for (const f of fdes) if (f.start <= v && v < f.end) return f;
  return null;
}

/**
 * Whether a symbol called `name` covers v: [value, value+size), or, for a size-0 symbol (hand-written
 * assembly), from its value up to the next symbol inside the FDE that covers v.
 */
export function symbolCovers(
  syms: readonly FuncSymbol[],
  fdes: readonly { start: number; end: number }[],
  name: string,
  v: number,
): boolean {
  return syms.some((s) => {
    if (s.name !== name || s.value > v) return false;
    if (s.size > 0) return v < s.value + s.size;
    const fde = fdeAt(fdes, v);
    return !!fde && fde.start <= s.value && !syms.some((o) => o.value > s.value && o.value <= v);
  });
}
