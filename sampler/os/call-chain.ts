/**
 * A linked list of records that a copier follows itself at each copy (copier/tick-program.ts: Lua
 * 5.2-5.4's CallInfo list), and how its records sit in a copy: the records are where they are at
 * that instant, wherever the target allocated them since the copy's plan was made.
 */
export interface CallChain {
  /** The address of the word that points at the innermost record (L->ci). */
  head: number;
  /** The address at which the chain ends, not copied (&L->base_ci). */
  stop: number;
  /** A record's length (≤ MAX_CHAIN_RECORD) and where in it the pointer to the next one is. */
  recordBytes: number;
  nextAt: number;
}

/** A record in a copy: its address (u64), then its bytes (at most MAX_CHAIN_RECORD). */
export const CHAIN_ENTRY_BYTES = 128;
export const MAX_CHAIN_RECORD = CHAIN_ENTRY_BYTES - 8;
/** Records a copy holds at most (a deeper stack's outer records come from the plan, or the thread). */
export const MAX_CHAIN = 512;
