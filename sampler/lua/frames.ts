/** A resolved Lua frame, with what debug.traceback needs to print it. */
import type { Frame } from '../../aggregator/profile.js';

export interface LuaFrame extends Frame {
  /** "global", "local", "method", "field", "upvalue", "metamethod", "for iterator", "" … */
  namewhat: string;
  /** The name luaL_traceback found in package.loaded, when it found one. */
  globalName?: string;
  /** Function kind as lua_getinfo reports it. */
  what: 'Lua' | 'C' | 'main';
  /** Frame was entered by a tail call (traceback adds "(...tail calls...)"). */
  tailcall?: boolean;
}

/** The text after "in " in a traceback line (lauxlib.c pushfuncname). */
export function tracebackDescription(f: LuaFrame): string {
  if (f.globalName !== undefined) return `function '${f.globalName}'`;
  if (f.namewhat !== '') return `${f.namewhat} '${f.name}'`;
  if (f.what === 'main') return 'main chunk';
  if (f.what === 'Lua') return `function <${f.file}:${f.lineDefined}>`;
  return '?';
}

/** One traceback line without the leading tab: "app.lua:12: in local 'f'". */
export function tracebackLine(f: LuaFrame): string {
  const where = f.line !== undefined && f.line > 0 ? `${f.file}:${f.line}:` : `${f.file}:`;
  return `${where} in ${tracebackDescription(f)}`;
}
