/**
 * C functions that Lua knows by no name (not in package.loaded, no fast-function id), named by the
 * symbol of their code as `--native` profiles label C frames (sampler/native/symbolizer.ts): the
 * demangled symbol, or `module+0x<start>` for a function only the unwind tables know. Only a function
 * that starts exactly at the address names it, never the nearest symbol before it.
 */
import { inertLatin1 } from '../report/terminal-text.js';
import type { FrameLocals } from './lua/puc/locals.js';
import { formatCFunction, type LuaValue } from './lua/values.js';
import type { SymbolInfo } from './native/symbolizer.js';

/** What naming needs of a Symbolizer. */
export interface CodeSymbols {
  symbolize(pc: number): SymbolInfo;
}

/** The label of the function whose code starts at addr, or undefined. */
export function cFunctionLabel(symbols: CodeSymbols, addr: number): string | undefined {
  const s = symbols.symbolize(addr);
  return s.start === addr ? s.label : undefined;
}

function named(v: LuaValue, symbols: CodeSymbols): LuaValue {
  if (v.cfunc === undefined) return v;
  const { cfunc, ...rest } = v;
  const label = cFunctionLabel(symbols, cfunc);
  return label === undefined
    ? rest
    : { ...rest, value: formatCFunction(undefined, cfunc, inertLatin1(label)) };
}

/** Names the C functions among frames' locals and upvalues (after the read: symbols come from files). */
export function nameCFunctions(frames: (FrameLocals | null)[], symbols: CodeSymbols): void {
  for (const f of frames) {
    if (!f) continue;
    if (f.locals) f.locals = f.locals.map((v) => named(v, symbols));
    if (f.upvalues) f.upvalues = f.upvalues.map((v) => named(v, symbols));
  }
}
