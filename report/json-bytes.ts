/**
 * Long JSON arrays written as bytes: a profile's per-sample arrays (its stacks, weights and times) are
 * most of a speedscope file, and text joined string by string cost ~6 µs a sample of luaprof's CPU at
 * the end of a recording (two string objects an item, their garbage and their encoding to UTF-8).
 * Here every item goes straight into one buffer, and texts that repeat are encoded once.
 */

/** Bytes of ASCII JSON text, growing as they are written. */
export class JsonBytes {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity = 1 << 16) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far, as a buffer of their own; the writer starts empty again. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(this.buf.length);
    this.pos = 0;
    return out;
  }

  byte(c: number): void {
    if (this.pos >= this.buf.length) this.grow(1);
    this.buf[this.pos++] = c;
  }

  bytes(b: Uint8Array): void {
    if (this.pos + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** `s`, whose characters are all ASCII (JSON text of numbers and arrays of them). */
  ascii(s: string): void {
    if (this.pos + s.length > this.buf.length) this.grow(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  /** A non-negative integer below 2^53, in decimal. */
  uint(n: number): void {
    if (this.pos + 16 > this.buf.length) this.grow(16);
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    const end = this.pos + digits;
    for (let at = end - 1; at >= this.pos; at--) {
      const q = Math.floor(n / 10);
      this.buf[at] = 0x30 + (n - q * 10);
      n = q;
    }
    this.pos = end;
  }

  private grow(need: number): void {
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + need));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }
}

const COMMA = 0x2c;
const DOT = 0x2e;
const OPEN = 0x5b;
const CLOSE = 0x5d;

/**
 * Times below this many µs are written digit by digit: there, doubles lie closer together than a µs in
 * ms, so the shortest text that reads back as Math.round(ms * 1e3) / 1e3 (JSON.stringify's) is that
 * decimal itself, trailing zeros dropped. 1e15 µs is 31 years.
 */
const DIGIT_BY_DIGIT_US = 1e15;

/** A number as JSON.stringify writes it (null for NaN and the infinities, and for a hole). */
export function numberText(x: number | undefined): string {
  return x !== undefined && Number.isFinite(x) ? String(x) : 'null';
}

/** `ms` rounded to the µs, as JSON.stringify writes Math.round(ms * 1e3) / 1e3 (null: not a number). */
export function writeMilliseconds(out: JsonBytes, ms: number | undefined): void {
  const us = ms === undefined ? NaN : Math.round(ms * 1e3);
  // Not a number, negative, or past 31 years (past ~1.8e305 ms, ms * 1e3 overflows to Infinity).
  if (!(us >= 0 && us < DIGIT_BY_DIGIT_US)) return out.ascii(numberText(us / 1e3));
  let frac = us % 1000;
  out.uint((us - frac) / 1000);
  if (frac === 0) return;
  out.byte(DOT);
  let width = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    width--;
  }
  for (let p = 10 ** (width - 1); p > frac && p > 1; p /= 10) out.byte(0x30);
  out.uint(frac);
}

/**
 * A JSON array of `length` items in parts of at most `perPart` items, each part the bytes of its
 * items (the first opens the array, the last closes it); `item(out, i)` writes item i.
 */
export function* arrayBytes(
  length: number,
  perPart: number,
  item: (out: JsonBytes, i: number) => void,
): Generator<Buffer> {
  const out = new JsonBytes();
  if (length === 0) {
    out.ascii('[]');
    yield out.take();
    return;
  }
  for (let from = 0; from < length; from += perPart) {
    const to = Math.min(length, from + perPart);
    out.byte(from === 0 ? OPEN : COMMA);
    item(out, from);
    for (let i = from + 1; i < to; i++) {
      out.byte(COMMA);
      item(out, i);
    }
    if (to === length) out.byte(CLOSE);
    yield out.take();
  }
}
