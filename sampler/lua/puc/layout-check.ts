/**
 * Checks a PUC layout table against the process it is about to read: structural invariants that
 * every Lua state keeps, read through the layout's offsets. A table of the wrong release (or of a
 * build whose structs differ) reads garbage at some of these offsets, and one invariant fails. The
 * checks read only through `Memory`, a few KiB in all, and name the first invariant that fails.
 */
import type { Memory } from '../../os/memory.js';
import { isPlausiblePtr, u64 } from '../../os/memory.js';
import { tvTag, type PucLayout } from './layout.js';

/** Slots a stack keeps past stack_last (EXTRA_STACK in lstate.h, 5 in 5.1-5.4). */
const EXTRA_STACK = 5;
const MAX_CALLINFO = 1_000_000;
/**
 * CallInfo records checked one by one from the innermost: a recursion 200,000 deep (Lua 5.2-5.4 allow
 * ~500,000) would cost seconds of single reads at attach; past these, base_ci is checked where it is
 * (embedded in the lua_State) instead of being reached.
 */
const CALLINFO_CHECKED = 4096;
/** Buckets of the string table read, and strings hashed from them. */
const BUCKETS_READ = 256;
const STRINGS_HASHED = 48;
const MAX_CHAIN = 8;
/** 5.1 interns long strings too: longer ones are not hashed (their bytes are not read). */
const MAX_HASHED_LEN = 256;

export interface LayoutCheck {
  /** The invariants that held, in order. */
  held: string[];
  /** The first one that did not, with what was read; null when all held. */
  failed: string | null;
}

class Failed extends Error {}

function fail(what: string): never {
  throw new Failed(what);
}

const hex = (n: number) => `0x${n.toString(16)}`;

function readOrFail(mem: Memory, addr: number, len: number, what: string): Buffer {
  if (!isPlausiblePtr(addr, 1)) fail(`${what} at ${hex(addr)} is not a user-space address`);
  return mem.read(addr, len) ?? fail(`${what} at ${hex(addr)} cannot be read`);
}

/** Reads the PUC invariants of the state whose main thread is L and global state G. */
export function checkLayout(mem: Memory, layout: PucLayout, L: number, G: number): LayoutCheck {
  const held: string[] = [];
  const steps: [string, () => void][] = [
    ['the main thread is a thread whose l_G is its global_State', () => mainThread(mem, layout, L, G)],
    ['stack <= top <= stack_last', () => stackBounds(mem, layout, L)],
    ['the CallInfo chain ends at base_ci, each func inside the stack', () => callInfoChain(mem, layout, L)],
    ['the registry holds the main thread and the globals table', () => registry(mem, layout, L, G)],
    [
      'the string table is a power of two and its strings hash to their buckets',
      () => strings(mem, layout, G),
    ],
  ];
  for (const [name, step] of steps) {
    try {
      step();
    } catch (e) {
      if (!(e instanceof Failed)) throw e;
      return { held, failed: `${name}: no (${e.message})` };
    }
    held.push(name);
  }
  return { held, failed: null };
}

function threadHeader(mem: Memory, layout: PucLayout, L: number, what: string): Buffer {
  const hdr = readOrFail(mem, L, layout.state.size, what);
  const tt = hdr[layout.state.tt];
  if (tt !== (layout.tags.thread & 0x3f))
    fail(`${what} ${hex(L)} has tag ${tt}, a thread's is ${layout.tags.thread & 0x3f}`);
  return hdr;
}

function mainThread(mem: Memory, layout: PucLayout, L: number, G: number): void {
  const hdr = threadHeader(mem, layout, L, 'lua_State');
  const lg = u64(hdr, layout.state.l_G);
  if (lg !== G) fail(`L->l_G is ${hex(lg)}, not ${hex(G)}`);
  const main = u64(readOrFail(mem, G + layout.global.mainthread, 8, 'G->mainthread'), 0);
  if (main !== L) fail(`G->mainthread is ${hex(main)}, not the lua_State ${hex(L)}`);
  // lstate.c allocates the main thread and its global_State in one block (LG).
  if (G !== L + layout.state.size && G !== L + layout.state.size + 8)
    fail(`global_State ${hex(G)} does not follow its ${layout.state.size}-byte main thread ${hex(L)}`);
}

interface Stack {
  stack: number;
  top: number;
  last: number;
  /** The highest slot address a pointer into the stack may take. */
  end: number;
}

function stackOf(mem: Memory, layout: PucLayout, L: number): Stack {
  const s = layout.state;
  const hdr = threadHeader(mem, layout, L, 'lua_State');
  const stack = u64(hdr, s.stack);
  const top = u64(hdr, s.top);
  const last = u64(hdr, s.stack_last);
  return { stack, top, last, end: last + EXTRA_STACK * layout.tvalue.size };
}

function stackBounds(mem: Memory, layout: PucLayout, L: number): void {
  const { stack, top, last, end } = stackOf(mem, layout, L);
  const tv = layout.tvalue.size;
  if (!isPlausiblePtr(stack)) fail(`stack is ${hex(stack)}`);
  if (!(stack < last && last - stack <= 1 << 30)) fail(`stack ${hex(stack)}, stack_last ${hex(last)}`);
  if ((last - stack) % tv !== 0) fail(`stack_last - stack = ${last - stack}, not a multiple of ${tv}`);
  if (!(stack <= top && top <= end && (top - stack) % tv === 0))
    fail(`top ${hex(top)} is not a slot between stack ${hex(stack)} and stack_last ${hex(last)}`);
}

function callInfoChain(mem: Memory, layout: PucLayout, L: number): void {
  const s = layout.state;
  const ci = layout.callinfo;
  const hdr = threadHeader(mem, layout, L, 'lua_State');
  const { stack, end } = stackOf(mem, layout, L);
  const inStack = (p: number) => p >= stack && p <= end && (p - stack) % layout.tvalue.size === 0;
  const current = u64(hdr, s.ci);
  const visit = (at: number, base: boolean) => {
    const rec = readOrFail(mem, at, ci.size, 'CallInfo');
    const func = u64(rec, ci.func);
    if (!inStack(func)) fail(`CallInfo ${hex(at)}: func ${hex(func)} is outside the stack`);
    // stack_init puts the base CallInfo's function in the first slot.
    if (base && func !== stack) fail(`base_ci's func ${hex(func)} is not the first stack slot ${hex(stack)}`);
    const top = u64(rec, ci.top);
    if (!inStack(top) || top < func) fail(`CallInfo ${hex(at)}: top ${hex(top)} is outside the stack`);
    return rec;
  };
  if (s.baseCiIsPointer) {
    // 5.1: a CallInfo array [base_ci, end_ci) with ci inside it.
    const base = u64(hdr, s.base_ci);
    const endCi = s.end_ci !== undefined ? u64(hdr, s.end_ci) : current + ci.size;
    if (!isPlausiblePtr(base) || !(base <= current && current < endCi) || (current - base) % ci.size)
      fail(`ci ${hex(current)} is not a record of the CallInfo array ${hex(base)}..${hex(endCi)}`);
    if ((current - base) / ci.size > MAX_CALLINFO) fail(`${(current - base) / ci.size} CallInfo records`);
    const lo = Math.max(base, current - (CALLINFO_CHECKED - 1) * ci.size);
    for (let at = current; at >= lo; at -= ci.size) visit(at, at === base);
    if (lo !== base) visit(base, true);
    return;
  }
  const base = L + s.base_ci;
  let at = current;
  const checkBase = () => {
    const prev = u64(visit(base, true), ci.previous!);
    if (prev !== 0) fail(`base_ci->previous is ${hex(prev)}, not NULL`);
  };
  const seen = new Set<number>();
  for (let n = 0; n < CALLINFO_CHECKED; n++) {
    if (at === base) return checkBase();
    if (!isPlausiblePtr(at)) fail(`CallInfo ${hex(at)} reached before base_ci ${hex(base)}`);
    if (seen.has(at)) fail(`the CallInfo chain loops at ${hex(at)}`);
    seen.add(at);
    at = u64(visit(at, false), ci.previous!);
  }
  // Deeper than checked one by one: the records seen were sound, and base_ci is where it must be.
  checkBase();
}

/** The Table a TValue holding a table points at, checked by its own header's tag. */
function tableOf(mem: Memory, layout: PucLayout, tv: Buffer, off: number, what: string): number {
  const tag = tvTag(layout, tv, off);
  if (tag !== layout.tags.table) fail(`${what} has tag ${tag}, a table's is ${layout.tags.table}`);
  const t = u64(tv, off);
  const head = readOrFail(mem, t, 16, what);
  if (head[layout.state.tt] !== (layout.tags.table & 0x3f))
    fail(
      `${what} ${hex(t)} has object tag ${head[layout.state.tt]}, a table's is ${layout.tags.table & 0x3f}`,
    );
  return t;
}

function registry(mem: Memory, layout: PucLayout, L: number, G: number): void {
  const tvSize = layout.tvalue.size;
  const reg = readOrFail(mem, G + layout.global.l_registry, tvSize, 'G->l_registry');
  const t = tableOf(mem, layout, reg, 0, 'the registry');
  // 5.1 keeps the globals in L->l_gt and nothing at fixed registry indices.
  if (!layout.registry) return;
  const tl = layout.table;
  const hdr = readOrFail(mem, t, Math.max(tl.array, tl.alimit ?? 0, tl.sizearray ?? 0) + 8, 'the registry');
  const size = tl.alimit !== undefined ? hdr.readUInt32LE(tl.alimit) : hdr.readInt32LE(tl.sizearray!);
  const { mainthread, globals } = layout.registry;
  if (size < Math.max(mainthread, globals) || size > 1 << 20)
    fail(`its array part has ${size} slots, fewer than LUA_RIDX_GLOBALS ${globals}`);
  const array = u64(hdr, tl.array);
  const slots = readOrFail(mem, array, Math.max(mainthread, globals) * tvSize, "the registry's array");
  const at = (i: number) => (i - 1) * tvSize;
  const threadTag = tvTag(layout, slots, at(mainthread));
  if (threadTag !== layout.tags.thread || u64(slots, at(mainthread)) !== L)
    fail(
      `registry[LUA_RIDX_MAINTHREAD] is tag ${threadTag} value ${hex(u64(slots, at(mainthread)))}, not the thread ${hex(L)}`,
    );
  tableOf(mem, layout, slots, at(globals), 'registry[LUA_RIDX_GLOBALS]');
}

/** lstring.c's short-string hash (see PucLayout.stringHash). */
export function stringHash(layout: PucLayout, bytes: Buffer, seed: number): number {
  const { seeded, limit } = layout.stringHash;
  let l = bytes.length;
  let h = (seeded ? seed ^ l : l) >>> 0;
  const step = limit === undefined ? 1 : Math.floor(l / 2 ** limit) + 1;
  for (; l >= step && l > 0; l -= step) h = (h ^ (((h << 5) >>> 0) + (h >>> 2) + bytes[l - 1])) >>> 0;
  return h;
}

function strings(mem: Memory, layout: PucLayout, G: number): void {
  const st = layout.stringtable;
  const strt = readOrFail(
    mem,
    G + layout.global.strt,
    Math.max(st.hash + 8, st.nuse + 4, st.size + 4),
    'G->strt',
  );
  const size = strt.readInt32LE(st.size);
  const nuse = strt.readInt32LE(st.nuse);
  if (size <= 0 || size > 1 << 28 || (size & (size - 1)) !== 0) fail(`its size is ${size}`);
  if (nuse <= 0 || nuse > 8 * size) fail(`it holds ${nuse} strings in ${size} buckets`);
  let seed = 0;
  if (layout.global.seed !== undefined)
    seed = readOrFail(mem, G + layout.global.seed, 4, 'G->seed').readUInt32LE(0);
  const buckets = Math.min(size, BUCKETS_READ);
  const hash = readOrFail(mem, u64(strt, st.hash), buckets * 8, 'the string buckets');
  const ts = layout.tstring;
  const shortTag = layout.tags.shortString & 0x3f;
  const headLen = Math.max(ts.contents, ts.hash + 4, ts.hnext + 8, ts.len + 8);
  let hashed = 0;
  for (let b = 0; b < buckets && hashed < STRINGS_HASHED; b++) {
    let s = u64(hash, b * 8);
    for (let n = 0; s !== 0 && n < MAX_CHAIN && hashed < STRINGS_HASHED; n++) {
      const head = readOrFail(mem, s, headLen, `string in bucket ${b}`);
      const tt = head[layout.state.tt];
      if (tt !== shortTag) fail(`bucket ${b} holds an object of tag ${tt}, a short string's is ${shortTag}`);
      const len = ts.shrlen !== undefined ? head[ts.shrlen] : u64(head, ts.len);
      if (len <= MAX_HASHED_LEN) {
        const body = readOrFail(mem, s + ts.contents, len, `string in bucket ${b}`);
        const stored = head.readUInt32LE(ts.hash);
        const h = stringHash(layout, body, seed);
        if (h !== stored)
          fail(`a string in bucket ${b} has hash ${hex(stored)}, its bytes hash to ${hex(h)}`);
        if ((h & (size - 1)) !== b) fail(`a string hashing to bucket ${h & (size - 1)} is in bucket ${b}`);
        hashed++;
      }
      s = u64(head, ts.hnext);
    }
  }
  if (hashed < Math.min(8, nuse))
    fail(`only ${hashed} of its ${nuse} strings in the first ${buckets} buckets`);
}
