/**
 * The layout check at attach: every PUC layout is checked on the process before it is trusted
 * (layout-check.ts); a layout no real interpreter in luaprof's tests has run (or the nearest one, for
 * a release newer than luaprof knows) is used only when the check holds, and says so in one line.
 */
import { LuaprofError } from '../../errors.js';
import { readMany, RecordingMemory, SnapshotMemory, type Memory } from '../../os/memory.js';
import { PrefetchMemory, RemoteMemory } from '../../os/remote-memory.js';
import { checkLayout, type LayoutCheck } from './layout-check.js';
import { layoutOrigin, type LayoutChoice } from './layouts.js';

/**
 * A copy taken while the state runs can tear, and a process just started may be inside lua_newstate:
 * a layout that fits holds on one of these tries (ms to wait before each).
 */
const TRIES_AFTER_MS = [0, 10, 50];

export interface GuardInput {
  pid: number;
  mem: Memory;
  choice: LayoutChoice;
  /** The release luaprof reads the process as (detected, or --lua-version). */
  version: string;
  /** The release named by the version string in the binary (null: none found). */
  binaryVersion: string | null;
  file: string;
  L: number;
  G: number;
  /** Runs `fn` with the state's thread stopped when it can (the main thread). */
  stopped: <T>(fn: () => T) => T;
  /** Runs `fn` with the thread held still without a stop (sampler/hold-still.ts); null when it was not. */
  still?: <T>(fn: () => T) => { value: T } | null;
}

/**
 * The check on a copy of one moment: a first pass on the running thread learns what the check reads
 * (it may tear: its verdict is not used), those ranges are copied in one system call with the thread
 * held still (switched out by the sampler's wake-up on its CPU; stopped when that did not hold it),
 * and the check runs again on the copy after the thread runs on. The thread then waits for one copy,
 * not the check's hundreds of reads. Null when the check on the copy needed a range the copy lacks
 * (the state changed shape between the two): the caller checks with the thread stopped throughout.
 */
function checkOnCopy(input: GuardInput): LayoutCheck | null {
  if (input.mem instanceof RemoteMemory) return checkOnPreparedCopy(input, input.mem);
  const { layout } = input.choice;
  const learn = new RecordingMemory(input.mem);
  checkLayout(learn, layout, input.L, input.G);
  const ranges = learn.ranges();
  // The same batch once on the running thread first: the stop's copy then runs warm (cold, it took
  // ~300 µs of the stop here).
  readMany(input.mem, ranges);
  const bytes = input.stopped(() => readMany(input.mem, ranges));
  const regions = ranges.flatMap((r, i) => (bytes[i] ? [{ addr: r.addr, bytes: bytes[i]! }] : []));
  const copy = new SnapshotMemory(regions);
  let missed = false;
  const onCopy: Memory = {
    read(addr, len) {
      const b = copy.read(addr, len);
      if (!b) missed = true;
      return b;
    },
  };
  const check = checkLayout(onCopy, layout, input.L, input.G);
  return missed ? null : check;
}

/**
 * checkOnCopy on a live process: the copy is one process_vm_readv prepared before the thread is held
 * (PrefetchMemory: the ranges merged into spans, the iovecs built and the destination written once),
 * so the hold lasts the system call alone (building them inside it held the thread ~0.5-0.7 ms here).
 */
function checkOnPreparedCopy(input: GuardInput, mem: RemoteMemory): LayoutCheck | null {
  const { layout } = input.choice;
  // Two passes' room: the destination is written again, not allocated anew, for the held copy.
  const pm = new PrefetchMemory(mem, undefined, undefined, undefined, 2);
  pm.begin(null, 1);
  checkLayout(pm, layout, input.L, input.G);
  pm.end();
  // Once on the running thread first: the held copy then runs warm.
  pm.begin(null, 1);
  pm.discard();
  const copy = () => pm.begin(null, 1);
  if (!input.still?.(copy)) input.stopped(copy);
  pm.detached();
  try {
    const check = checkLayout(pm, layout, input.L, input.G);
    return pm.missedWhileStrict ? null : check;
  } finally {
    pm.discard();
  }
}

/**
 * Checks the layout on the process: throws LuaprofError (unsupportedVersion) naming the invariant
 * that failed; returns the line to print when the layout was not verified on a real interpreter
 * (null otherwise).
 */
export function guardLayout(input: GuardInput): string | null {
  const { choice, version, binaryVersion } = input;
  const name = `the layout of Lua ${choice.release} (${layoutOrigin(choice)})`;
  const refuse = (what: string) =>
    new LuaprofError(
      'unsupportedVersion',
      `process ${input.pid} runs Lua ${version}${input.file ? ` (${input.file})` : ''}: ${name} does not fit it: ${what}`,
    );
  // The layout is chosen by the version string in the binary; --lua-version overrides it, and then the
  // structures alone decide (the line says so).
  const forced = binaryVersion !== null && binaryVersion !== version;
  let check: LayoutCheck | null = null;
  for (const ms of TRIES_AFTER_MS) {
    if (ms) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    check =
      checkOnCopy(input) ?? input.stopped(() => checkLayout(input.mem, choice.layout, input.L, input.G));
    if (!check.failed) break;
  }
  if (check?.failed) throw refuse(check.failed);
  const as = forced ? ` (the binary says Lua ${binaryVersion}; read as Lua ${version})` : '';
  if (choice.nearest)
    return `luaprof: Lua ${version} is newer than luaprof knows: layout of Lua ${choice.release} (the nearest it knows), checked on this process${as}`;
  if (!choice.verified || forced)
    return `luaprof: layout of Lua ${choice.release} ${layoutOrigin(choice)}, checked on this process${as}`;
  return null;
}
