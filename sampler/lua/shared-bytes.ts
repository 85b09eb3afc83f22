/**
 * Copies of the target's immutable arrays (bytecode, line info) that a cache keeps, shared by content.
 * A host that runs one script in a state per thread loads the same functions into each state, and each
 * thread's caches kept a copy of every one of them: ~21 KB a thread on the churn host, freed only by
 * a full collection, which V8 runs once tens of MB of such memory have built up. Shared, a thread that
 * comes and goes adds nothing.
 */

/** Past this many bytes held, the index starts again (the copies handed out stay with their holders). */
const MAX_SHARED_BYTES = 32 << 20;

export class SharedBytes {
  private readonly byKey = new Map<number, Uint8Array[]>();
  private held = 0;

  constructor(private readonly maxBytes = MAX_SHARED_BYTES) {}

  /** An ArrayBuffer with `b`'s bytes, exactly as long: the one handed out before for the same bytes. */
  copy(b: Uint8Array): ArrayBuffer {
    const key = hashOf(b);
    let same = this.byKey.get(key);
    if (same) for (const c of same) if (Buffer.compare(c, b) === 0) return c.buffer as ArrayBuffer;
    const copy = Uint8Array.prototype.slice.call(b);
    if (this.held + copy.length > this.maxBytes) {
      this.byKey.clear();
      this.held = 0;
      same = undefined;
    }
    if (same) same.push(copy);
    else this.byKey.set(key, [copy]);
    this.held += copy.length;
    return copy.buffer as ArrayBuffer;
  }
}

/** FNV-1a over the bytes, and their length. */
function hashOf(b: Uint8Array): number {
  let h = 0x811c9dc5 ^ b.length;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

/** The worker's one store: every thread's function caches copy through it. */
export const sharedBytes = new SharedBytes();
