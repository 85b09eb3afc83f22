/**
 * The CFI interpreter: runs a CIE's initial instructions and an FDE's instructions up to an address and
 * yields the unwind row in effect there (CFA rule and register rules). The FDEs come from ehframe.ts.
 * Unknown opcodes or malformed operands yield null; work is bounded by the FDE's instruction bytes.
 */
import { Cursor } from './dwarf.js';
import type { Cie, Fde } from './ehframe.js';

/** Register rules. */
export const R_UNSPEC = 0;
export const R_UNDEF = 1;
export const R_OFFSET = 2;
export const R_VAL_OFFSET = 3;
export const R_REG = 4;
export const R_EXPR = 5;
export const R_VAL_EXPR = 6;
export const R_SAME = 7;

/** DWARF register numbers we track: 0..15 GPRs, 16 = return address (rip). */
export const NREGS = 17;
export const REG_RSP = 7;
export const REG_RBP = 6;
export const REG_RA = 16;

export interface Row {
  /** CFA = reg(cfaReg) + cfaOff, or cfaExpr evaluated when cfaExpr is set (cfaReg = -1). */
  cfaReg: number;
  cfaOff: number;
  cfaExpr: Buffer | null;
  rule: Uint8Array;
  val: Float64Array;
  expr: (Buffer | null)[] | null;
  raReg: number;
  signal: boolean;
  /** FDE range [start, end) (ELF vaddrs). */
  start: number;
  end: number;
  /** The registers whose rule is not "unspecified" (the unwinder fills it in on first use). */
  active: Uint8Array | null;
}

const MAX_STATE_STACK = 64;

interface State {
  cfaReg: number;
  cfaOff: number;
  cfaExpr: Buffer | null;
  rule: Uint8Array;
  val: Float64Array;
  expr: (Buffer | null)[];
}

function newState(): State {
  return {
    cfaReg: -1,
    cfaOff: 0,
    cfaExpr: null,
    rule: new Uint8Array(NREGS),
    val: new Float64Array(NREGS),
    expr: new Array<Buffer | null>(NREGS).fill(null),
  };
}

function cloneState(s: State): State {
  return {
    cfaReg: s.cfaReg,
    cfaOff: s.cfaOff,
    cfaExpr: s.cfaExpr,
    rule: s.rule.slice(),
    val: s.val.slice(),
    expr: s.expr.slice(),
  };
}

/** The unwind row in effect at vaddr within fde (an FDE of the .eh_frame bytes eh, loaded at ehVaddr). */
export function rowForFde(eh: Buffer, ehVaddr: number, fde: Fde, vaddr: number): Row | null {
  try {
    const cie = fde.cie;
    const st = newState();
    if (!exec(eh, ehVaddr, cie, cie.initStart, cie.initEnd, st, null, Infinity, fde.start)) return null;
    const init = cloneState(st);
    if (!exec(eh, ehVaddr, cie, fde.instrStart, fde.instrEnd, st, init, vaddr, fde.start)) return null;
    if (st.cfaReg < 0 && !st.cfaExpr) return null;
    if (cie.raReg >= NREGS) return null;
    const hasExpr = st.expr.some((e) => e !== null);
    return {
      cfaReg: st.cfaExpr ? -1 : st.cfaReg,
      cfaOff: st.cfaOff,
      cfaExpr: st.cfaExpr,
      rule: st.rule,
      val: st.val,
      expr: hasExpr ? st.expr : null,
      raReg: cie.raReg,
      signal: cie.signal,
      start: fde.start,
      end: fde.end,
      active: null,
    };
  } catch {
    return null;
  }
}

/**
 * Runs CFA instructions from [from, to) until the location passes `target`.
 * Returns false on an unknown opcode or malformed operands.
 */
function exec(
  eh: Buffer,
  ehVaddr: number,
  cie: Cie,
  from: number,
  to: number,
  st: State,
  init: State | null,
  target: number,
  startLoc: number,
): boolean {
  const c = new Cursor(eh, from, to);
  const stack: State[] = [];
  let loc = startLoc;
  const ca = cie.codeAlign;
  const da = cie.dataAlign;
  const setRule = (reg: number, rule: number, v: number, e: Buffer | null = null): void => {
    if (reg < NREGS) {
      st.rule[reg] = rule;
      st.val[reg] = v;
      st.expr[reg] = e;
    }
  };
  const restore = (reg: number): void => {
    if (reg < NREGS) {
      if (init) {
        st.rule[reg] = init.rule[reg];
        st.val[reg] = init.val[reg];
        st.expr[reg] = init.expr[reg];
      } else setRule(reg, R_UNSPEC, 0);
    }
  };
  const advance = (delta: number): boolean => {
    loc += delta * ca;
    return loc <= target;
  };
  while (c.pos < c.end) {
    const op = c.u8();
    const hi = op & 0xc0;
    const low = op & 0x3f;
    if (hi === 0x40) {
      if (!advance(low)) return true;
      continue;
    }
    if (hi === 0x80) {
      setRule(low, R_OFFSET, c.uleb() * da);
      continue;
    }
    if (hi === 0xc0) {
      restore(low);
      continue;
    }
    switch (op) {
      case 0x00: // nop
        break;
      case 0x01: {
        // set_loc
        const nl = c.encoded(cie.fdeEnc, ehVaddr);
        if (nl > target) return true;
        loc = nl;
        break;
      }
      case 0x02:
        if (!advance(c.u8())) return true;
        break;
      case 0x03:
        if (!advance(c.u16())) return true;
        break;
      case 0x04:
        if (!advance(c.u32())) return true;
        break;
      case 0x05: {
        const r = c.uleb();
        setRule(r, R_OFFSET, c.uleb() * da);
        break;
      }
      case 0x06:
        restore(c.uleb());
        break;
      case 0x07:
        setRule(c.uleb(), R_UNDEF, 0);
        break;
      case 0x08:
        setRule(c.uleb(), R_SAME, 0);
        break;
      case 0x09: {
        const r = c.uleb();
        const r2 = c.uleb();
        setRule(r, R_REG, r2);
        break;
      }
      case 0x0a:
        if (stack.length >= MAX_STATE_STACK) return false;
        stack.push(cloneState(st));
        break;
      case 0x0b: {
        const s = stack.pop();
        if (!s) return false;
        st.cfaReg = s.cfaReg;
        st.cfaOff = s.cfaOff;
        st.cfaExpr = s.cfaExpr;
        st.rule = s.rule;
        st.val = s.val;
        st.expr = s.expr;
        break;
      }
      case 0x0c:
        st.cfaReg = c.uleb();
        st.cfaOff = c.uleb();
        st.cfaExpr = null;
        break;
      case 0x0d:
        st.cfaReg = c.uleb();
        st.cfaExpr = null;
        break;
      case 0x0e:
        st.cfaOff = c.uleb();
        break;
      case 0x0f:
        st.cfaExpr = c.block(c.uleb());
        st.cfaReg = -1;
        break;
      case 0x10: {
        const r = c.uleb();
        const e = c.block(c.uleb());
        setRule(r, R_EXPR, 0, e);
        break;
      }
      case 0x11: {
        const r = c.uleb();
        setRule(r, R_OFFSET, c.sleb() * da);
        break;
      }
      case 0x12:
        st.cfaReg = c.uleb();
        st.cfaOff = c.sleb() * da;
        st.cfaExpr = null;
        break;
      case 0x13:
        st.cfaOff = c.sleb() * da;
        break;
      case 0x14: {
        const r = c.uleb();
        setRule(r, R_VAL_OFFSET, c.uleb() * da);
        break;
      }
      case 0x15: {
        const r = c.uleb();
        setRule(r, R_VAL_OFFSET, c.sleb() * da);
        break;
      }
      case 0x16: {
        const r = c.uleb();
        const e = c.block(c.uleb());
        setRule(r, R_VAL_EXPR, 0, e);
        break;
      }
      case 0x2e:
        c.uleb();
        break; // GNU_args_size
      case 0x2f: {
        const r = c.uleb();
        setRule(r, R_OFFSET, -c.uleb() * da);
        break;
      } // GNU_negative_offset_extended
      default:
        return false;
    }
  }
  return true;
}
