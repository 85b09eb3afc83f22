/**
 * Library names of functions ("string.byte", "pairs", "coroutine.resume"), read from the target's own
 * package.loaded (registry._LOADED) two levels deep, as PUC's luaL_traceback finds them. Built while the
 * target runs; every table read is bounded.
 */
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr } from '../../os/memory.js';
import type { LjLayout } from './layout.js';
import { readGCstr } from './strings.js';

const MAX_NODES = 1 << 16;
const MAX_ARRAY = 1 << 16;

interface Entry {
  key: string | null;
  itype: number;
  value: number;
}

export class LjGlobalNames {
  private names = new Map<number, string>();
  private byFfid = new Map<number, string>();
  private builtAt = -Infinity;
  private readonly it: { str: number; func: number; tab: number };
  scans = 0;

  constructor(
    private readonly mem: Memory,
    private readonly l: LjLayout,
    private readonly G: number,
  ) {
    const t = (gct: number) => (~gct >>> 0) & 0x1ffff;
    this.it = { str: t(l.gct.str), func: t(l.gct.func), tab: t(l.gct.tab) };
  }

  lookup(func: number): string | undefined {
    return this.names.get(func);
  }
  ffidName(ffid: number): string | undefined {
    return this.byFfid.get(ffid);
  }

  refresh(now: number, minIntervalMs = 1000): boolean {
    if (now - this.builtAt < minIntervalMs) return false;
    this.builtAt = now;
    this.scans++;
    const names = new Map<number, string>();
    const reg = this.mem.read(this.G + this.l.global.registrytv, 8);
    if (reg && reg.readUInt32LE(4) >>> 15 === this.it.tab) {
      const loaded = this.entries(gc(reg, 0)).find((e) => e.key === '_LOADED' && e.itype === this.it.tab);
      if (loaded) {
        // _G first so that base functions get their plain names, then the other modules.
        const mods = this.entries(loaded.value).filter((e) => e.key !== null && e.itype === this.it.tab);
        mods.sort((a, b) => (a.key === '_G' ? -1 : b.key === '_G' ? 1 : 0));
        for (const m of mods) {
          for (const e of this.entries(m.value)) {
            if (e.key === null || e.itype !== this.it.func || names.has(e.value)) continue;
            names.set(e.value, m.key === '_G' ? e.key : `${m.key}.${e.key}`);
          }
        }
      }
    }
    this.names = names;
    // Fast functions have one closure each: their ids name them too.
    const byFfid = new Map<number, string>();
    const funcs = [...names.keys()];
    for (const f of funcs) {
      const h = this.mem.read(f, this.l.func.ffid + 1);
      if (h && h[9] === this.l.gct.func && h[this.l.func.ffid] > 1 && !byFfid.has(h[this.l.func.ffid]))
        byFfid.set(h[this.l.func.ffid], names.get(f)!);
    }
    this.byFfid = byFfid;
    return true;
  }

  private entries(table: number): Entry[] {
    const t = this.l.tab;
    const n = this.l.node;
    if (!isPlausiblePtr(table)) return [];
    const h = this.mem.read(table, t.size);
    if (!h || h[9] !== this.l.gct.tab) return [];
    const out: Entry[] = [];
    const asize = h.readUInt32LE(t.asize);
    const arr = Number(h.readBigUInt64LE(t.array));
    if (asize > 0 && asize <= MAX_ARRAY && isPlausiblePtr(arr)) {
      const ab = this.mem.read(arr, asize * 8);
      if (ab)
        for (let i = 0; i < asize; i++)
          out.push({ key: null, itype: ab.readUInt32LE(i * 8 + 4) >>> 15, value: gc(ab, i * 8) });
    }
    const hmask = h.readUInt32LE(t.hmask);
    const node = Number(h.readBigUInt64LE(t.node));
    if (hmask + 1 > MAX_NODES || !isPlausiblePtr(node)) return out;
    const nb = this.mem.read(node, (hmask + 1) * n.size);
    if (!nb) return out;
    for (let i = 0; i <= hmask; i++) {
      const o = i * n.size;
      const vt = nb.readUInt32LE(o + n.val + 4) >>> 15;
      if (vt === 0x1ffff) continue; // nil
      const kt = nb.readUInt32LE(o + n.key + 4) >>> 15;
      const key = kt === this.it.str ? readGCstr(this.mem, this.l, gc(nb, o + n.key), 256) : null;
      out.push({ key, itype: vt, value: gc(nb, o + n.val) });
    }
    return out;
  }
}

function gc(b: Buffer, off: number): number {
  return (b.readUInt32LE(off + 4) & 0x7fff) * 0x1_0000_0000 + b.readUInt32LE(off);
}
