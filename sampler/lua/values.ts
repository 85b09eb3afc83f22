/**
 * A Lua value as `dump --locals` shows it: its type as Lua's type() names it and a bounded, inert
 * rendering (numbers as Lua prints them, strings quoted, cut and escaped, tables and functions by
 * address and shape). Shared by the PUC and LuaJIT readers.
 */
import { inertBytes } from '../../report/terminal-text.js';

/** What Lua's type() returns (LuaJIT adds cdata). */
export type LuaType =
  'nil' | 'boolean' | 'number' | 'string' | 'table' | 'function' | 'userdata' | 'thread' | 'cdata';

export interface LuaValue {
  name: string;
  type: LuaType;
  value: string;
  /**
   * A C function no Lua name was found for: the address of its code, named from the target's symbols
   * once the thread runs again (sampler/locals.ts), which then drops this field.
   */
  cfunc?: number;
}

/**
 * A C function as a value: by the name Lua knows it by (quoted, as tracebacks quote it), else by the
 * symbol of its code (as --native profiles name C frames), else by address.
 */
export function formatCFunction(luaName: string | undefined, addr: number, symbol?: string): string {
  if (luaName !== undefined) return `function: builtin '${luaName}'`;
  return `function: builtin ${symbol ?? hexAddr(addr)}`;
}

/** Bytes of a string value shown; the rest is summarised by its length. */
export const STRING_SHOWN = 80;

/**
 * C's "%.14g" (LUAI_NUMFFORMAT): what Lua prints for a float. Rounded from the exact decimal value,
 * ties to even as glibc does (JS's toExponential would round them up).
 */
export function formatG14(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const P = 14;
  const [m, e] = Math.abs(x).toExponential(60).split('e');
  const all = m.replace('.', '');
  let digits = all.slice(0, P);
  let exp = Number(e);
  const rest = all.slice(P);
  const up =
    rest[0] > '5' || (rest[0] === '5' && (/[1-9]/.test(rest.slice(1)) || Number(digits[P - 1]) % 2 === 1));
  if (up) {
    digits = (BigInt(digits) + 1n).toString();
    if (digits.length > P) {
      digits = digits.slice(0, P);
      exp++;
    }
  }
  const sign = x < 0 ? '-' : '';
  const strip = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exp < -4 || exp >= P) {
    const a = Math.abs(exp);
    return `${sign}${strip(`${digits[0]}.${digits.slice(1)}`)}e${exp < 0 ? '-' : '+'}${a < 10 ? '0' : ''}${a}`;
  }
  if (exp < 0) return sign + strip(`0.${'0'.repeat(-exp - 1)}${digits}`);
  return sign + strip(`${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`);
}

/** A float as lua_Number2str prints it: 5.3+ add ".0" to a float that reads like an integer. */
export function formatFloat(x: number, markIntegral: boolean): string {
  const s = formatG14(x);
  return markIntegral && /^-?[0-9]+$/.test(s) ? `${s}.0` : s;
}

/** A string value: quoted, escaped, cut at STRING_SHOWN bytes with its full length shown. */
export function formatString(shown: Uint8Array, fullLength: number): string {
  const q = `"${inertBytes(shown, true)}"`;
  return fullLength > shown.length ? `${q}... (${fullLength} bytes)` : q;
}

/** An address as tostring prints it (%p). */
export const hexAddr = (a: number | bigint) => `0x${a.toString(16)}`;
