/** C functions named by the symbol their code starts at, never by the symbol before it (no process). */
import { describe, expect, it } from 'vitest';
import { cFunctionLabel, nameCFunctions, type CodeSymbols } from '../sampler/c-function-names.js';
import type { SymbolInfo } from '../sampler/native/symbolizer.js';

/** A module at 0x1000 with luaB_print [0x1100, 0x1180) and an exported lua_foo at 0x1200, size 0x40. */
const symbols: CodeSymbols = {
  symbolize(pc: number): SymbolInfo {
    const sym = (name: string, start: number): SymbolInfo => ({
      module: '/lib/liblua.so',
      name,
      start,
      offset: pc - start,
      label: name,
    });
    if (pc >= 0x1100 && pc < 0x1180) return sym('luaB_print', 0x1100);
    if (pc >= 0x1200 && pc < 0x1240) return sym('lua_foo', 0x1200);
    // Only the unwind tables know this one: labelled by module and start, as --native does.
    if (pc >= 0x1300 && pc < 0x1340)
      return { module: '/lib/liblua.so', start: 0x1300, offset: pc - 0x1300, label: 'liblua.so+0x300' };
    return {
      module: '/lib/liblua.so',
      offset: pc - 0x1000,
      label: `liblua.so+0x${(pc - 0x1000).toString(16)}`,
    };
  },
};

describe('C functions named by symbol', () => {
  it('takes the symbol or unwind entry that starts at the address, nothing else', () => {
    expect(cFunctionLabel(symbols, 0x1100)).toBe('luaB_print');
    expect(cFunctionLabel(symbols, 0x1300)).toBe('liblua.so+0x300');
    // Inside a function (not a function's entry), or past every symbol: no name borrowed.
    expect(cFunctionLabel(symbols, 0x1210)).toBeUndefined();
    expect(cFunctionLabel(symbols, 0x1250)).toBeUndefined();
  });

  it('rewrites only the values Lua had no name for, and drops their addresses', () => {
    const frames = [
      {
        locals: [
          { name: 'p', type: 'function' as const, value: 'function: builtin 0xabc', cfunc: 0x1100 },
          { name: 'q', type: 'function' as const, value: 'function: builtin 0xdef', cfunc: 0x1210 },
          { name: 'r', type: 'function' as const, value: "function: builtin 'print'" },
        ],
        upvalues: [{ name: 'u', type: 'function' as const, value: 'function: builtin 0x1', cfunc: 0x1300 }],
      },
      null,
      { locals: null, unavailable: 'running inside a JIT trace' },
    ];
    nameCFunctions(frames, symbols);
    expect(frames[0]!.locals).toEqual([
      { name: 'p', type: 'function', value: 'function: builtin luaB_print' },
      { name: 'q', type: 'function', value: 'function: builtin 0xdef' },
      { name: 'r', type: 'function', value: "function: builtin 'print'" },
    ]);
    expect(frames[0]!.upvalues).toEqual([
      { name: 'u', type: 'function', value: 'function: builtin liblua.so+0x300' },
    ]);
    expect(frames[2]).toEqual({ locals: null, unavailable: 'running inside a JIT trace' });
  });

  it('makes a hostile symbol name inert', () => {
    const hostile: CodeSymbols = {
      symbolize: (pc) => ({ module: 'x', name: '\x1b[2Jevil', start: pc, offset: 0, label: '\x1b[2Jevil' }),
    };
    const frames = [{ locals: [{ name: 'f', type: 'function' as const, value: '', cfunc: 0x10 }] }];
    nameCFunctions(frames, hostile);
    expect(frames[0].locals[0].value).toBe('function: builtin \\x1b[2Jevil');
  });
});
