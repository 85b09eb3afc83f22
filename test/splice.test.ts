/** The splicer on synthetic native + Lua frames (innermost first on both sides). */
import { describe, expect, it } from 'vitest';
import type { Frame } from '../aggregator/profile.js';
import { splice, type NativeSym, type SpliceLua } from '../sampler/splice.js';

const CORE = '/usr/lib/liblua5.4.so';
const HOST = '/opt/host';
let nextStart = 0x1000;
function fn(
  label: string,
  opts: { core?: boolean; internal?: boolean; size?: number; hostName?: string } = {},
): NativeSym {
  const start = (nextStart += 0x100);
  return {
    pc: start + 8,
    label,
    module: opts.core ? CORE : HOST,
    start,
    internal: opts.internal ?? false,
    size: opts.size,
    hostName: opts.hostName ?? (opts.core ? undefined : label),
  };
}
const internal = (label: string, size = 100) => fn(label, { core: true, internal: true, size });
const lua = (name: string): SpliceLua => ({ frame: { kind: 'lua', name }, isLua: true });
const cfn = (name: string, n: NativeSym): SpliceLua => ({
  frame: { kind: 'c', name },
  cfunc: n.start,
  isLua: false,
});
const names = (fs: Frame[]) => fs.map((f) => f.name);

describe('splice', () => {
  // host main → run → lua_pcallk → [luaD_pcall … luaV_execute] → f (Lua) → heavy (C) → mix
  const mix = fn('mix');
  const heavy = fn('host_heavy');
  const precall = internal('luaD_precall');
  const vexec = internal('liblua+0x9000', 9000);
  const ccall = internal('ccall');
  const dpcall = internal('luaD_pcall');
  const pcallk = fn('lua_pcallk', { core: true });
  const run = fn('run');
  const main = fn('main');

  it('host → API → Lua frames → C function → its callees', () => {
    const r = splice(
      [mix, heavy, precall, vexec, ccall, dpcall, pcallk, run, main],
      [cfn('heavy', heavy), lua('f'), lua('main chunk')],
    );
    expect(r.matched).toBe(1);
    expect(names(r.frames)).toEqual(['mix', 'host_heavy', 'f', 'main chunk', 'lua_pcallk', 'run', 'main']);
    expect(r.frames[0].kind).toBe('native');
    expect(r.frames[1].kind).toBe('c');
  });

  it('a Lua leaf: VM callees (collector) stay on top, [GC] between them and the Lua frame', () => {
    const gcstep = internal('luaC_step', 500);
    const r = splice([gcstep, vexec, ccall, dpcall, pcallk, run, main], [lua('f'), lua('main chunk')], {
      kind: 'gc',
      name: '[GC]',
    });
    expect(names(r.frames)).toEqual(['luaC_step', '[GC]', 'f', 'main chunk', 'lua_pcallk', 'run', 'main']);
  });

  it('nested: C function calling back into Lua through lua_callk', () => {
    const sort = fn('sort', { core: true });
    const callk = fn('lua_callk', { core: true });
    const vexec2 = internal('liblua+0x9000', 9000);
    const native = [vexec2, ccall, callk, sort, precall, vexec, ccall, dpcall, pcallk, main];
    const r = splice(native, [lua('cmp'), cfn('table.sort', sort), lua('f')]);
    expect(names(r.frames)).toEqual(['cmp', 'lua_callk', 'table.sort', 'f', 'lua_pcallk', 'main']);
  });

  it('an unmatched C function stays a Lua frame; no internal frames: Lua frames go on top of the segment', () => {
    const r = splice([run, main], [cfn('ghost', fn('elsewhere')), lua('f')]);
    expect(names(r.frames)).toEqual(['ghost', 'f', 'run', 'main']);
  });

  it('stripped core linked into the host: host frames outside the interpreter loop are kept', () => {
    const h1 = internal('host+0x100', 50);
    const h2 = internal('host+0x200', 60);
    const v = internal('host+0x9000', 9000);
    const i1 = internal('host+0x300', 40);
    const r = splice([v, i1, h1, h2, main], [lua('f')], undefined, { coreUnnamed: true });
    expect(names(r.frames)).toEqual(['f', 'host+0x300', 'host+0x100', 'host+0x200', 'main']);
  });

  it('host C++ names win over Lua names for C functions; "?" gets the native label', () => {
    const integrate = fn('game::Physics::integrate(lua_State*)');
    const anon = fn('liblua+0x40', { core: true });
    const r = splice([integrate, precall, vexec, pcallk], [cfn('integrate', integrate), lua('physics')]);
    expect(names(r.frames)).toEqual(['game::Physics::integrate(lua_State*)', 'physics', 'lua_pcallk']);
    const r2 = splice([anon, precall, vexec, pcallk], [cfn('?', anon), lua('x')]);
    expect(names(r2.frames)[0]).toBe('liblua+0x40');
  });

  it('no Lua at all: the native stack as it is', () => {
    expect(names(splice([mix, run, main], []).frames)).toEqual(['mix', 'run', 'main']);
  });

  it('JIT code (a LuaJIT trace): its Lua frames go right under it, what it called stays on top', () => {
    const trace: NativeSym = {
      pc: 0x7000_0000,
      label: '[LuaJIT trace]',
      module: '',
      internal: false,
      jit: true,
    };
    const helper = internal('luajit+0xa280');
    const r = splice([fn('__sin_fma'), trace], [lua('mid'), lua('main chunk')]);
    expect(names(r.frames)).toEqual(['__sin_fma', '[LuaJIT trace]', 'mid', 'main chunk']);
    // A VM helper the trace called is not the interpreter running the Lua frames.
    expect(names(splice([helper, trace], [lua('burn'), lua('main chunk')]).frames)).toEqual([
      'luajit+0xa280',
      '[LuaJIT trace]',
      'burn',
      'main chunk',
    ]);
  });
});
