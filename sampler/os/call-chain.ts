/**
 * A linked list of records that a copier follows itself at each copy (copier/tick-program.ts: Lua
 * 5.2-5.4's CallInfo list, or 5.1's CallInfo array), and how its records sit in a copy: the records are where they are at
 * that instant, wherever the target allocated them since the copy's plan was made.
 */
export interface CallChain {
  /** The address of the word that points at the innermost record (L->ci). */
  head: number;
  /**
   * The address at which the chain ends, not copied (&L->base_ci); with `array`, the address of the
   * word that holds it (L->base_ci).
   */
  stop: number;
  /** A record's length (≤ MAX_CHAIN_RECORD) and where in it the pointer to the next one is. */
  recordBytes: number;
  nextAt: number;
  /**
   * The records are an array (Lua 5.1's CallInfo): each record's caller is the one just below it,
   * down to the array's start, which a lua_State holds as a pointer (its `base_ci` word).
   */
  array?: boolean;
  /** Coroutines a host resumes from C, found through words of its native stack (null: none). */
  hosted?: HostedChains | null;
}

/**
 * A host that resumes a new coroutine per request keeps it in the same native stack words request
 * after request (sampler/lua/host-resumed.ts). At each copy the copier reads each word, the
 * lua_State it points at, that state's records from `ci` down to its `base_ci`, and with each
 * record the stack slots at its `func` (the function and its first argument): the coroutine of this
 * very request, wherever it was allocated.
 */
export interface HostedChains {
  /** The stack words (at most MAX_HOSTED_SLOTS). */
  slots: readonly number[];
  /**
   * lua_State's length (≤ 2 * CHAIN_ENTRY_BYTES - 8) and where in it `ci` and `base_ci` are (with the
   * chain's `array`, `base_ci` is a pointer).
   */
  stateBytes: number;
  ciAt: number;
  baseCiAt: number;
  /** Where a record holds its `func` pointer, and the bytes read there. */
  funcAt: number;
  slotBytes: number;
  /**
   * Where the word RESUMED_ARG stands for is (a slot may be RESUMED_ARG): the first argument's value
   * past the `func` of the main chain's innermost record, a TValue's tag byte past its value, the tag
   * a thread has; for a coroutine.wrap function, a C closure's tag and where its first upvalue is.
   */
  resumed?: { valueAt: number; tagAt: number; tag: number; closureTag: number; upvalueAt: number };
}

/**
 * A hosted slot that is no fixed word: the coroutine Lua code resumed, which the main chain's
 * innermost record has as its first argument (coroutine.resume), or as its C closure's first upvalue
 * (a coroutine.wrap function). Many coroutines resumed in turn (a scheduler) each run briefly: no
 * plan holds the one of a tick.
 */
export const RESUMED_ARG = 1;

/**
 * A record in a copy: its address (u64), then its bytes, in one or more CHAIN_ENTRY_BYTES. Bits 48-63
 * of the address word hold the bytes' length when it is not the chain's record length (0: it is);
 * such an entry takes as many CHAIN_ENTRY_BYTES as address and bytes need.
 */
export const CHAIN_ENTRY_BYTES = 128;
export const MAX_CHAIN_RECORD = CHAIN_ENTRY_BYTES - 8;
/** Records a copy holds at most (a deeper stack's outer records come from the plan, or the thread). */
export const MAX_CHAIN = 512;
/** Stack words of hosted coroutines a copy reads at most, and records of each it follows. */
export const MAX_HOSTED_SLOTS = 4;
export const MAX_HOSTED_CHAIN = 64;
/** The longest entry: a lua_State (5.2/5.3: 208 bytes). */
export const MAX_CHAIN_ENTRY = 2 * CHAIN_ENTRY_BYTES - 8;
export const ENTRY_LENGTH_SHIFT = 48;

/** The bytes an entry of `bytes` takes in a copy: its address word and bytes, in whole CHAIN_ENTRY_BYTES. */
export function chainEntrySpan(bytes: number): number {
  return Math.ceil((bytes + 8) / CHAIN_ENTRY_BYTES) * CHAIN_ENTRY_BYTES;
}

/** The address an entry's address word at `at` names. */
export function chainEntryAddress(chain: Buffer, at: number): number {
  return (chain.readUInt32LE(at + 4) & 0xffff) * 0x1_0000_0000 + chain.readUInt32LE(at);
}

/** The length of the entry at `at` (`recordBytes`: an untagged entry's). */
export function chainEntryLength(chain: Buffer, at: number, recordBytes: number): number {
  const tagged = chain.readUInt32LE(at + 4) >>> (ENTRY_LENGTH_SHIFT - 32);
  return tagged === 0 ? recordBytes : tagged;
}
