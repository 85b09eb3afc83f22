/** A resolved Lua frame, with what debug.traceback needs to print it. */
import type { Frame } from '../../aggregator/profile.js';

/** How the release's debug.traceback prints a frame (lauxlib.c pushfuncname, or ldblib.c in 5.1). */
export interface TracebackRules {
  /** "5.1": ldblib.c db_errorfb ("in function 'f'", "[C]: ?"); "aux": lauxlib.c luaL_traceback. */
  style: '5.1' | 'aux';
  /** Where pushglobalfuncname searches: nowhere, the global table (5.2), package.loaded (5.3+). */
  globalNames: 'none' | 'globals' | 'loaded';
  /** The global name is tried before the name from code (5.3+), or only for unnamed C functions (5.2). */
  globalFirst: boolean;
  /** "_G." is stripped from global names. */
  stripG: boolean;
  /** Names from code print as "<namewhat> 'name'" (5.3+) rather than "function 'name'". */
  namewhat: boolean;
}

export interface LuaFrame extends Frame {
  /** "global", "local", "method", "field", "upvalue", "metamethod", "for iterator", "" … */
  namewhat: string;
  /** The name luaL_traceback found in package.loaded, when it found one. */
  globalName?: string;
  /** Function kind as lua_getinfo reports it. */
  what: 'Lua' | 'C' | 'main';
  /** Frame was entered by a tail call (traceback adds "(...tail calls...)"). */
  tailcall?: boolean;
  /** How the target's own debug.traceback prints frames (absent: Lua 5.4's luaL_traceback). */
  traceback?: TracebackRules;
  /** The runtime's own traceback text after the location, when it follows no PUC rules (LuaJIT). */
  description?: string;
}

/**
 * The text after "in " in a traceback line (lauxlib.c pushfuncname of the target's release), or, for
 * 5.1 (ldblib.c db_errorfb), the text after the location: "in function 'f'", "in main chunk", "?".
 */
export function tracebackDescription(f: LuaFrame): string {
  if (f.description !== undefined) return f.description;
  const rules = f.traceback;
  if (rules?.style === '5.1') {
    if (f.namewhat !== '') return `in function '${f.name}'`;
    if (f.what === 'main') return 'in main chunk';
    if (f.what === 'C') return '?';
    return `in function <${f.file}:${f.lineDefined}>`;
  }
  const namewhat = rules ? rules.namewhat : true;
  const globalFirst = rules ? rules.globalFirst : true;
  if (f.globalName !== undefined && (globalFirst || (f.namewhat === '' && f.what === 'C')))
    return `in function '${f.globalName}'`;
  if (f.namewhat !== '') return namewhat ? `in ${f.namewhat} '${f.name}'` : `in function '${f.name}'`;
  if (f.what === 'main') return 'in main chunk';
  if (f.what === 'Lua') return `in function <${f.file}:${f.lineDefined}>`;
  return 'in ?';
}

/** One traceback line without the leading tab: "app.lua:12: in local 'f'" (5.1: "[C]: ?"). */
export function tracebackLine(f: LuaFrame): string {
  const where = f.line !== undefined && f.line > 0 ? `${f.file}:${f.line}:` : `${f.file}:`;
  return `${where} ${tracebackDescription(f)}`;
}

/** The line a traceback prints after a frame entered by tail calls, or null when there is none. */
export function tailCallLine(f: LuaFrame): string | null {
  if (!f.tailcall) return null;
  return f.traceback?.style === '5.1' ? '(tail call): ?' : '(...tail calls...)';
}
