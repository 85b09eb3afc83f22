/**
 * Every Lua runtime the end-to-end tests run against: one entry per interpreter, appended to by whoever
 * adds a runtime. `argv0` is an absolute path or a command on PATH; runtimes built by
 * scripts/runtimes/*.sh live in .cache/runtimes/ of the checkout.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './lua-process.js';

export interface LuaRuntimeSpec {
  /** Short name used in test titles, e.g. "lua5.4.7". */
  name: string;
  flavour: 'puc' | 'luajit';
  /** Interpreter to start. */
  argv0: string;
  /** Extra interpreter arguments before the script (e.g. ["-joff"]). */
  args?: string[];
  /** Version luaprof must report, e.g. "Lua 5.4.7". */
  version: string;
  /** Built by this setup script (scripts/runtimes/…), when not a Debian package. */
  builtBy?: string;
}

const cached = (...p: string[]) => join(ROOT, '.cache/runtimes', ...p);

export const RUNTIMES: LuaRuntimeSpec[] = [
  { name: 'lua5.1', flavour: 'puc', argv0: '/usr/bin/lua5.1', version: 'Lua 5.1.5' },
  { name: 'lua5.2', flavour: 'puc', argv0: '/usr/bin/lua5.2', version: 'Lua 5.2.4' },
  { name: 'lua5.3', flavour: 'puc', argv0: '/usr/bin/lua5.3', version: 'Lua 5.3.6' },
  { name: 'lua5.4', flavour: 'puc', argv0: '/usr/bin/lua5.4', version: 'Lua 5.4.4' },
  // PUC Lua 5.4.x built by scripts/runtimes/lua54.sh from Debian's sources: the source packages of
  // bullseye, trixie and sid, and for 5.4.8 the upstream tarball Debian's pool holds (SHA-256 pinned).
  {
    name: 'lua5.4.2',
    flavour: 'puc',
    argv0: cached('lua5.4.2/bin/lua5.4.2'),
    version: 'Lua 5.4.2',
    builtBy: 'scripts/runtimes/lua54.sh',
  },
  // 5.4.3 and 5.4.6 from the copies Debian's darktable source packages vendor (bookworm's 4.2.1, sid's
  // 5.4.1; identical to lua/lua's tags), by scripts/runtimes/lua54-darktable.sh.
  {
    name: 'lua5.4.3',
    flavour: 'puc',
    argv0: cached('lua5.4.3/bin/lua5.4.3'),
    version: 'Lua 5.4.3',
    builtBy: 'scripts/runtimes/lua54-darktable.sh',
  },
  {
    name: 'lua5.4.6',
    flavour: 'puc',
    argv0: cached('lua5.4.6/bin/lua5.4.6'),
    version: 'Lua 5.4.6',
    builtBy: 'scripts/runtimes/lua54-darktable.sh',
  },
  {
    name: 'lua5.4.7',
    flavour: 'puc',
    argv0: cached('lua5.4.7/bin/lua5.4.7'),
    version: 'Lua 5.4.7',
    builtBy: 'scripts/runtimes/lua54.sh',
  },
  {
    name: 'lua5.4.8',
    flavour: 'puc',
    argv0: cached('lua5.4.8/bin/lua5.4.8'),
    version: 'Lua 5.4.8',
    builtBy: 'scripts/runtimes/lua54.sh',
  },
  {
    name: 'lua5.4.9',
    flavour: 'puc',
    argv0: cached('lua5.4.9/bin/lua5.4.9'),
    version: 'Lua 5.4.9',
    builtBy: 'scripts/runtimes/lua54.sh',
  },
];

/** Runtimes of a flavour whose interpreter is present on this machine. */
export function availableRuntimes(flavour?: LuaRuntimeSpec['flavour']): LuaRuntimeSpec[] {
  return RUNTIMES.filter(
    (r) => (!flavour || r.flavour === flavour) && (!r.argv0.startsWith('/') || existsSync(r.argv0)),
  );
}

// LuaJIT 2.1: Debian's build and OpenResty's fork (scripts/runtimes/openresty-luajit.sh). Tests add -joff
// themselves for the interpreter-only runs.
RUNTIMES.push(
  { name: 'luajit', flavour: 'luajit', argv0: '/usr/bin/luajit', version: 'LuaJIT 2.1.0-beta3' },
  {
    name: 'openresty-luajit',
    flavour: 'luajit',
    argv0: cached('openresty-luajit/bin/luajit'),
    version: 'LuaJIT 2.1.1737090214',
    builtBy: 'scripts/runtimes/openresty-luajit.sh',
  },
);

/**
 * Altered 5.4.9 builds for the layout check at attach (scripts/runtimes/lua54-variants.sh), not part of
 * the matrix: one whose version strings say 5.4.10 (a release newer than luaprof knows, read with the
 * nearest layout) and one whose TString has an extra field (a layout the check must refuse).
 */
export const LAYOUT_VARIANTS = {
  newer: { argv0: cached('lua5.4.10-patched/bin/lua5.4.10-patched'), version: 'Lua 5.4.10' },
  shifted: { argv0: cached('lua5.4.9-shifted/bin/lua5.4.9-shifted'), version: 'Lua 5.4.9' },
  builtBy: 'scripts/runtimes/lua54-variants.sh',
};
