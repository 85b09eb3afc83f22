/**
 * CFI unwinder over a copied stack. Works after the target has resumed: the top of the stack comes
 * from the copy, anything else through Memory. Never throws, never loops (every step must raise the
 * stack pointer, and depth is bounded).
 */
import type { Memory } from '../os/memory.js';
import type { Mapping } from '../os/maps.js';
import type { Registers } from '../os/registers.js';
import { evalExpr, type ExprContext } from './dwarf.js';
import {
  NREGS,
  REG_RA,
  REG_RSP,
  REG_RBP,
  R_EXPR,
  R_OFFSET,
  R_REG,
  R_SAME,
  R_UNDEF,
  R_UNSPEC,
  R_VAL_EXPR,
  R_VAL_OFFSET,
  type Row,
} from './cfi.js';
import { ProcessModules } from './modules.js';

export type CalleeSaved = 'rbx' | 'rbp' | 'r12' | 'r13' | 'r14' | 'r15';

export interface NativeFrame {
  /** For frame 0 the exact rip; for callers the return address (look up pc-1 to symbolize a call site). */
  pc: number;
  /** Stack pointer while executing in this frame. */
  sp: number;
  /** Canonical frame address of this frame (its caller's sp after return); 0 when not known. */
  cfa: number;
  /** Callee-saved registers as they were in this frame; only known values are present. */
  regs: Partial<Record<CalleeSaved, number>>;
  /**
   * How this frame was recovered: 'regs' = frame 0 from the registers, 'cfi' = by .eh_frame CFI of
   * its callee, 'fp' = by a frame-pointer step (callee had no FDE), 'leaf' = return address taken
   * from [rsp] of a frame-0 function without FDE.
   */
  method: 'regs' | 'cfi' | 'fp' | 'leaf';
  /** This frame is a signal trampoline (__restore_rt); its caller is the interrupted frame. */
  signal?: boolean;
}

/** DWARF numbering of x86_64 registers. */
export const DWARF_REG_NAMES = [
  'rax',
  'rdx',
  'rcx',
  'rbx',
  'rsi',
  'rdi',
  'rbp',
  'rsp',
  'r8',
  'r9',
  'r10',
  'r11',
  'r12',
  'r13',
  'r14',
  'r15',
  'rip',
] as const;

const CALLEE_SAVED: readonly [number, CalleeSaved][] = [
  [3, 'rbx'],
  [6, 'rbp'],
  [12, 'r12'],
  [13, 'r13'],
  [14, 'r14'],
  [15, 'r15'],
];
const CALLEE_SAVED_MASK = (1 << 3) | (1 << 6) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v = Math.floor(v / 128);
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** The kernel's rt_sigframe as seen at __restore_rt: rsp points at the ucontext. */
const SIGFRAME_GREG_OFF: Record<number, number> = {
  8: 40,
  9: 48,
  10: 56,
  11: 64,
  12: 72,
  13: 80,
  14: 88,
  15: 96,
  5: 104,
  4: 112,
  6: 120,
  3: 128,
  1: 136,
  0: 144,
  2: 152,
  7: 160,
  16: 168,
};

function sigreturnRow(pc: number): Row {
  const rule = new Uint8Array(NREGS);
  const val = new Float64Array(NREGS);
  const expr: (Buffer | null)[] = new Array<Buffer | null>(NREGS).fill(null);
  for (const [r, off] of Object.entries(SIGFRAME_GREG_OFF)) {
    const n = Number(r);
    if (n === REG_RSP) continue;
    rule[n] = R_EXPR;
    expr[n] = Buffer.from([0x77, ...sleb(off)]);
  }
  // rsp: value stored in the ucontext (val_expression of breg7+160 deref).
  rule[REG_RSP] = R_EXPR;
  expr[REG_RSP] = Buffer.from([0x77, ...sleb(160)]);
  return {
    cfaReg: -1,
    cfaOff: 0,
    cfaExpr: Buffer.from([0x77, ...sleb(160), 0x06]),
    rule,
    val,
    expr,
    raReg: REG_RA,
    signal: true,
    start: pc,
    end: pc + 9,
    active: null,
  };
}

/** mov $0xf,%rax ; syscall */
const SIGRETURN_CODE = Buffer.from([0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05]);

export interface UnwindStats {
  unwinds: number;
  frames: number;
  rowHits: number;
  rowMisses: number;
}

export class NativeUnwinder {
  readonly modules: ProcessModules;
  private rowCache = new Map<number, Row | null>();
  private generation = -1;
  private maxCache = 200_000;
  readonly stats: UnwindStats = { unwinds: 0, frames: 0, rowHits: 0, rowMisses: 0 };

  // Per-unwind state (reused to avoid allocation).
  private regs = new Float64Array(NREGS);
  private known = 0;
  private nregs = new Float64Array(NREGS);
  private stackAddr = 0;
  private stackBuf: Buffer = Buffer.alloc(0);
  private readonly ctx: ExprContext;

  constructor(
    readonly pid: number,
    readonly mem: Memory,
    opts: { maps?: Mapping[]; modules?: ProcessModules } = {},
  ) {
    this.modules = opts.modules ?? new ProcessModules(pid, mem, opts.maps);
    this.ctx = {
      reg: (n) => (n < NREGS && this.known & (1 << n) ? this.regs[n] : null),
      readU64: (a) => this.readU64(a),
    };
  }

  /** Re-reads /proc/PID/maps; drops cached rows when the mappings changed. */
  refreshMaps(): void {
    this.modules.refresh();
  }

  /** Installs a recorded mapping list instead of reading /proc. */
  setMaps(maps: Mapping[]): void {
    this.modules.setMaps(maps);
  }

  private readU64(addr: number): number | null {
    const off = addr - this.stackAddr;
    const b = this.stackBuf;
    if (off >= 0 && off + 8 <= b.length) {
      const hi = b.readUInt32LE(off + 4);
      if (hi > 0x1fffff) return -1;
      return hi * 0x1_0000_0000 + b.readUInt32LE(off);
    }
    if (!Number.isSafeInteger(addr) || addr < 0) return null;
    const r = this.mem.read(addr, 8);
    if (!r || r.length < 8) return null;
    const hi = r.readUInt32LE(4);
    if (hi > 0x1fffff) return -1;
    return hi * 0x1_0000_0000 + r.readUInt32LE(0);
  }

  /** The unwind row for an absolute lookup address (cached). */
  rowAt(pc: number): Row | null {
    if (this.generation !== this.modules.generation) {
      this.generation = this.modules.generation;
      this.rowCache.clear();
    }
    const hit = this.rowCache.get(pc);
    if (hit !== undefined) {
      this.stats.rowHits++;
      return hit;
    }
    this.stats.rowMisses++;
    let row: Row | null = null;
    try {
      const l = this.modules.lookup(pc);
      if (l) {
        const eh = l.mod.ehFrame();
        if (eh) row = eh.rowAt(pc - l.bias);
      }
      if (!row) row = this.sigreturnAt(pc);
    } catch {
      row = null;
    }
    if (this.rowCache.size >= this.maxCache) this.rowCache.clear();
    this.rowCache.set(pc, row);
    return row;
  }

  private code(addr: number, len: number): Buffer | null {
    const l = this.modules.lookup(addr);
    if (l) {
      const b = l.mod.loaded.elf.readVaddr(addr - l.bias, len);
      if (b) return b;
    }
    return this.mem.read(addr, len);
  }

  /** A synthesized signal-frame row when pc sits in the `mov $15,%rax; syscall` sequence. */
  private sigreturnAt(pc: number): Row | null {
    for (const back of [0, 7, 9]) {
      const b = this.code(pc - back, SIGRETURN_CODE.length);
      if (b && b.equals(SIGRETURN_CODE)) return sigreturnRow(pc - back);
    }
    return null;
  }

  private looksLikeReturnAddress(ra: number): boolean {
    if (!this.modules.isExecutable(ra)) return false;
    const b = this.code(ra - 7, 7);
    if (!b) return false;
    if (b[2] === 0xe8) return true; // call rel32
    if (b[1] === 0xff && ((b[2] >> 3) & 7) === 2) return true; // call [mem] (6-byte forms)
    if (b[4] === 0xff && ((b[5] >> 3) & 7) === 2 && b[5] >> 6 === 1) return true; // call disp8(reg)
    if (b[5] === 0xff && ((b[6] >> 3) & 7) === 2 && b[6] >> 6 === 3) return true; // call *reg
    if (b[3] === 0xff && ((b[4] >> 3) & 7) === 2) return true; // call with SIB/disp8
    return false;
  }

  private stackTop(sp: number): number {
    const m = this.modules.mappingAt(sp);
    const copyEnd = this.stackAddr + this.stackBuf.length;
    if (m && m.writable) return Math.max(m.end, sp <= copyEnd && sp >= this.stackAddr ? copyEnd : 0);
    if (sp >= this.stackAddr && sp < copyEnd) return copyEnd;
    return 0;
  }

  /** A frame-pointer step from the current registers; false when rbp is not a plausible frame. */
  private fpStep(): boolean {
    if (!(this.known & (1 << REG_RBP)) || !(this.known & (1 << REG_RSP))) return false;
    const sp = this.regs[REG_RSP];
    const bp = this.regs[REG_RBP];
    if (bp < sp || bp % 8 !== 0) return false;
    const top = this.stackTop(sp);
    if (bp + 16 > top) return false;
    const saved = this.readU64(bp);
    const ra = this.readU64(bp + 8);
    if (saved === null || ra === null || ra <= 0) return false;
    // The saved rbp is the caller's rbp, which need not be a frame pointer (a caller with CFI may use
    // rbp as a general register), so it is not checked; the return address must follow a call.
    if (!this.looksLikeReturnAddress(ra)) return false;
    const n = this.nregs;
    n.fill(0);
    n[REG_RSP] = bp + 16;
    n[REG_RBP] = saved;
    n[REG_RA] = ra;
    this.regs.set(n);
    this.known = (1 << REG_RSP) | (1 << REG_RBP) | (1 << REG_RA);
    return true;
  }

  private frameRegs(): Partial<Record<CalleeSaved, number>> {
    const k = this.known;
    const r = this.regs;
    if ((k & CALLEE_SAVED_MASK) === CALLEE_SAVED_MASK) {
      return { rbx: r[3], rbp: r[6], r12: r[12], r13: r[13], r14: r[14], r15: r[15] };
    }
    const out: Partial<Record<CalleeSaved, number>> = {};
    for (const [n, name] of CALLEE_SAVED) if (k & (1 << n)) out[name] = r[n];
    return out;
  }

  /** Registers whose rule is not "unspecified", computed once per row. */
  private static active(row: Row): Uint8Array {
    if (row.active === null) {
      const list: number[] = [];
      for (let r = 0; r < NREGS; r++) if (row.rule[r] !== R_UNSPEC) list.push(r);
      row.active = Uint8Array.from(list);
    }
    return row.active;
  }

  /**
   * Applies a row: computes the CFA and the caller's registers into this.regs/this.known.
   * Returns the CFA, or -1 when the caller cannot be recovered, or -2 when the return address is
   * undefined (outermost frame).
   */
  private applyRow(row: Row): number {
    const regs = this.regs;
    const known = this.known;
    let cfa: number | null;
    if (row.cfaExpr) cfa = evalExpr(row.cfaExpr, this.ctx);
    else if (row.cfaReg >= 0 && row.cfaReg < NREGS && known & (1 << row.cfaReg))
      cfa = regs[row.cfaReg] + row.cfaOff;
    else cfa = null;
    if (cfa === null || cfa <= 0) return -1;
    const n = this.nregs;
    n.set(regs);
    // Unspecified rules: callee-saved registers keep their value, rsp becomes the CFA, the rest
    // (caller-saved, and the return address) are unknown.
    let nk = (known & CALLEE_SAVED_MASK) | (1 << REG_RSP);
    n[REG_RSP] = cfa;
    const active = NativeUnwinder.active(row);
    for (let i = 0; i < active.length; i++) {
      const r = active[i];
      let v: number | null = null;
      switch (row.rule[r]) {
        case R_SAME:
          if (known & (1 << r)) v = regs[r];
          break;
        case R_UNDEF:
          if (r === row.raReg) return -2;
          break;
        case R_OFFSET: {
          const at = cfa + row.val[r];
          // GCC's epilogue CFI tracks the CFA but not the pops: a slot already below rsp was popped
          // back into the register, which holds the caller's value now (the slot may be reused).
          if (at < regs[REG_RSP] && CALLEE_SAVED_MASK & (1 << r)) {
            if (known & (1 << r)) v = regs[r];
          } else v = this.readU64(at);
          break;
        }
        case R_VAL_OFFSET:
          v = cfa + row.val[r];
          break;
        case R_REG: {
          const src = row.val[r];
          if (src < NREGS && known & (1 << src)) v = regs[src];
          break;
        }
        case R_EXPR: {
          const e = row.expr?.[r];
          const addr = e ? evalExpr(e, this.ctx, cfa) : null;
          if (addr !== null) v = this.readU64(addr);
          break;
        }
        case R_VAL_EXPR: {
          const e = row.expr?.[r];
          v = e ? evalExpr(e, this.ctx, cfa) : null;
          break;
        }
      }
      if (v !== null && v >= 0) {
        n[r] = v;
        nk |= 1 << r;
      } else nk &= ~(1 << r);
    }
    if (row.raReg !== REG_RA) {
      if (!(nk & (1 << row.raReg))) return -1;
      n[REG_RA] = n[row.raReg];
      nk |= 1 << REG_RA;
    }
    // Swap the register files (the expression context reads this.regs).
    this.nregs = regs;
    this.regs = n;
    this.known = nk;
    return cfa;
  }

  unwind(regs: Partial<Registers>, stack: { addr: number; bytes: Buffer }, maxFrames = 256): NativeFrame[] {
    const frames: NativeFrame[] = [];
    try {
      this.unwindInto(regs, stack, Math.max(1, Math.min(maxFrames, 4096)), frames);
    } catch {
      /* never escape: return what we have */
    }
    this.stats.unwinds++;
    this.stats.frames += frames.length;
    return frames;
  }

  private unwindInto(
    input: Partial<Registers>,
    stack: { addr: number; bytes: Buffer },
    maxFrames: number,
    frames: NativeFrame[],
  ): void {
    this.stackAddr = stack.addr;
    this.stackBuf = stack.bytes;
    let regs = this.regs;
    this.known = 0;
    for (let i = 0; i < NREGS; i++) {
      const v = input[DWARF_REG_NAMES[i]];
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
        regs[i] = v;
        this.known |= 1 << i;
      } else regs[i] = 0;
    }
    if (!(this.known & (1 << REG_RA)) || !(this.known & (1 << REG_RSP))) return;
    let method: NativeFrame['method'] = 'regs';
    let exactPc = true; // frame 0, or the frame interrupted by a signal
    let refreshed = false;
    for (let depth = 0; depth < maxFrames; depth++) {
      regs = this.regs;
      const pc = regs[REG_RA];
      const sp = regs[REG_RSP];
      if (pc <= 0) return;
      const lookupPc = exactPc ? pc : pc - 1;
      let row = this.rowAt(lookupPc);
      // A row implies pc is in an executable object; otherwise check the mappings.
      if (depth > 0 && !row && !this.modules.isExecutable(pc)) {
        if (refreshed || Date.now() - this.modules.lastRefresh < 1000) return;
        refreshed = true;
        this.refreshMaps();
        if (!this.modules.isExecutable(pc)) return;
        row = this.rowAt(lookupPc);
      }
      const frame: NativeFrame = { pc, sp, cfa: 0, regs: this.frameRegs(), method };
      frames.push(frame);
      if (
        !row &&
        depth === 0 &&
        !refreshed &&
        !this.modules.lookup(pc) &&
        Date.now() - this.modules.lastRefresh >= 1000
      ) {
        refreshed = true;
        this.refreshMaps();
        row = this.rowAt(lookupPc);
      }
      if (row) {
        const cfa = this.applyRow(row);
        if (cfa < 0) return;
        frame.cfa = cfa;
        if (row.signal) frame.signal = true;
        exactPc = row.signal;
        method = 'cfi';
        regs = this.regs;
        const nsp = regs[REG_RSP];
        if (!(this.known & (1 << REG_RA)) || !(this.known & (1 << REG_RSP))) return;
        if (!row.signal && nsp <= sp) return;
        continue;
      }
      // No CFI for this pc.
      exactPc = false;
      if (depth === 0) {
        const ra = this.readU64(sp);
        if (ra !== null && ra > 0 && this.looksLikeReturnAddress(ra)) {
          frame.cfa = sp + 8;
          regs[REG_RA] = ra;
          regs[REG_RSP] = sp + 8;
          this.known &= ~0x0f37; // caller-saved become unknown
          method = 'leaf';
          continue;
        }
      }
      if (this.fpStep()) {
        frame.cfa = regs[REG_RSP];
        method = 'fp';
        if (regs[REG_RSP] <= sp) return;
        continue;
      }
      return;
    }
  }
}
