/**
 * The names luaL_traceback gives functions reachable from package.loaded ("string.rep", "pcall",
 * global Lua functions): pushglobalfuncname's two-level search, replayed in lua_next order over the
 * target's tables. Built while the target runs; every table read is bounded.
 */
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, u64 } from '../../os/memory.js';
import { tvTag, type PucLayout } from './layout.js';
import { readTStrings } from './strings.js';

const MAX_NODES = 1 << 16;
const MAX_ARRAY = 1 << 16;

interface Entry {
  key: string | null;
  tag: number;
  value: number;
}

/**
 * A global name as luaprof shows it outside tracebacks: "print", not the "_G.print" Lua 5.2's
 * traceback gives a global it reaches through the global table's own _G field first (5.3+ strip it).
 */
export function plainGlobalName(name: string): string {
  return name.startsWith('_G.') ? name.slice(3) : name;
}

export class GlobalNames {
  private names = new Map<number, string>();
  private builtAt = -Infinity;
  scans = 0;

  constructor(
    private readonly mem: Memory,
    private readonly layout: PucLayout,
    private readonly G: number,
  ) {}

  /** The name the target's own traceback gives value (5.2: "_G.print" when lua_next reaches _G first). */
  lookup(value: number): string | undefined {
    return this.names.get(value);
  }

  /** The name luaprof shows for value everywhere else (profiles, locals): plainGlobalName's. */
  plainName(value: number): string | undefined {
    const name = this.names.get(value);
    return name === undefined ? undefined : plainGlobalName(name);
  }

  /** Rebuilds the map unless it was rebuilt less than minIntervalMs ago. */
  refresh(now: number, minIntervalMs = 1000): boolean {
    if (now - this.builtAt < minIntervalMs) return false;
    this.builtAt = now;
    this.scans++;
    const names = new Map<number, string>();
    const loaded = this.rootTable();
    const stripG = this.layout.traceback.stripG;
    if (loaded !== null) {
      const tags = this.layout.tags;
      const isFunction = (t: number) => t === tags.luaClosure || t === tags.lightC || t === tags.cClosure;
      for (const e of this.entries(loaded)) {
        if (e.key === null) continue;
        if (isFunction(e.tag)) {
          if (!names.has(e.value)) names.set(e.value, e.key);
        } else if (e.tag === tags.table) {
          for (const e2 of this.entries(e.value)) {
            if (e2.key !== null && isFunction(e2.tag) && !names.has(e2.value)) {
              const full = `${e.key}.${e2.key}`;
              names.set(e2.value, stripG && full.startsWith('_G.') ? full.slice(3) : full);
            }
          }
        }
      }
    }
    this.names = names;
    return true;
  }

  /** Where pushglobalfuncname searches: registry._LOADED (5.3+), or the global table (5.2). */
  private rootTable(): number | null {
    const reg = this.mem.read(this.G + this.layout.global.l_registry, this.layout.tvalue.size);
    if (!reg || this.tagAt(reg, 0) !== this.layout.tags.table) return null;
    const entries = this.entries(u64(reg, 0));
    if (this.layout.traceback.globalNames === 'globals') {
      // LUA_RIDX_GLOBALS = 2: the registry's array slot 2.
      const g = entries[1];
      return g && g.key === null && g.tag === this.layout.tags.table ? g.value : null;
    }
    if (this.layout.traceback.globalNames !== 'loaded') return null;
    for (const e of entries) {
      if (e.key === '_LOADED' && e.tag === this.layout.tags.table) return e.value;
    }
    return null;
  }

  private tagAt(b: Buffer, off: number): number {
    return tvTag(this.layout, b, off);
  }

  /** Table entries in lua_next order: array part (integer keys), then hash nodes. */
  private entries(table: number): Entry[] {
    const t = this.layout.table;
    const n = this.layout.node;
    const tv = this.layout.tvalue;
    if (!isPlausiblePtr(table)) return [];
    const hdrLen = Math.max(t.node, t.array, t.sizearray ?? 0, t.alimit ?? 0) + 8;
    const hdr = this.mem.read(table, hdrLen);
    if (!hdr) return [];
    const out: Entry[] = [];
    const sizeArray =
      t.alimit !== undefined
        ? hdr.readUInt32LE(t.alimit)
        : t.sizearray !== undefined
          ? hdr.readInt32LE(t.sizearray)
          : 0;
    const arr = u64(hdr, t.array);
    if (sizeArray > 0 && sizeArray <= MAX_ARRAY && isPlausiblePtr(arr)) {
      const ab = this.mem.read(arr, sizeArray * tv.size);
      if (ab)
        for (let i = 0; i < sizeArray; i++)
          out.push({ key: null, tag: this.tagAt(ab, i * tv.size), value: u64(ab, i * tv.size) });
    }
    const lsize = hdr[t.lsizenode];
    const count = lsize < 31 ? 1 << lsize : 0;
    const nodes = u64(hdr, t.node);
    if (count === 0 || count > MAX_NODES || !isPlausiblePtr(nodes)) return out;
    const nb = this.mem.read(nodes, count * n.size);
    if (!nb) return out;
    const strTags = [this.layout.tags.shortString, this.layout.tags.longString];
    const keyAddrs: number[] = [];
    const keyed: Entry[] = [];
    for (let i = 0; i < count; i++) {
      const base = i * n.size;
      const valTag = this.tagAt(nb, base);
      if (valTag === this.layout.tags.nil || (valTag & 0x0f) === 0) continue;
      const keyTag = n.keyTtSize === 1 ? nb[base + n.keyTt] : nb.readInt32LE(base + n.keyTt);
      const e: Entry = { key: null, tag: valTag, value: u64(nb, base) };
      const s = u64(nb, base + n.keyVal);
      if (strTags.includes(keyTag) && isPlausiblePtr(s)) {
        keyAddrs.push(s);
        keyed.push(e);
      }
      out.push(e);
    }
    readTStrings(this.mem, keyAddrs, this.layout, 256).forEach((k, i) => (keyed[i].key = k));
    return out;
  }
}
