/**
 * DWARF primitives for .eh_frame: a bounds-checked cursor (LEB128, fixed-size ints, DW_EH_PE_*
 * pointers) and a DWARF expression evaluator sufficient for the CFI expressions glibc and gcc emit.
 * Every read past the end throws a private sentinel that callers catch; nothing else throws.
 */

export class DwarfError extends Error {}
const EOF_ERR = new DwarfError('truncated');

export const DW_EH_PE_omit = 0xff;
export const DW_EH_PE_indirect = 0x80;

export class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    public end: number,
  ) {
    if (end > buf.length) this.end = buf.length;
  }

  u8(): number {
    if (this.pos + 1 > this.end) throw EOF_ERR;
    return this.buf[this.pos++];
  }
  u16(): number {
    if (this.pos + 2 > this.end) throw EOF_ERR;
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  s16(): number {
    if (this.pos + 2 > this.end) throw EOF_ERR;
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    if (this.pos + 4 > this.end) throw EOF_ERR;
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  s32(): number {
    if (this.pos + 4 > this.end) throw EOF_ERR;
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  /** u64 as number; values beyond 2^53 lose precision (never valid addresses anyway). */
  u64(): number {
    if (this.pos + 8 > this.end) throw EOF_ERR;
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    return hi * 0x1_0000_0000 + lo;
  }
  s64(): number {
    if (this.pos + 8 > this.end) throw EOF_ERR;
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readInt32LE(this.pos + 4);
    this.pos += 8;
    return hi * 0x1_0000_0000 + lo;
  }
  u64big(): bigint {
    if (this.pos + 8 > this.end) throw EOF_ERR;
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  s64big(): bigint {
    if (this.pos + 8 > this.end) throw EOF_ERR;
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return result;
    }
    throw EOF_ERR;
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) {
        if (b & 0x40) result -= mul;
        return result;
      }
    }
    throw EOF_ERR;
  }
  cstr(): string {
    const start = this.pos;
    while (this.pos < this.end && this.buf[this.pos] !== 0) this.pos++;
    if (this.pos >= this.end) throw EOF_ERR;
    const s = this.buf.toString('latin1', start, this.pos);
    this.pos++;
    return s;
  }
  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw EOF_ERR;
    this.pos += n;
  }
  block(n: number): Buffer {
    if (n < 0 || this.pos + n > this.end) throw EOF_ERR;
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /**
   * Reads a DW_EH_PE_* encoded pointer. `vaddrOfBuf0` is the virtual address of buf[0] (for pcrel);
   * `dataBase` for datarel; `funcBase` for funcrel. Indirect pointers are returned undereferenced
   * with `indirect` set (eh_frame only uses them for personality routines, which we skip).
   */
  encoded(enc: number, vaddrOfBuf0: number, dataBase = 0, funcBase = 0): number {
    if (enc === DW_EH_PE_omit) return 0;
    const here = vaddrOfBuf0 + this.pos;
    let v: number;
    switch (enc & 0x0f) {
      case 0x00:
        v = this.u64();
        break;
      case 0x01:
        v = this.uleb();
        break;
      case 0x02:
        v = this.u16();
        break;
      case 0x03:
        v = this.u32();
        break;
      case 0x04:
        v = this.u64();
        break;
      case 0x09:
        v = this.sleb();
        break;
      case 0x0a:
        v = this.s16();
        break;
      case 0x0b:
        v = this.s32();
        break;
      case 0x0c:
        v = this.s64();
        break;
      default:
        throw new DwarfError('bad pointer encoding');
    }
    switch (enc & 0x70) {
      case 0x00:
        break;
      case 0x10:
        v += here;
        break;
      case 0x30:
        v += dataBase;
        break;
      case 0x40:
        v += funcBase;
        break;
      case 0x20: // textrel: not used on x86_64
      case 0x50: // aligned
      default:
        throw new DwarfError('unsupported pointer application');
    }
    return v;
  }
}

/** Size in bytes of a fixed-size encoding (0 for LEB forms / invalid). */
export function encodedSize(enc: number): number {
  switch (enc & 0x0f) {
    case 0x00:
    case 0x04:
    case 0x0c:
      return 8;
    case 0x02:
    case 0x0a:
      return 2;
    case 0x03:
    case 0x0b:
      return 4;
    default:
      return 0;
  }
}

export interface ExprContext {
  /** Register value by DWARF number, or null when unknown. */
  reg(n: number): number | null;
  /** Reads a u64 from the target (stack copy or memory), null when unreadable. */
  readU64(addr: number): number | null;
}

const MASK64 = (1n << 64n) - 1n;
const MAX_STEPS = 512;
const MAX_STACK = 64;

function toNum(v: bigint): number | null {
  const u = v & MASK64;
  if (u > 0x1f_ffff_ffff_ffffn) return null; // past 2^53: never a user-space address
  return Number(u);
}

/**
 * Evaluates a DWARF location expression (as used by DW_CFA_def_cfa_expression, DW_CFA_expression,
 * DW_CFA_val_expression). `initial` is pushed first when given (the CFA for (val_)expression rules).
 * Returns the top of stack as a number, or null on any error / unknown register / unreadable memory.
 */
export function evalExpr(expr: Buffer, ctx: ExprContext, initial?: number): number | null {
  const st: bigint[] = [];
  if (initial !== undefined) st.push(BigInt(initial));
  const c = new Cursor(expr, 0, expr.length);
  const pop = (): bigint => {
    const v = st.pop();
    if (v === undefined) throw EOF_ERR;
    return v;
  };
  const push = (v: bigint): void => {
    if (st.length >= MAX_STACK) throw EOF_ERR;
    st.push(v & MASK64);
  };
  const signed = (v: bigint): bigint => BigInt.asIntN(64, v);
  const regVal = (n: number): bigint => {
    const r = ctx.reg(n);
    if (r === null || !Number.isFinite(r)) throw EOF_ERR;
    return BigInt(r);
  };
  const deref = (addr: bigint, size: number): bigint => {
    const a = toNum(addr);
    if (a === null) throw EOF_ERR;
    const v = ctx.readU64(a);
    if (v === null) throw EOF_ERR;
    let b = BigInt(v);
    if (size < 8) b &= (1n << BigInt(size * 8)) - 1n;
    return b;
  };
  try {
    for (let steps = 0; c.pos < c.end; steps++) {
      if (steps > MAX_STEPS) return null;
      const op = c.u8();
      if (op >= 0x30 && op <= 0x4f) {
        push(BigInt(op - 0x30));
        continue;
      }
      if (op >= 0x50 && op <= 0x6f) {
        push(regVal(op - 0x50));
        continue;
      }
      if (op >= 0x70 && op <= 0x8f) {
        const off = c.sleb();
        push(regVal(op - 0x70) + BigInt(off));
        continue;
      }
      switch (op) {
        case 0x03:
          push(c.u64big());
          break; // addr
        case 0x06:
          push(deref(pop(), 8));
          break; // deref
        case 0x08:
          push(BigInt(c.u8()));
          break;
        case 0x09:
          push(BigInt((c.u8() << 24) >> 24));
          break;
        case 0x0a:
          push(BigInt(c.u16()));
          break;
        case 0x0b:
          push(BigInt(c.s16()));
          break;
        case 0x0c:
          push(BigInt(c.u32()));
          break;
        case 0x0d:
          push(BigInt(c.s32()));
          break;
        case 0x0e:
          push(c.u64big());
          break;
        case 0x0f:
          push(c.s64big());
          break;
        case 0x10:
          push(BigInt(c.uleb()));
          break; // constu
        case 0x11:
          push(BigInt(c.sleb()));
          break; // consts
        case 0x12: {
          const v = pop();
          push(v);
          push(v);
          break;
        } // dup
        case 0x13:
          pop();
          break; // drop
        case 0x14: {
          if (st.length < 2) return null;
          push(st[st.length - 2]);
          break;
        } // over
        case 0x15: {
          const i = c.u8();
          if (i >= st.length) return null;
          push(st[st.length - 1 - i]);
          break;
        } // pick
        case 0x16: {
          const a = pop();
          const b = pop();
          push(a);
          push(b);
          break;
        } // swap
        case 0x17: {
          const a = pop();
          const b = pop();
          const d = pop();
          push(b);
          push(a);
          push(d);
          break;
        } // rot: top→second, second→third, third→top
        case 0x19: {
          const v = signed(pop());
          push(v < 0n ? -v : v);
          break;
        } // abs
        case 0x1a: {
          const b = pop();
          push(pop() & b);
          break;
        } // and
        case 0x1b: {
          const b = signed(pop());
          const a = signed(pop());
          if (b === 0n) return null;
          push(a / b);
          break;
        } // div
        case 0x1c: {
          const b = pop();
          push(pop() - b);
          break;
        } // minus
        case 0x1d: {
          const b = pop();
          const a = pop();
          if (b === 0n) return null;
          push(a % b);
          break;
        } // mod
        case 0x1e: {
          const b = pop();
          push(pop() * b);
          break;
        } // mul
        case 0x1f:
          push(-signed(pop()));
          break; // neg
        case 0x20:
          push(~pop());
          break; // not
        case 0x21: {
          const b = pop();
          push(pop() | b);
          break;
        } // or
        case 0x22: {
          const b = pop();
          push(pop() + b);
          break;
        } // plus
        case 0x23:
          push(pop() + BigInt(c.uleb()));
          break; // plus_uconst
        case 0x24: {
          const b = pop();
          const a = pop();
          push(b >= 64n ? 0n : a << b);
          break;
        } // shl
        case 0x25: {
          const b = pop();
          const a = pop();
          push(b >= 64n ? 0n : a >> b);
          break;
        } // shr
        case 0x26: {
          const b = pop();
          const a = signed(pop());
          push(a >> (b >= 64n ? 63n : b));
          break;
        } // shra
        case 0x27: {
          const b = pop();
          push(pop() ^ b);
          break;
        } // xor
        case 0x28: {
          const off = c.s16();
          if (pop() !== 0n) {
            const np = c.pos + off;
            if (np < 0 || np > c.end) return null;
            c.pos = np;
          }
          break;
        } // bra
        case 0x29: {
          const b = signed(pop());
          push(signed(pop()) === b ? 1n : 0n);
          break;
        } // eq
        case 0x2a: {
          const b = signed(pop());
          push(signed(pop()) >= b ? 1n : 0n);
          break;
        } // ge
        case 0x2b: {
          const b = signed(pop());
          push(signed(pop()) > b ? 1n : 0n);
          break;
        } // gt
        case 0x2c: {
          const b = signed(pop());
          push(signed(pop()) <= b ? 1n : 0n);
          break;
        } // le
        case 0x2d: {
          const b = signed(pop());
          push(signed(pop()) < b ? 1n : 0n);
          break;
        } // lt
        case 0x2e: {
          const b = signed(pop());
          push(signed(pop()) !== b ? 1n : 0n);
          break;
        } // ne
        case 0x2f: {
          const off = c.s16();
          const np = c.pos + off;
          if (np < 0 || np > c.end) return null;
          c.pos = np;
          break;
        } // skip
        case 0x90:
          push(regVal(c.uleb()));
          break; // regx
        case 0x92: {
          const r = c.uleb();
          const off = c.sleb();
          push(regVal(r) + BigInt(off));
          break;
        } // bregx
        case 0x94: {
          const n = c.u8();
          if (n < 1 || n > 8) return null;
          push(deref(pop(), n));
          break;
        } // deref_size
        case 0x96:
          break; // nop
        default:
          return null; // unsupported op (piece, call, TLS, entry_value, …)
      }
    }
  } catch {
    return null;
  }
  const top = st.pop();
  if (top === undefined) return null;
  return toNum(top);
}
