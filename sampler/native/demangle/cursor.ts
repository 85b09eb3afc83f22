/**
 * Parser state and the primitives every production uses: reading the mangled name, numbers and
 * sequence ids, and the limits that bound the work one name can cause (see LIMITS).
 */
import { FAIL, render, type Ty } from './ast.js';

/**
 * Bounds on the work of one demangle() call: whatever the input, a name costs at most MAX_STEPS
 * productions, MAX_DEPTH nested productions (so a crafted name cannot exhaust the stack) and
 * MAX_COPIED characters copied from substitutions and template parameters (the only way a short
 * name prints a long one: each back-reference can double the text). Past any of them the name
 * comes back unchanged.
 */
export const LIMITS = {
  /** Longest mangled name we try (longer ones are returned as they are). */
  MAX_INPUT: 4096,
  MAX_STEPS: 8192,
  MAX_DEPTH: 256,
  MAX_COPIED: 16384,
};

export class Cursor {
  pos = 0;
  subs: Ty[] = [];
  /** -1: normal; -2: probing a pack expansion for its length; >= 0: expanding element i. */
  packIndex = -1;
  packLen = -1;
  lastEncName = '';
  tparams: Ty[] = [];
  lastArgs: Ty[] = [];
  /** Productions entered so far, nesting depth now, characters copied from back-references. */
  steps = 0;
  depth = 0;
  copied = 0;
  constructor(readonly m: string) {}

  peek(o = 0): string {
    return this.m[this.pos + o] ?? '';
  }
  eat(s: string): boolean {
    if (this.m.startsWith(s, this.pos)) {
      this.pos += s.length;
      return true;
    }
    return false;
  }
  expect(s: string): void {
    if (!this.eat(s)) throw FAIL;
  }
  /** Counts one production against MAX_STEPS. */
  guard(): void {
    if (++this.steps > LIMITS.MAX_STEPS) throw FAIL;
  }
  /** Enters a production that may recurse; leave() on return (a throw abandons the whole parse). */
  enter(): void {
    this.guard();
    if (++this.depth > LIMITS.MAX_DEPTH) throw FAIL;
  }
  leave<T>(v: T): T {
    this.depth--;
    return v;
  }
  /** A substitution or template parameter is printed again: counts its text against MAX_COPIED. */
  copy(t: Ty): Ty {
    this.copied += t.s.length + (t.fn || t.arr ? render(t).length : 0);
    if (this.copied > LIMITS.MAX_COPIED) throw FAIL;
    return t;
  }

  number(): number {
    let neg = false;
    if (this.eat('n')) neg = true;
    const start = this.pos;
    while (/[0-9]/.test(this.peek())) this.pos++;
    if (this.pos === start) throw FAIL;
    const v = parseInt(this.m.slice(start, this.pos), 10);
    return neg ? -v : v;
  }

  seqId(): number {
    // <seq-id> is base 36 (0-9A-Z) followed by '_'; empty means 0, "X_" means X+1.
    if (this.eat('_')) return 0;
    let v = 0;
    const start = this.pos;
    while (/[0-9A-Z]/.test(this.peek())) {
      v = v * 36 + parseInt(this.peek(), 36);
      this.pos++;
    }
    if (this.pos === start) throw FAIL;
    this.expect('_');
    return v + 1;
  }

  cvQuals(): string {
    const q: string[] = [];
    if (this.eat('r')) q.push('restrict');
    if (this.eat('V')) q.push('volatile');
    if (this.eat('K')) q.push('const');
    return q.reverse().join(' ');
  }
}
