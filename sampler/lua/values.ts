/**
 * A Lua value as `dump --locals` shows it: its type as Lua's type() names it and a bounded, inert
 * rendering (numbers as Lua prints them, strings quoted, cut and escaped, tables and functions by
 * address and shape). Shared by the PUC and LuaJIT readers.
 */
import { inertBytes } from '../../report/terminal-text.js';

export type LuaType = 'nil' | 'boolean' | 'number' | 'string' | 'table' | 'function' | 'userdata' | 'thread';

export interface LuaValue {
  name: string;
  type: LuaType;
  value: string;
}

/** Bytes of a string value shown; the rest is summarised by its length. */
export const STRING_SHOWN = 80;

/** C's "%.14g" (LUAI_NUMFFORMAT): what Lua prints for a float. */
export function formatG14(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const P = 14;
  const [mant, expText] = x.toExponential(P - 1).split('e');
  const exp = Number(expText);
  const strip = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (exp >= -4 && exp < P) return strip(x.toFixed(P - 1 - exp));
  const e = Math.abs(exp);
  return `${strip(mant)}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
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
