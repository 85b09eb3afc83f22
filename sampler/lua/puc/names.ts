/**
 * How Lua names a called function from its caller's code, replayed over a decoded Proto, one
 * implementation per ldebug.c family (the differences inside a family are data: layout.names):
 *   5.1      funcnamefromcode-equivalent in getfuncname, getobjname over symbexec
 *   5.2/5.3  getfuncname/funcnamefromcode, getobjname over findsetreg, RK operands
 *   5.4      funcnamefromcode, getobjname/basicgetobjname over findsetreg (MMBIN, k bit)
 * Returns { namewhat, name } or null.
 */
import type { PucLayout } from './layout.js';
import { instructionFormat, opcodeIndex } from './instructions.js';
import type { ProtoInfo } from './proto.js';

export type NameInfo = { namewhat: string; name: string };

const MAX_MOVE_CHAIN = 64;
/** RK operands of 5.1-5.3: bit 8 of B/C selects a constant. */
const BITRK = 1 << 8;

/** Metamethods called directly by an instruction (5.2/5.3: arithmetic has no MMBIN). */
const TM_BY_OP_53: Record<string, string> = {
  SELF: 'index',
  GETTABUP: 'index',
  GETTABLE: 'index',
  SETTABUP: 'newindex',
  SETTABLE: 'newindex',
  ADD: 'add',
  SUB: 'sub',
  MUL: 'mul',
  MOD: 'mod',
  POW: 'pow',
  DIV: 'div',
  IDIV: 'idiv',
  BAND: 'band',
  BOR: 'bor',
  BXOR: 'bxor',
  SHL: 'shl',
  SHR: 'shr',
  UNM: 'unm',
  BNOT: 'bnot',
  LEN: 'len',
  CONCAT: 'concat',
  EQ: 'eq',
  LT: 'lt',
  LE: 'le',
};

const TM_BY_OP_54: Record<string, string> = {
  SELF: 'index',
  GETTABUP: 'index',
  GETTABLE: 'index',
  GETI: 'index',
  GETFIELD: 'index',
  SETTABUP: 'newindex',
  SETTABLE: 'newindex',
  SETI: 'newindex',
  SETFIELD: 'newindex',
  UNM: 'unm',
  BNOT: 'bnot',
  LEN: 'len',
  CONCAT: 'concat',
  EQ: 'eq',
  LT: 'lt',
  LTI: 'lt',
  GTI: 'lt',
  LE: 'le',
  LEI: 'le',
  GEI: 'le',
  CLOSE: 'close',
  RETURN: 'close',
};

/**
 * What `compute` says of instruction `pc` of a function, computed once (Protos do not change).
 * Hostile bytecode that makes it throw gets `fallback` (no name, no check) rather than a crash.
 */
function perPc<T>(
  cache: Map<ProtoInfo, Map<number, T>>,
  p: ProtoInfo,
  pc: number,
  fallback: T,
  compute: () => T,
): T {
  let perProto = cache.get(p);
  if (!perProto) {
    if (cache.size > 20_000) cache.clear();
    perProto = new Map();
    cache.set(p, perProto);
  }
  if (perProto.has(pc)) return perProto.get(pc)!;
  let result = fallback;
  try {
    result = compute();
  } catch {
    /* hostile bytecode */
  }
  perProto.set(pc, result);
  return result;
}

export class NameInference {
  private readonly fmt;
  private readonly ops;
  private readonly cache = new Map<ProtoInfo, Map<number, NameInfo | null>>();
  private readonly locals = new Map<ProtoInfo, Map<number, number>>();

  constructor(private readonly layout: PucLayout) {
    this.fmt = instructionFormat(layout);
    this.ops = opcodeIndex(layout);
  }

  private opName(i: number): string | undefined {
    return this.layout.opcodes.names[this.fmt.op(i)];
  }

  /**
   * The register of the local variable whose function `caller` calls at instruction `pc` (the
   * call's register moved from it, through MOVEs), or -1 when the function came from elsewhere.
   */
  calleeLocal(caller: ProtoInfo, pc: number): number {
    return perPc(this.locals, caller, pc, -1, () => this.findCalleeLocal(caller, pc));
  }

  private findCalleeLocal(p: ProtoInfo, pc: number): number {
    const code = p.code();
    if (!code || pc < 0 || pc >= code.length) return -1;
    if (this.opName(code[pc]) !== 'CALL') return -1;
    let reg = this.fmt.a(code[pc]);
    let at = pc;
    for (let depth = 0; depth <= MAX_MOVE_CHAIN; depth++) {
      if (p.localName(reg + 1, at) !== null) return reg;
      const set = this.findSetReg(code, at, reg);
      if (set < 0 || this.opName(code[set]) !== 'MOVE' || this.fmt.a(code[set]) !== reg) return -1;
      reg = this.fmt.b(code[set]);
      at = set;
    }
    return -1;
  }

  /** A metamethod name as the release prints it ("index" in 5.4, "__index" before). */
  metamethod(event: string): NameInfo {
    return { namewhat: 'metamethod', name: this.layout.names.metamethodStripped ? event : `__${event}` };
  }

  /** Name of the function called by `caller` at instruction `pc`. */
  calledFrom(caller: ProtoInfo, pc: number): NameInfo | null {
    return perPc(this.cache, caller, pc, null, () => this.funcNameFromCode(caller, pc));
  }

  private funcNameFromCode(p: ProtoInfo, pc: number): NameInfo | null {
    const code = p.code();
    if (!code || pc < 0 || pc >= code.length) return null;
    const i = code[pc];
    const op = this.opName(i);
    if (op === undefined) return null;
    switch (this.layout.family) {
      case '5.1':
        // ldebug.c 5.1 getfuncname: only calls and the generic-for call name a function.
        return op === 'CALL' || op === 'TAILCALL' || op === 'TFORLOOP'
          ? this.objName51(p, pc, this.fmt.a(i), 0)
          : null;
      case '5.2':
      case '5.3': {
        if (op === 'CALL' || op === 'TAILCALL') return this.objName53(p, pc, this.fmt.a(i), 0);
        if (op === 'TFORCALL') return { namewhat: 'for iterator', name: 'for iterator' };
        const tm = TM_BY_OP_53[op];
        return tm ? this.metamethod(tm) : null;
      }
      default: {
        if (op === 'CALL' || op === 'TAILCALL') return this.objName54(p, pc, this.fmt.a(i), 0);
        if (op === 'TFORCALL') return { namewhat: 'for iterator', name: 'for iterator' };
        if (op === 'MMBIN' || op === 'MMBINI' || op === 'MMBINK')
          return this.metamethod(this.layout.opcodes.tmNames[this.fmt.c(i)] ?? '?');
        const tm = TM_BY_OP_54[op];
        return tm ? this.metamethod(tm) : null;
      }
    }
  }

  // ---------------------------------------------------------------- 5.1

  /** 5.1 getobjname: every step looks at the caller's current pc (symbexec up to lastpc). */
  private objName51(p: ProtoInfo, lastpc: number, reg: number, depth: number): NameInfo | null {
    if (depth > MAX_MOVE_CHAIN) return null;
    const local = p.localName(reg + 1, lastpc);
    if (local !== null) return { namewhat: 'local', name: local };
    const code = p.code()!;
    const at = this.symbexec51(p, code, lastpc, reg);
    if (at < 0) return null;
    const i = code[at];
    const f = this.fmt;
    switch (this.opName(i)) {
      case 'GETGLOBAL':
        return { namewhat: 'global', name: p.constantString(f.bx(i)) ?? '?' };
      case 'MOVE': {
        const b = f.b(i);
        return b < f.a(i) ? this.objName51(p, lastpc, b, depth + 1) : null;
      }
      case 'GETTABLE':
        return { namewhat: 'field', name: this.kname51(p, f.c(i)) };
      case 'GETUPVAL':
        return { namewhat: 'upvalue', name: p.upvalueName(f.b(i)) };
      case 'SELF':
        return { namewhat: 'method', name: this.kname51(p, f.c(i)) };
      default:
        return null;
    }
  }

  private kname51(p: ProtoInfo, c: number): string {
    return c & BITRK ? (p.constantString(c & ~BITRK) ?? '?') : '?';
  }

  /**
   * 5.1 symbexec(pt, lastpc, reg) for a valid function: the last instruction before lastpc that changed
   * reg, following forward jumps that land before lastpc and skipping CLOSURE's pseudo-instructions.
   * Returns its index, or -1 (symbexec's "final return": no name).
   */
  private symbexec51(p: ProtoInfo, code: Uint32Array, lastpc: number, reg: number): number {
    const f = this.fmt;
    const n = this.ops.num;
    let last = -1;
    for (let pc = 0; pc < lastpc && pc < code.length; pc++) {
      const i = code[pc];
      const op = f.op(i);
      const a = f.a(i);
      const b = f.b(i);
      const c = f.c(i);
      if (this.ops.setsA[op] === 1 && a === reg) last = pc;
      if (op === n.LOADNIL) {
        if (a <= reg && reg <= b) last = pc;
      } else if (op === n.SELF) {
        if (reg === a + 1) last = pc;
      } else if (op === n.TFORLOOP) {
        if (reg >= a + 2) last = pc;
      } else if (op === n.FORLOOP || op === n.FORPREP || op === n.JMP) {
        const sbx = f.sBx(i);
        const dest = pc + 1 + sbx;
        if (pc < dest && dest <= lastpc) pc += sbx;
      } else if (op === n.CALL || op === n.TAILCALL) {
        if (reg >= a) last = pc;
      } else if (op === n.SETLIST) {
        if (c === 0) pc++;
      } else if (op === n.CLOSURE) {
        const nup = p.childNups(f.bx(i));
        if (nup === null) return -1; // symbexec's check() failing: no name
        pc += nup;
      }
    }
    return last;
  }

  // ---------------------------------------------------------------- 5.2 / 5.3

  /** getobjname's start (5.2+): a named local, else the instruction that last set the register. */
  private localOrSetter(
    p: ProtoInfo,
    lastpc: number,
    reg: number,
  ): NameInfo | { code: Uint32Array; pc: number; i: number } | null {
    const local = p.localName(reg + 1, lastpc);
    if (local !== null) return { namewhat: 'local', name: local };
    const code = p.code()!;
    const pc = this.findSetReg(code, lastpc, reg);
    return pc < 0 ? null : { code, pc, i: code[pc] };
  }

  /** LOADK / LOADKX at pc: the constant's name when it is a string. */
  private loadedConstant(p: ProtoInfo, code: Uint32Array, pc: number): NameInfo | null {
    const i = code[pc];
    const k =
      this.opName(i) === 'LOADK' ? this.fmt.bx(i) : pc + 1 < code.length ? this.fmt.ax(code[pc + 1]) : -1;
    const s = p.constantString(k);
    return s !== null ? { namewhat: 'constant', name: s } : null;
  }

  /** 5.2/5.3 getobjname. */
  private objName53(p: ProtoInfo, lastpc: number, reg: number, depth: number): NameInfo | null {
    if (depth > MAX_MOVE_CHAIN) return null;
    const setter = this.localOrSetter(p, lastpc, reg);
    if (setter === null || 'namewhat' in setter) return setter;
    const { code, pc, i } = setter;
    const f = this.fmt;
    const op = this.opName(i);
    switch (op) {
      case 'MOVE': {
        const b = f.b(i);
        return b < f.a(i) ? this.objName53(p, pc, b, depth + 1) : null;
      }
      case 'GETTABUP':
      case 'GETTABLE': {
        const t = f.b(i);
        const vn = op === 'GETTABLE' ? p.localName(t + 1, pc) : p.upvalueName(t);
        const name = this.kname53(p, pc, f.c(i), depth);
        return { namewhat: vn === '_ENV' ? 'global' : 'field', name };
      }
      case 'GETUPVAL':
        return { namewhat: 'upvalue', name: p.upvalueName(f.b(i)) };
      case 'LOADK':
      case 'LOADKX':
        return this.loadedConstant(p, code, pc);
      case 'SELF':
        return { namewhat: 'method', name: this.kname53(p, pc, f.c(i), depth) };
      default:
        return null;
    }
  }

  /** 5.2/5.3 kname: an RK operand's name when it is a string constant. */
  private kname53(p: ProtoInfo, pc: number, c: number, depth: number): string {
    if (c & BITRK) return p.constantString(c & ~BITRK) ?? '?';
    const r = this.objName53(p, pc, c, depth + 1);
    return r && r.namewhat === 'constant' ? r.name : '?';
  }

  // ---------------------------------------------------------------- 5.4

  /** 5.4 getobjname (5.4.7: basicgetobjname plus table accesses). */
  private objName54(
    p: ProtoInfo,
    lastpc: number,
    reg: number,
    depth: number,
    basic = false,
  ): NameInfo | null {
    if (depth > MAX_MOVE_CHAIN) return null;
    const setter = this.localOrSetter(p, lastpc, reg);
    if (setter === null || 'namewhat' in setter) return setter;
    const { code, pc, i } = setter;
    const f = this.fmt;
    const op = this.opName(i);
    switch (op) {
      case 'MOVE': {
        const b = f.b(i);
        return b < f.a(i) ? this.objName54(p, pc, b, depth + 1, basic) : null;
      }
      case 'GETUPVAL':
        return { namewhat: 'upvalue', name: p.upvalueName(f.b(i)) };
      case 'LOADK':
      case 'LOADKX':
        return this.loadedConstant(p, code, pc);
    }
    if (basic) return null;
    switch (op) {
      case 'GETTABUP': {
        const name = p.constantString(f.c(i)) ?? '?';
        return { namewhat: p.upvalueName(f.b(i)) === '_ENV' ? 'global' : 'field', name };
      }
      case 'GETTABLE': {
        const key = this.objName54(p, pc, f.c(i), depth + 1, this.layout.names.isEnvBasic);
        const name = key && key.namewhat === 'constant' ? key.name : '?';
        return { namewhat: this.isEnvRegister(p, pc, f.b(i), depth) ? 'global' : 'field', name };
      }
      case 'GETI':
        return { namewhat: 'field', name: 'integer index' };
      case 'GETFIELD': {
        const name = p.constantString(f.c(i)) ?? '?';
        return { namewhat: this.isEnvRegister(p, pc, f.b(i), depth) ? 'global' : 'field', name };
      }
      case 'SELF': {
        let name: string;
        if (f.k(i)) name = p.constantString(f.c(i)) ?? '?';
        else {
          const key = this.objName54(p, pc, f.c(i), depth + 1, this.layout.names.isEnvBasic);
          name = key && key.namewhat === 'constant' ? key.name : '?';
        }
        return { namewhat: 'method', name };
      }
      default:
        return null;
    }
  }

  /**
   * gxf / isEnv with isup = 0: is the indexed table named _ENV? Any name before 5.4.8 (a string
   * constant "_ENV" too); from 5.4.8 only a local's or an upvalue's (layout.names.envVariableOnly).
   */
  private isEnvRegister(p: ProtoInfo, pc: number, reg: number, depth: number): boolean {
    const t = this.objName54(p, pc, reg, depth + 1, this.layout.names.isEnvBasic);
    if (t === null || t.name !== '_ENV') return false;
    return !this.layout.names.envVariableOnly || t.namewhat === 'local' || t.namewhat === 'upvalue';
  }

  /** findsetreg (5.2-5.4): last instruction before lastpc that changed `reg`, or -1. */
  private findSetReg(code: Uint32Array, lastpc: number, reg: number): number {
    const f = this.fmt;
    const n = this.ops.num;
    const is54 = this.layout.family === '5.4';
    if (is54 && lastpc < code.length && this.ops.mm[f.op(code[lastpc])]) lastpc--;
    let setreg = -1;
    let jmptarget = 0;
    for (let pc = 0; pc < lastpc && pc < code.length; pc++) {
      const i = code[pc];
      const op = f.op(i);
      const a = f.a(i);
      let change: boolean;
      if (op === n.LOADNIL) change = a <= reg && reg <= a + f.b(i);
      else if (op === n.TFORCALL) change = reg >= a + 2;
      else if (op === n.CALL || op === n.TAILCALL) change = reg >= a;
      else if (op === n.JMP) {
        const dest = pc + 1 + (is54 ? f.sJ(i) : f.sBx(i));
        // 5.2/5.3 also require a forward jump (pc < dest); 5.4 only dest <= lastpc.
        if ((is54 || pc < dest) && dest <= lastpc && dest > jmptarget) jmptarget = dest;
        change = false;
      } else if (op === n.TEST && this.layout.names.testChangesA) change = reg === a;
      else change = this.ops.setsA[op] === 1 && reg === a;
      if (change) setreg = pc < jmptarget ? -1 : pc;
    }
    return setreg;
  }
}
