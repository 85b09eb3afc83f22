/**
 * Attaching to LuaJIT 2.1: pick the build's layout, find global_State through validated candidates
 * (DISPATCH in r14 while the VM runs, then the state finder's: a thread pointer in the binaries'
 * writable data such as luajit.c's globalL, registers, words of the stopped main thread's stack), then
 * read G->cur_L on every sample.
 */
import { LuaprofError } from '../../errors.js';
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, readMany, u64 } from '../../os/memory.js';
import type { MapEntry } from '../../os/procfs.js';
import type { Registers } from '../../os/registers.js';
import type { AttachContext } from '../runtime.js';
import { findState } from '../state-finder.js';
import { candidateLayouts, knownBuilds, type LjLayout } from './layout.js';
import { LuaJitRuntime } from './runtime.js';

export interface LjState {
  layout: LjLayout;
  mainL: number;
  G: number;
  source: string;
}

/** A thread (main or coroutine) of a global_State whose main thread sits in the GG_State block. */
export function validateThread(mem: Memory, l: LjLayout, p: number): { mainL: number; G: number } | null {
  if (!isPlausiblePtr(p)) return null;
  const h = mem.read(p, l.state.size);
  if (!h || h[9] !== l.gct.thread) return null;
  const G = u64(h, l.state.glref);
  const main = G - l.gg.g;
  if (!isPlausiblePtr(G) || !isPlausiblePtr(main)) return null;
  const [mh, gm] = readMany(mem, [
    { addr: main, len: l.state.size },
    { addr: G + l.global.vmstate, len: l.global.jit_base + 8 - l.global.vmstate },
  ]);
  if (!mh || !gm || mh[9] !== l.gct.thread || u64(mh, l.state.glref) !== G) return null;
  if (u64(gm, l.global.mainthref - l.global.vmstate) !== main) return null;
  const cur = u64(gm, l.global.cur_L - l.global.vmstate);
  if (cur !== main && cur !== 0) {
    const ch = mem.read(cur, l.state.size);
    if (!ch || ch[9] !== l.gct.thread || u64(ch, l.state.glref) !== G) return null;
  }
  return { mainL: main, G };
}

export function locateLuaJit(
  mem: Memory,
  layouts: LjLayout[],
  maps: MapEntry[],
  binaries: string[],
  extra: { registers?: Partial<Registers>; stack?: Buffer } = {},
): LjState | null {
  const check = (list: number[], source: string): LjState | null => {
    const heads = readMany(
      mem,
      list.map((addr) => ({ addr, len: 16 })),
    );
    for (const l of layouts) {
      for (let i = 0; i < list.length; i++) {
        if (!heads[i] || heads[i]![9] !== l.gct.thread) continue;
        const v = validateThread(mem, l, list[i]);
        if (v) return { layout: l, ...v, source };
      }
    }
    return null;
  };
  if (extra.registers) {
    const r14 = extra.registers.r14 ?? 0;
    for (const l of layouts) {
      const G = r14 - l.gg.g2disp;
      if (isPlausiblePtr(G)) {
        const v = validateThread(mem, l, G - l.gg.g);
        if (v && v.G === G) return { layout: l, ...v, source: 'register' };
      }
    }
  }
  const registers =
    extra.registers && Object.values(extra.registers).filter((v): v is number => v !== undefined);
  return findState(mem, maps, binaries, { registers, stack: extra.stack }, check);
}

export function attachLuaJit(ctx: AttachContext): LuaJitRuntime {
  const { pid, mem, maps, binaries, detection } = ctx;
  const layouts = candidateLayouts(detection.version);
  // DISPATCH in r14 names G directly when the VM is running; otherwise look through data and stack.
  // The stop only copies the registers and the top of the stack: the search runs with the thread
  // going on (what it finds is checked field by field; G and the main state do not move).
  const { regs, stack } = ctx.withMainStopped((r) => ({
    regs: r,
    stack: mem.read(r.rsp, 16384) ?? undefined,
  }));
  const st =
    locateLuaJit(mem, layouts, maps, binaries, { registers: regs }) ??
    locateLuaJit(mem, layouts, maps, [], { registers: regs, stack });
  if (!st) {
    throw new LuaprofError(
      'noLua',
      `no LuaJIT state found in process ${pid} (LuaJIT ${detection.version} in ${detection.file}; known builds: ${knownBuilds().join(', ')})`,
    );
  }
  return new LuaJitRuntime(`LuaJIT ${detection.version}`, st.layout, st.mainL, st.G, mem);
}
