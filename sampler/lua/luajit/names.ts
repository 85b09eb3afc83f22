/**
 * How LuaJIT names a called function from its caller's bytecode (lj_debug_funcname →
 * lj_debug_slotname), replayed over a decoded prototype. Results are cached per (proto, pc).
 */
import type { LjLayout } from './layout.js';
import type { LjProto } from './proto.js';

export type LjName = { namewhat: string; name: string };

const MAX_RESTARTS = 64;

export class LjNames {
  private readonly cache = new WeakMap<LjProto, Map<number, LjName | null>>();

  constructor(private readonly l: LjLayout) {}

  /** Name of the function called by the instruction before `pc` in `caller`. */
  calledFrom(caller: LjProto, pc: number): LjName | null {
    let per = this.cache.get(caller);
    if (!per) this.cache.set(caller, (per = new Map()));
    if (per.has(pc)) return per.get(pc)!;
    let r: LjName | null;
    try {
      r = this.funcname(caller, caller.posOf(pc));
    } catch {
      r = null;
    }
    if (per.size > 10_000) per.clear();
    per.set(pc, r);
    return r;
  }

  private funcname(pt: LjProto, pos: number): LjName | null {
    if (pos < 0) return null;
    const bc = pt.bytecode();
    if (!bc || pos >= bc.length) return null;
    const ins = bc[pos];
    const op = ins & 0xff;
    const mm = this.l.bc.mm[op];
    if (mm === undefined) return null;
    const mmCall = this.l.mmnames.indexOf('__call');
    if (mm === mmCall) {
      let slot = (ins >>> 8) & 0xff;
      if (op === this.l.bc.op.ITERC) slot -= 3;
      return this.slotname(pt, bc, pos, slot);
    }
    if (mm < this.l.mmnames.length) return { namewhat: 'metamethod', name: this.l.mmnames[mm] };
    return null;
  }

  /** lj_debug_slotname */
  private slotname(pt: LjProto, bc: Uint32Array, pos: number, slot: number): LjName | null {
    const op = this.l.bc.op;
    let ip = pos;
    for (let restarts = 0; restarts < MAX_RESTARTS; restarts++) {
      const lname = pt.varname(ip, slot);
      if (lname !== null) return { namewhat: 'local', name: lname };
      let restarted = false;
      while (--ip > 0) {
        const ins = bc[ip];
        const o = ins & 0xff;
        const ra = (ins >>> 8) & 0xff;
        const mode = this.l.bc.modeA[o];
        if (mode === this.l.bc.base) {
          if (slot >= ra && (o !== op.KNIL || slot <= ins >>> 16)) return null;
        } else if (mode === this.l.bc.dst && ra === slot) {
          if (o === op.MOV) {
            slot = ins >>> 16;
            restarted = true;
            break;
          }
          if (o === op.GGET) return { namewhat: 'global', name: pt.kgcString(ins >>> 16) ?? '?' };
          if (o === op.TGETS) {
            const name = pt.kgcString((ins >>> 16) & 0xff) ?? '?';
            if (ip > 0) {
              const p = bc[ip - 1];
              if ((p & 0xff) === op.MOV && ((p >>> 8) & 0xff) === ra + 2 && p >>> 16 === ins >>> 24)
                return { namewhat: 'method', name };
            }
            return { namewhat: 'field', name };
          }
          if (o === op.UGET) return { namewhat: 'upvalue', name: pt.uvname(ins >>> 16) };
          return null;
        }
      }
      if (!restarted) return null;
    }
    return null;
  }
}
