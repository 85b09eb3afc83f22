/**
 * How Lua names a called function from its caller's code (ldebug.c: funcnamefromcode, getobjname,
 * findsetreg), replayed over a decoded Proto. Returns [namewhat, name] or null.
 */
import type { PucLayout } from '../layout.js';
import { instructionFormat, opcodeIndex } from './instructions.js';
import type { ProtoInfo } from './proto.js';

export type NameInfo = { namewhat: string; name: string };

const MAX_MOVE_CHAIN = 64;

export class NameInference {
  private readonly fmt;
  private readonly ops;
  private readonly cache = new Map<ProtoInfo, Map<number, NameInfo | null>>();

  constructor(private readonly layout: PucLayout) {
    this.fmt = instructionFormat(layout);
    this.ops = opcodeIndex(layout);
  }

  private opName(i: number): string | undefined {
    return this.layout.opcodes.names[this.fmt.op(i)];
  }

  /** Name of the function called by `caller` at instruction `pc`. */
  calledFrom(caller: ProtoInfo, pc: number): NameInfo | null {
    let perProto = this.cache.get(caller);
    if (!perProto) {
      if (this.cache.size > 20_000) this.cache.clear();
      perProto = new Map();
      this.cache.set(caller, perProto);
    }
    if (perProto.has(pc)) return perProto.get(pc)!;
    let result: NameInfo | null = null;
    try {
      result = this.funcNameFromCode(caller, pc);
    } catch {
      result = null; // hostile bytecode: no name rather than a crash
    }
    perProto.set(pc, result);
    return result;
  }

  private funcNameFromCode(p: ProtoInfo, pc: number): NameInfo | null {
    const code = p.code();
    if (!code || pc < 0 || pc >= code.length) return null;
    const i = code[pc];
    const op = this.opName(i);
    const tm = (event: string): NameInfo => ({ namewhat: 'metamethod', name: event });
    switch (op) {
      case 'CALL':
      case 'TAILCALL':
        return this.objName(p, pc, this.fmt.a(i), 0);
      case 'TFORCALL':
        return { namewhat: 'for iterator', name: 'for iterator' };
      case 'SELF':
      case 'GETTABUP':
      case 'GETTABLE':
      case 'GETI':
      case 'GETFIELD':
        return tm('index');
      case 'SETTABUP':
      case 'SETTABLE':
      case 'SETI':
      case 'SETFIELD':
        return tm('newindex');
      case 'MMBIN':
      case 'MMBINI':
      case 'MMBINK':
        return tm(this.layout.opcodes.tmNames[this.fmt.c(i)] ?? '?');
      case 'UNM':
        return tm('unm');
      case 'BNOT':
        return tm('bnot');
      case 'LEN':
        return tm('len');
      case 'CONCAT':
        return tm('concat');
      case 'EQ':
        return tm('eq');
      case 'LT':
      case 'LTI':
      case 'GTI':
        return tm('lt');
      case 'LE':
      case 'LEI':
      case 'GEI':
        return tm('le');
      case 'CLOSE':
      case 'RETURN':
        return tm('close');
      default:
        return null;
    }
  }

  /** getobjname */
  private objName(p: ProtoInfo, lastpc: number, reg: number, depth: number): NameInfo | null {
    if (depth > MAX_MOVE_CHAIN) return null;
    const local = p.localName(reg + 1, lastpc);
    if (local !== null) return { namewhat: 'local', name: local };
    const code = p.code()!;
    const pc = this.findSetReg(code, lastpc, reg);
    if (pc < 0) return null;
    const i = code[pc];
    const f = this.fmt;
    switch (this.opName(i)) {
      case 'MOVE': {
        const b = f.b(i);
        return b < f.a(i) ? this.objName(p, pc, b, depth + 1) : null;
      }
      case 'GETTABUP': {
        const name = p.constantString(f.c(i)) ?? '?';
        return { namewhat: p.upvalueName(f.b(i)) === '_ENV' ? 'global' : 'field', name };
      }
      case 'GETTABLE': {
        const key = this.objName(p, pc, f.c(i), depth + 1);
        const name = key && key.namewhat === 'constant' ? key.name : '?';
        return { namewhat: this.isEnvRegister(p, pc, f.b(i), depth) ? 'global' : 'field', name };
      }
      case 'GETI':
        return { namewhat: 'field', name: 'integer index' };
      case 'GETFIELD': {
        const name = p.constantString(f.c(i)) ?? '?';
        return { namewhat: this.isEnvRegister(p, pc, f.b(i), depth) ? 'global' : 'field', name };
      }
      case 'GETUPVAL':
        return { namewhat: 'upvalue', name: p.upvalueName(f.b(i)) };
      case 'LOADK':
      case 'LOADKX': {
        const k = this.opName(i) === 'LOADK' ? f.bx(i) : pc + 1 < code.length ? f.ax(code[pc + 1]) : -1;
        const s = p.constantString(k);
        return s !== null ? { namewhat: 'constant', name: s } : null;
      }
      case 'SELF': {
        let name: string;
        if (f.k(i)) name = p.constantString(f.c(i)) ?? '?';
        else {
          const key = this.objName(p, pc, f.c(i), depth + 1);
          name = key && key.namewhat === 'constant' ? key.name : '?';
        }
        return { namewhat: 'method', name };
      }
      default:
        return null;
    }
  }

  /** gxf with isup = 0: is the indexed table a variable named _ENV? */
  private isEnvRegister(p: ProtoInfo, pc: number, reg: number, depth: number): boolean {
    const t = this.objName(p, pc, reg, depth + 1);
    return t !== null && t.name === '_ENV';
  }

  /** findsetreg: last instruction before lastpc that changed `reg`, or -1. */
  private findSetReg(code: Uint32Array, lastpc: number, reg: number): number {
    const f = this.fmt;
    const n = this.ops.num;
    if (lastpc < code.length && this.ops.mm[f.op(code[lastpc])]) lastpc--;
    let setreg = -1;
    let jmptarget = 0;
    for (let pc = 0; pc < lastpc; pc++) {
      const i = code[pc];
      const op = f.op(i);
      const a = f.a(i);
      let change: boolean;
      if (op === n.LOADNIL) change = a <= reg && reg <= a + f.b(i);
      else if (op === n.TFORCALL) change = reg >= a + 2;
      else if (op === n.CALL || op === n.TAILCALL) change = reg >= a;
      else if (op === n.JMP) {
        const dest = pc + 1 + f.sJ(i);
        if (dest <= lastpc && dest > jmptarget) jmptarget = dest;
        change = false;
      } else change = this.ops.setsA[op] === 1 && reg === a;
      if (change) setreg = pc < jmptarget ? -1 : pc;
    }
    return setreg;
  }
}
