/**
 * The BPF program a thread's CPU-time timer runs in the thread's own context (tick-copier.ts): it
 * copies what the thread's plan names out of the thread's memory, at that instant, into a ring buffer.
 * Interrupted where it stood, the thread does not move while it is copied: the copy is of one moment,
 * like a stop's, but taken on time and without a context switch.
 *
 * Plan (a hash map's value, keyed by thread id; replaced whole, never edited in place):
 *   u32 spans, u32 bytes, u32 plan sequence, u32 flags, then per span: u64 address, u32 length, u32 offset
 *   (flags: USER_SAMPLE, the program returns 1 after a copy, so that the kernel also writes the timer's
 *   own sample, the registers and stack of that instant, to the timer's ring: ThreadTimer, UserSamples)
 *   then the call chain: u64 address of the word that points at the innermost record, u64 the address
 *   at which the chain ends, u32 a record's length, u32 most records (0: no chain), u32 the offset in a
 *   record of the pointer to the next one (its caller's), u32 flags (CHAIN_ARRAY: the records are an
 *   array, each one's caller just below it, and the chain ends where the word at that address points);
 *   then the hosted coroutines (os/call-chain.ts HostedChains): u64 × MAX_HOSTED_SLOTS stack words (0:
 *   none further), u32 lua_State's length (0: no hosted coroutines), u32 where `ci` is in it, u32
 *   where `base_ci` is, u32 where a record's `func` is, u32 bytes read at `func`; then, for a word
 *   RESUMED_ARG (the coroutine the main chain's innermost record resumes), u32 its first argument's
 *   value past `func`, u32 a TValue's tag byte past its value, u32 a thread's tag, u32 a C closure's
 *   tag, u32 where a C closure's first upvalue is.
 * Record (the ring's): u64 CLOCK_MONOTONIC ns, u32 tid, u32 plan sequence, u32 first span that could
 *   not be read (NONE_FAILED: none), u32 bytes, u32 records of the chain copied, u32 0, then the spans'
 *   bytes at their offsets, then (when every span was read) each record of the chain, innermost first,
 *   in CHAIN_ENTRY_BYTES: u64 its address, its bytes.
 *
 * After the chain, for each hosted stack word: an entry of the word itself, one of the lua_State it
 * points at, and that state's records from its `ci` to its `base_ci`, each followed by an entry of
 * the stack slots at its `func` (entries whose length is not the record's carry it in their address
 * word: os/call-chain.ts).
 *
 * The chain is a linked list the program follows itself (Lua 5.2-5.4's CallInfo list, from L->ci by
 * `previous` down to base_ci): its records are where they are at that tick, wherever the target
 * allocated them since the plan was made (5.2 frees them at each collection). Lua 5.1's records are
 * an array, from L->ci down to L->base_ci, reallocated as it grows: both words are read at the tick.
 */
import { FP, HELPER, RB_NO_WAKEUP, asm, assemble, type Item } from '../os/bpf.js';
import {
  CHAIN_ENTRY_BYTES,
  ENTRY_LENGTH_SHIFT,
  MAX_CHAIN,
  MAX_CHAIN_ENTRY,
  MAX_CHAIN_RECORD,
  MAX_HOSTED_CHAIN,
  MAX_HOSTED_SLOTS,
  RESUMED_ARG,
  chainEntrySpan,
  type CallChain,
  type HostedChains,
} from '../os/call-chain.js';

export const PLAN_HEADER = 16;
export const SPAN_BYTES = 16;
/** Spans a plan holds at most (the copier thread's plans at Lua depth 30: 6–12; lua5.1's deep torn.lua: 21). */
export const MAX_SPANS = 64;
/** Bytes a plan copies at most (lua5.1's deep torn.lua: ~150 KB), and a span at most (longer spans are cut). */
export const MAX_BYTES = 1 << 19;
export const MAX_SPAN = 1 << 15;
export const RECORD_HEADER = 32;
/** Where a record's header holds how many records of the chain it copied. */
export const RECORD_CHAIN_COUNT = 24;
export const NONE_FAILED = 0xffff_ffff;
/** Plan flag: each copy is followed by the timer's own sample (see above). */
export const USER_SAMPLE = 1;
/** Where the call chain's description starts in a plan. */
export const CHAIN_AT = PLAN_HEADER + SPAN_BYTES * MAX_SPANS;
/** Where the call chain's flags are in a plan. */
const CHAIN_FLAGS = CHAIN_AT + 28;
/** Chain flag: the records are an array (os/call-chain.ts CallChain.array). */
export const CHAIN_ARRAY = 1;
/** Where the hosted coroutines' description starts in a plan. */
export const HOSTED_AT = CHAIN_AT + 32;
const HOSTED_STATE = HOSTED_AT + 8 * MAX_HOSTED_SLOTS;
/**
 * Where the coroutine resumed from Lua is described (see RESUMED_ARG): the first argument's value past
 * `func`, a TValue's tag byte past its value, a thread's tag, a C closure's tag, its first upvalue's place.
 */
const RESUMED_AT = HOSTED_STATE + 20;
export const PLAN_VALUE_BYTES = RESUMED_AT + 20;
/**
 * The chain's records are read in windows of the thread's memory, RECORD_WINDOW bytes that end
 * MAX_CHAIN_RECORD past a record: the records a caller's call made before it lie just below it (5.1's
 * array; 5.2-5.4's list, allocated one after the other as the stack first grew, 80 bytes apart in
 * lua5.4), and one read serves them all (a read of the thread's memory costs the target more than the
 * bytes it copies: ~0.14 µs a record at Lua depth 30). A record outside the window reads the next one.
 */
export const RECORD_WINDOW = 1024;
/** Past a CPU's record: the address its window was read at (0: none), then the window. */
const WINDOW_LO = RECORD_HEADER + MAX_BYTES + MAX_SPAN;
const WINDOW_AT = WINDOW_LO + 8;
/** Past the window: the turns of the loop that runs, the spans' then each hosted chain's (TickLoops). */
const TURNS = WINDOW_AT + RECORD_WINDOW;
/**
 * A CPU's scratch record: the verifier proves each span's copy ends inside it (offset < MAX_BYTES,
 * length ≤ MAX_SPAN), then the record window, then the turns.
 */
export const SCRATCH_BYTES = TURNS + 8;

const CHAIN_ENTRY_SHIFT = Math.log2(CHAIN_ENTRY_BYTES);

/** Copies the ring had no room for are counted in `lost` (an array of one u64). */
/** The maps the program writes and reads, by fd. */
export interface TickMaps {
  plans: number;
  scratch: number;
  ring: number;
  lost: number;
}

/**
 * How the verifier checks the program's loops (the spans, the chain's records, each hosted chain's).
 * - 'converging': each loop's count is kept in the CPU's record and its head is a may_goto (kernel
 *   6.9+). A turn's state is then covered by the one before it, and the verifier stops there:
 *   4,433 instructions processed, ~4 ms here.
 * - 'walked': the count is a register, and the verifier walks every turn (225,261 instructions,
 *   ~133 ms), for kernels without may_goto.
 */
export type TickLoops = 'converging' | 'walked';

export function tickProgram(maps: TickMaps, loops: TickLoops = 'converging'): Buffer {
  const [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  /**
   * A loop's head: r6 = its count, from `count` (converging), to `exit` when the kernel's budget of
   * turns ends (8M a run: never, for these loops' 64 + 512 + 4 × 64; r6 then holds the turn's count).
   */
  const loopHead = (exit: string, count: Item[]) =>
    loops === 'converging' ? [asm.mayGoto(exit), ...count] : [];
  /** r0 = the value in map `fd` under the u32 key at fp+keyAt; to `out` when there is none. */
  const lookup = (fd: number, keyAt: number) => [
    asm.loadMap(r1, fd),
    asm.movReg(r2, FP),
    asm.add(r2, keyAt),
    asm.call(HELPER.mapLookupElem),
    asm.jumpIfEq(r0, 0, 'out'),
  ];
  /** r2 = where record r6 of the chain goes in the copy (after the plan's bytes); to `linked` past the end. */
  const entryOffset = () => [
    asm.load32(r2, r8, 4),
    asm.movReg(r3, r6),
    asm.lsh(r3, CHAIN_ENTRY_SHIFT),
    asm.addReg(r2, r3),
    asm.jumpIfAbove(r2, MAX_BYTES - CHAIN_ENTRY_BYTES, 'linked'),
  ];
  /** r2 = where the next entry goes in the copy (RECORD_CHAIN_COUNT entries in); to `send` unless `n` more fit. */
  const nextEntry = (n: number) => [
    asm.load32(r2, r9, RECORD_CHAIN_COUNT),
    asm.lsh(r2, CHAIN_ENTRY_SHIFT),
    asm.load32(r3, r8, 4),
    asm.addReg(r2, r3),
    asm.jumpIfAbove(r2, MAX_BYTES - n * CHAIN_ENTRY_BYTES, 'send'),
  ];
  const countEntries = (n: number) => [
    asm.load32(r1, r9, RECORD_CHAIN_COUNT),
    asm.add(r1, n),
    asm.store32(r9, RECORD_CHAIN_COUNT, r1),
  ];
  /** r1 = where entry r2's bytes go; its address word (r3, tagged with the length in r4 unless r4 is 0) written. */
  const entryWord = () => [
    asm.movReg(r1, r9),
    asm.add(r1, RECORD_HEADER),
    asm.addReg(r1, r2),
    asm.lsh(r4, ENTRY_LENGTH_SHIFT),
    asm.orReg(r3, r4),
    asm.store64(r1, 0, r3),
    asm.add(r1, 8),
  ];
  /**
   * `reg` = the plan's u32 at `at`, bounded for the verifier by a mask (encodePlan wrote at most
   * `most`): a branch per bound would leave more paths than the verifier explores in a loop this long.
   */
  const planMasked = (reg: number, at: number, most: number) => [
    asm.load32(reg, r8, at),
    asm.and(reg, 2 ** Math.ceil(Math.log2(most + 1)) - 1),
  ];
  /** Reads `bytes` at r3 into the stack at fp+`at`; to `fail` when they cannot be read. */
  const readToStack = (at: number, bytes: number, fail: string) => [
    asm.movReg(r1, FP),
    asm.add(r1, at),
    asm.mov(r2, bytes),
    asm.call(HELPER.probeReadUser),
    asm.jumpIfNe(r0, 0, fail),
  ];
  /**
   * `list` = `array` when the chain's records are an array (CHAIN_ARRAY), else left; `array` and
   * `tmp` clobbered.
   * Without a branch: one in a loop has the verifier walk the loop's iterations once per side.
   */
  const orInArray = (list: number, array: number, tmp: number) => [
    asm.load32(tmp, r8, CHAIN_FLAGS),
    asm.and(tmp, CHAIN_ARRAY),
    asm.neg(tmp),
    asm.andReg(array, tmp),
    asm.xor(tmp, -1),
    asm.andReg(list, tmp),
    asm.orReg(list, array),
  ];
  /** r7 = record r7's caller: the pointer at r1 (in its bytes in the copy), or in an array the record below it. */
  const callerOf = () => [
    asm.load64(r4, r1, 0),
    asm.movReg(r3, r7),
    ...planMasked(r2, CHAIN_AT + 16, MAX_CHAIN_RECORD),
    asm.subReg(r3, r2),
    ...orInArray(r4, r3, r2),
    asm.movReg(r7, r4),
  ];
  /** r4 = where the address the window was read at is kept. */
  const windowLo = () => [asm.movReg(r4, r9), asm.add(r4, WINDOW_LO)];
  /** r1 = where the spans' loop and a hosted chain's count their turns (for a converging loop: see TickLoops). */
  const turns = () => [asm.movReg(r1, r9), asm.add(r1, TURNS)];
  /** No window read: no record is taken from it. */
  const noWindow = () => [...windowLo(), asm.mov(r3, 0), asm.store64(r4, 0, r3)];
  /** r1 = where the bytes of record r6 of the chain go (entryOffset(), past its address word). */
  const entryBytes = () => [
    ...entryOffset(),
    asm.movReg(r1, r9),
    asm.add(r1, RECORD_HEADER + 8),
    asm.addReg(r1, r2),
  ];
  /**
   * The bytes of a record, at r4 in the window, to r1 in its entry: all MAX_CHAIN_RECORD of them,
   * whatever the record's length (the entry has room; the walk reads the record's own).
   */
  const copyRecord = () => {
    const code: Item[] = [];
    for (let at = 0; at < MAX_CHAIN_RECORD; at += 8)
      code.push(asm.load64(r3, r4, at), asm.store64(r1, at, r3));
    return code;
  };
  /** fp+`at` = the chain's end: the address there, or in an array the word at that address; to `fail` if unreadable. */
  const chainEnd = (at: number, fail: string) => [
    asm.load64(r3, FP, at),
    ...readToStack(-24, 8, fail),
    asm.load64(r3, FP, -24),
    asm.load64(r4, FP, at),
    ...orInArray(r4, r3, r2),
    asm.store64(FP, at, r4),
  ];
  /** To `to` when the byte at r3 (+ the plan's tag offset) is the plan's u32 at `tagAt`, else on; to `fail` if unreadable. */
  const tagAt = (tagAt: number, to: string, fail: string) => [
    asm.mov(r1, 0),
    asm.store64(FP, -96, r1),
    ...planMasked(r4, RESUMED_AT + 4, 255),
    asm.addReg(r3, r4),
    ...readToStack(-96, 1, fail),
    asm.load64(r1, FP, -96),
    asm.load32(r2, r8, tagAt),
    asm.jumpIfEqReg(r1, r2, to),
  ];
  /** fp-88 = the address at fp+`baseAt` + the plan's u32 at `offsetAt`; to `to` when a thread is there, else to `skip`. */
  const threadWord = (baseAt: number, offsetAt: number, to: string, skip: string) => [
    asm.load64(r3, FP, baseAt),
    ...planMasked(r4, offsetAt, 255),
    asm.addReg(r3, r4),
    asm.store64(FP, -88, r3),
    ...tagAt(RESUMED_AT + 8, to, skip),
    asm.jump(skip),
  ];
  /**
   * r3 = the word that holds the coroutine the main chain's innermost record runs, else to `skip`:
   * the first upvalue of the C closure the record runs when that is a thread (a coroutine.wrap
   * function), else its first argument when that is a thread (coroutine.resume: a light C function,
   * or in 5.1 a C closure without upvalues).
   * In the walk's order (PucCapture.resumedCoroutine): a stale slot past a call without arguments
   * may hold a thread. The stack: fp-88 the word, fp-96 a tag, fp-104 the record's `func`. Labels
   * end in `k` (one copy per hosted slot).
   */
  const resumedArg = (skip: string, k: number) => [
    asm.load32(r1, r9, RECORD_CHAIN_COUNT),
    asm.jumpIfEq(r1, 0, skip),
    // The chain's first entry (innermost record) follows the plan's bytes: its address word, its bytes.
    asm.load32(r2, r8, 4),
    asm.jumpIfAbove(r2, MAX_BYTES - CHAIN_ENTRY_BYTES, skip),
    asm.movReg(r5, r9),
    asm.add(r5, RECORD_HEADER + 8),
    asm.addReg(r5, r2),
    ...planMasked(r3, HOSTED_STATE + 12, MAX_CHAIN_RECORD),
    asm.addReg(r5, r3),
    asm.load64(r3, r5, 0),
    asm.store64(FP, -104, r3),
    ...tagAt(RESUMED_AT + 12, `wrapped${k}`, skip),
    // Not a C closure, or one without a thread as its first upvalue: the first argument.
    asm.label(`argument${k}`),
    ...threadWord(-104, RESUMED_AT, `resumed${k}`, skip),
    asm.label(`wrapped${k}`),
    asm.load64(r3, FP, -104),
    ...readToStack(-88, 8, `argument${k}`),
    ...threadWord(-88, RESUMED_AT + 16, `resumed${k}`, `argument${k}`),
    asm.label(`resumed${k}`),
    asm.load64(r3, FP, -88),
  ];
  /** Stack words' coroutines (see the header). The stack: fp-24 a word read, fp-32 the chain's end, fp-40.. each slot's state, fp-72 a `func`. */
  const hostedChains = () => {
    const code: (Item | Item[])[] = [
      asm.load32(r1, r8, HOSTED_STATE),
      asm.jumpIfEq(r1, 0, 'send'),
      asm.mov(r1, 0),
    ];
    for (let k = 0; k < MAX_HOSTED_SLOTS; k++) code.push(asm.store64(FP, -40 - 8 * k, r1));
    for (let k = 0; k < MAX_HOSTED_SLOTS; k++) {
      const next = k + 1 < MAX_HOSTED_SLOTS ? `hosted${k + 1}` : 'send';
      const link = `hostedLink${k}`;
      code.push(
        asm.label(`hosted${k}`),
        asm.load64(r3, r8, HOSTED_AT + 8 * k),
        asm.jumpIfEq(r3, 0, 'send'),
        asm.jumpIfNe(r3, RESUMED_ARG, `word${k}`),
        ...resumedArg(next, k),
        asm.label(`word${k}`),
        asm.store64(FP, -88, r3),
        ...readToStack(-24, 8, next),
        asm.load64(r7, FP, -24), // the state
        asm.store64(FP, -40 - 8 * k, r7),
        // The word's entry: read by the walk whatever it holds.
        ...nextEntry(1),
        asm.load64(r3, FP, -88),
        asm.mov(r4, 8),
        ...entryWord(),
        asm.store64(r1, 0, r7),
        ...countEntries(1),
        asm.jumpIfEq(r7, 0, next),
      );
      // A state an earlier word held is in the copy already.
      for (let j = 0; j < k; j++) code.push(asm.load64(r1, FP, -40 - 8 * j), asm.jumpIfEqReg(r7, r1, next));
      code.push(
        ...nextEntry(2),
        asm.movReg(r3, r7),
        ...planMasked(r4, HOSTED_STATE, MAX_CHAIN_ENTRY),
        ...entryWord(),
        ...planMasked(r2, HOSTED_STATE, MAX_CHAIN_ENTRY),
        asm.movReg(r3, r7),
        asm.call(HELPER.probeReadUser),
        asm.jumpIfNe(r0, 0, next),
        ...countEntries(2),
        // Its chain: from the state's `ci` to its `base_ci`.
        ...planMasked(r1, HOSTED_STATE + 8, MAX_CHAIN_ENTRY),
        asm.addReg(r1, r7),
        asm.store64(FP, -32, r1),
        ...chainEnd(-32, next),
        ...planMasked(r3, HOSTED_STATE + 4, MAX_CHAIN_ENTRY),
        asm.addReg(r3, r7),
        ...readToStack(-24, 8, next),
        asm.load64(r7, FP, -24),
        asm.mov(r6, 0),
        ...turns(),
        asm.store32(r1, 0, r6),
        asm.label(link),
        ...loopHead(next, [...turns(), asm.load32(r6, r1, 0)]),
        asm.jumpIfAtLeast(r6, MAX_HOSTED_CHAIN, next),
        asm.load64(r1, FP, -32),
        asm.jumpIfEqReg(r7, r1, next),
        // The record's entry and the one of its slots, both placed now: one bound for the two.
        ...nextEntry(3),
        asm.store64(FP, -80, r2),
        asm.movReg(r3, r7),
        asm.mov(r4, 0),
        ...entryWord(),
        ...planMasked(r2, CHAIN_AT + 16, MAX_CHAIN_RECORD),
        asm.movReg(r3, r7),
        asm.call(HELPER.probeReadUser),
        asm.jumpIfNe(r0, 0, next),
        ...countEntries(1),
        // The record's caller and `func`, from its bytes in the copy.
        asm.load64(r2, FP, -80),
        asm.movReg(r5, r9),
        asm.add(r5, RECORD_HEADER + 8),
        asm.addReg(r5, r2),
        asm.movReg(r1, r5),
        ...planMasked(r3, CHAIN_AT + 24, MAX_CHAIN_RECORD),
        asm.addReg(r1, r3),
        ...callerOf(),
        ...planMasked(r3, HOSTED_STATE + 12, MAX_CHAIN_RECORD),
        asm.addReg(r5, r3),
        asm.load64(r3, r5, 0),
        asm.store64(FP, -72, r3),
        // The slots at `func`: counted when they could be read.
        asm.load64(r2, FP, -80),
        asm.add(r2, CHAIN_ENTRY_BYTES),
        ...planMasked(r4, HOSTED_STATE + 16, MAX_CHAIN_RECORD),
        ...entryWord(),
        ...planMasked(r2, HOSTED_STATE + 16, MAX_CHAIN_RECORD),
        asm.load64(r3, FP, -72),
        asm.call(HELPER.probeReadUser),
        asm.add(r6, 1),
        ...turns(),
        asm.store32(r1, 0, r6),
        asm.jumpIfNe(r0, 0, link),
        ...countEntries(1),
        asm.jump(link),
      );
    }
    return code;
  };
  return assemble([
    asm.call(HELPER.getCurrentPidTgid),
    asm.mov32Reg(r7, r0), // the thread id
    asm.store32(FP, -4, r7),
    ...lookup(maps.plans, -4),
    asm.movReg(r8, r0), // the plan
    asm.load32(r1, r8, 0),
    asm.jumpIfEq(r1, 0, 'out'), // paused
    asm.call(HELPER.getSmpProcessorId),
    asm.store32(FP, -8, r0),
    ...lookup(maps.scratch, -8),
    asm.movReg(r9, r0), // this CPU's record
    asm.call(HELPER.ktimeGetNs),
    asm.store64(r9, 0, r0),
    asm.store32(r9, 8, r7),
    asm.load32(r1, r8, 8),
    asm.store32(r9, 12, r1),
    asm.mov(r1, -1),
    asm.store32(r9, 16, r1),
    asm.load32(r1, r8, 4),
    asm.store32(r9, 20, r1),
    asm.mov(r1, 0),
    asm.store32(r9, RECORD_CHAIN_COUNT, r1),
    asm.store32(r9, RECORD_CHAIN_COUNT + 4, r1),
    asm.mov(r6, 0), // span index
    ...turns(),
    asm.store32(r1, 0, r6),
    asm.label('span'),
    ...loopHead('failed', [...turns(), asm.load32(r6, r1, 0)]),
    asm.jumpIfAtLeast(r6, MAX_SPANS, 'chain'),
    asm.load32(r1, r8, 0),
    asm.jumpIfAtLeastReg(r6, r1, 'chain'),
    asm.movReg(r2, r6),
    asm.lsh(r2, 4),
    asm.addReg(r2, r8),
    asm.load64(r3, r2, PLAN_HEADER), // address
    asm.load32(r4, r2, PLAN_HEADER + 8), // length
    asm.load32(r5, r2, PLAN_HEADER + 12), // offset
    asm.jumpIfEq(r4, 0, 'next'),
    asm.jumpIfAbove(r4, MAX_SPAN, 'failed'),
    asm.and(r5, MAX_BYTES - 1),
    asm.movReg(r1, r9),
    asm.add(r1, RECORD_HEADER),
    asm.addReg(r1, r5),
    asm.movReg(r2, r4),
    asm.call(HELPER.probeReadUser),
    asm.jumpIfEq(r0, 0, 'next'),
    asm.label('failed'),
    asm.store32(r9, 16, r6),
    asm.jump('send'),
    asm.label('next'),
    asm.add(r6, 1),
    ...turns(),
    asm.store32(r1, 0, r6),
    asm.jump('span'),
    // The call chain, record by record, after the spans: r7 the record's address, r6 its index.
    asm.label('chain'),
    asm.load32(r1, r8, CHAIN_AT + 20),
    asm.jumpIfEq(r1, 0, 'hosted'),
    asm.movReg(r1, FP),
    asm.add(r1, -24),
    asm.mov(r2, 8),
    asm.load64(r3, r8, CHAIN_AT),
    asm.call(HELPER.probeReadUser),
    asm.jumpIfNe(r0, 0, 'hosted'),
    asm.load64(r7, FP, -24),
    // Where the chain ends, at fp-112.
    asm.load64(r3, r8, CHAIN_AT + 8),
    asm.store64(FP, -112, r3),
    ...chainEnd(-112, 'hosted'),
    // No window read yet (one of an earlier tick holds bytes of another moment).
    ...noWindow(),
    asm.mov(r6, 0),
    asm.label('link'),
    ...loopHead('linked', [asm.load32(r6, r9, RECORD_CHAIN_COUNT)]),
    asm.jumpIfAtLeast(r6, MAX_CHAIN, 'linked'),
    asm.load32(r1, r8, CHAIN_AT + 20),
    asm.jumpIfAtLeastReg(r6, r1, 'linked'),
    asm.load64(r1, FP, -112),
    asm.jumpIfEqReg(r7, r1, 'linked'),
    ...entryOffset(),
    asm.movReg(r1, r9),
    asm.add(r1, RECORD_HEADER),
    asm.addReg(r1, r2),
    asm.store64(r1, 0, r7),
    asm.add(r1, 8),
    // r1 = where the record's bytes go. From the window when it holds them (r2: where there): then
    // the record lies in memory read at this tick, as a read of its own would have found it.
    ...windowLo(),
    asm.load64(r3, r4, 0),
    asm.jumpIfEq(r3, 0, 'window'),
    asm.movReg(r2, r7),
    asm.subReg(r2, r3),
    asm.jumpIfAbove(r2, RECORD_WINDOW - MAX_CHAIN_RECORD, 'window'),
    asm.label('inWindow'),
    asm.movReg(r4, r9),
    asm.add(r4, WINDOW_AT),
    asm.addReg(r4, r2),
    ...copyRecord(),
    asm.jump('copied'),
    // The window that ends MAX_CHAIN_RECORD past this record.
    asm.label('window'),
    asm.movReg(r3, r7),
    asm.add(r3, MAX_CHAIN_RECORD - RECORD_WINDOW),
    ...windowLo(),
    asm.store64(r4, 0, r3),
    asm.movReg(r1, r9),
    asm.add(r1, WINDOW_AT),
    asm.mov(r2, RECORD_WINDOW),
    asm.call(HELPER.probeReadUser),
    asm.jumpIfNe(r0, 0, 'single'),
    ...entryBytes(),
    asm.mov(r2, RECORD_WINDOW - MAX_CHAIN_RECORD),
    asm.jump('inWindow'),
    // Memory below the record that cannot be read (a mapping's start): no window, the record alone.
    asm.label('single'),
    ...noWindow(),
    ...entryBytes(),
    asm.load32(r2, r8, CHAIN_AT + 16),
    asm.jumpIfAbove(r2, MAX_CHAIN_RECORD, 'linked'),
    asm.movReg(r3, r7),
    asm.call(HELPER.probeReadUser),
    asm.jumpIfNe(r0, 0, 'linked'),
    asm.label('copied'),
    ...entryOffset(),
    asm.load32(r3, r8, CHAIN_AT + 24),
    asm.jumpIfAbove(r3, MAX_CHAIN_RECORD - 8, 'linked'),
    asm.addReg(r2, r3),
    asm.movReg(r1, r9),
    asm.add(r1, RECORD_HEADER + 8),
    asm.addReg(r1, r2),
    ...callerOf(),
    asm.add(r6, 1),
    asm.store32(r9, RECORD_CHAIN_COUNT, r6),
    asm.jump('link'),
    asm.label('linked'),
    asm.label('hosted'),
    ...hostedChains(),
    asm.label('send'),
    asm.load32(r3, r8, 4),
    asm.load32(r2, r9, RECORD_CHAIN_COUNT),
    asm.lsh(r2, CHAIN_ENTRY_SHIFT),
    asm.addReg(r3, r2),
    asm.jumpIfAbove(r3, MAX_BYTES, 'out'),
    asm.add(r3, RECORD_HEADER),
    asm.loadMap(r1, maps.ring),
    asm.movReg(r2, r9),
    asm.mov(r4, RB_NO_WAKEUP),
    asm.call(HELPER.ringbufOutput),
    asm.jumpIfEq(r0, 0, 'sent'),
    asm.mov(r1, 0),
    asm.store32(FP, -12, r1),
    ...lookup(maps.lost, -12),
    asm.mov(r1, 1),
    asm.atomicAdd64(r0, 0, r1),
    asm.label('sent'),
    asm.load32(r0, r8, 12),
    asm.and(r0, USER_SAMPLE),
    asm.exit(),
    asm.label('out'),
    asm.mov(r0, 0),
    asm.exit(),
  ]);
}

/** The program can copy these coroutines: it copies a lua_State as two entries, a record's `func` and its slots as one. */
function hostedFits(h: HostedChains, recordBytes: number): boolean {
  return (
    h.slots.length > 0 &&
    h.slots.length <= MAX_HOSTED_SLOTS &&
    chainEntrySpan(h.stateBytes) === 2 * CHAIN_ENTRY_BYTES &&
    h.ciAt + 8 <= h.stateBytes &&
    h.baseCiAt + 8 <= h.stateBytes &&
    h.funcAt + 8 <= recordBytes &&
    h.slotBytes > 0 &&
    chainEntrySpan(h.slotBytes) === CHAIN_ENTRY_BYTES &&
    (!h.slots.includes(RESUMED_ARG) ||
      (h.resumed !== undefined && Object.values(h.resumed).every((v) => v >= 0 && v <= 255)))
  );
}

/**
 * Writes the plan of `count` remote iovecs ({addr, len} u64 pairs, `bytes` in all) into `out` (a plan
 * value), spans longer than MAX_SPAN cut in several. Returns where each span starts in a copy, or null
 * when the plan is too large for the program.
 */
export function encodePlan(
  iov: Buffer,
  count: number,
  bytes: number,
  seq: number,
  out: Buffer,
  flags = 0,
  chain: CallChain | null = null,
): number[] | null {
  if (bytes > MAX_BYTES || iov.length < count * 16 || out.length < PLAN_VALUE_BYTES) return null;
  const offsets: number[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    const addr = Number(iov.readBigUInt64LE(i * 16));
    const len = Number(iov.readBigUInt64LE(i * 16 + 8));
    for (let cut = 0; cut < len; cut += MAX_SPAN) {
      if (offsets.length === MAX_SPANS) return null;
      const at = PLAN_HEADER + offsets.length * SPAN_BYTES;
      out.writeBigUInt64LE(BigInt(addr + cut), at);
      out.writeUInt32LE(Math.min(MAX_SPAN, len - cut), at + 8);
      out.writeUInt32LE(off + cut, at + 12);
      offsets.push(off + cut);
    }
    off += len;
  }
  if (off !== bytes || offsets.length === 0) return null;
  out.writeUInt32LE(offsets.length, 0);
  out.writeUInt32LE(bytes, 4);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(flags, 12);
  const usable =
    chain !== null && chain.recordBytes <= MAX_CHAIN_RECORD && chain.nextAt + 8 <= chain.recordBytes;
  out.writeBigUInt64LE(BigInt(usable ? chain.head : 0), CHAIN_AT);
  out.writeBigUInt64LE(BigInt(usable ? chain.stop : 0), CHAIN_AT + 8);
  out.writeUInt32LE(usable ? chain.recordBytes : 0, CHAIN_AT + 16);
  out.writeUInt32LE(usable ? MAX_CHAIN : 0, CHAIN_AT + 20);
  out.writeUInt32LE(usable ? chain.nextAt : 0, CHAIN_AT + 24);
  out.writeUInt32LE(usable && chain.array ? CHAIN_ARRAY : 0, CHAIN_FLAGS);
  const hosted = usable ? chain.hosted : null;
  const slots = hosted && hostedFits(hosted, chain!.recordBytes) ? hosted.slots : [];
  for (let k = 0; k < MAX_HOSTED_SLOTS; k++) out.writeBigUInt64LE(BigInt(slots[k] ?? 0), HOSTED_AT + 8 * k);
  const words =
    slots.length > 0 ? [hosted!.stateBytes, hosted!.ciAt, hosted!.baseCiAt, hosted!.funcAt] : [0, 0, 0, 0];
  words.push(slots.length > 0 ? hosted!.slotBytes : 0);
  const resumed = slots.includes(RESUMED_ARG) ? hosted!.resumed! : null;
  words.push(
    resumed?.valueAt ?? 0,
    resumed?.tagAt ?? 0,
    resumed?.tag ?? 0,
    resumed?.closureTag ?? 0,
    resumed?.upvalueAt ?? 0,
  );
  words.forEach((w, i) => out.writeUInt32LE(w, HOSTED_STATE + 4 * i));
  return offsets;
}
