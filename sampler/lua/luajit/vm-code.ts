/**
 * Where LuaJIT's VM code lies, from its dispatch table (GG_State.dispatch, at G + g2disp), so that
 * --native names its frames in a stripped libluajit. The table holds BC__MAX + GG_NUM_ASMFF dynamic
 * entries (bytecode handlers, then the fast functions) followed by a static copy of the first BC_FUNCF
 * handlers (lj_dispatch.h); the dynamic ones are patched at run time (JIT off, hooks, recording), the
 * static copy never is. buildvm emits the handlers first, one per bytecode in opcode order, from
 * lj_vm_asm_begin on, so handler i runs from entry i to entry i+1. The last handler's end is not in
 * the table: it and the rest of the VM (lj_vm_pcall, lj_vm_resume, the fast functions, the trace exit
 * handler …) are named by region only.
 */
import { isPlausiblePtr, type Memory } from '../../os/memory.js';
import type { InterpreterCode } from '../../native/interpreter-code.js';
import type { LjLayout } from './layout.js';

/** The most fast functions in assembler any LuaJIT 2.1 build has (about 60); bounds the search. */
const MAX_ASMFF = 200;
/** Share of the static copy that must equal the dynamic entries (a few are patched by the JIT mode). */
const MIN_AGREEMENT = 0.8;

export const LJ_VM_REGION = 'lj_vm (interpreter)';

export function readVmCode(mem: Memory, l: LjLayout, G: number): InterpreterCode | null {
  const names = l.bc.names;
  const nbc = names.length;
  const funcf = l.bc.op['FUNCF'];
  if (!nbc || funcf === undefined || funcf <= 0 || funcf >= nbc) return null;
  const count = nbc + MAX_ASMFF + funcf;
  const buf = mem.read(G + l.gg.g2disp, count * 8);
  if (!buf || buf.length < count * 8) return null;
  const disp: number[] = [];
  for (let i = 0; i < count; i++) {
    const hi = buf.readUInt32LE(i * 8 + 4);
    disp.push(hi > 0x7fff ? -1 : hi * 0x1_0000_0000 + buf.readUInt32LE(i * 8));
  }
  // The static copy: the offset where the first BC_FUNCF entries repeat.
  let staticAt = -1;
  for (let k = nbc; k <= nbc + MAX_ASMFF; k++) {
    let same = 0;
    for (let j = 0; j < funcf; j++) if (disp[k + j] === disp[j]) same++;
    if (same >= funcf * MIN_AGREEMENT) {
      staticAt = k;
      break;
    }
  }
  if (staticAt < 0) return null;
  const starts: number[] = [];
  for (let j = 0; j < funcf; j++) starts.push(disp[staticAt + j]);
  for (let j = funcf; j < nbc; j++) starts.push(disp[j]);
  for (let j = 1; j < funcf; j++) if (!(starts[j - 1] < starts[j])) return null;
  // Every handler lies below the fast functions (subroutine code, emitted after the handlers), and so
  // does no hook a patched entry may point at. A dynamic entry equal to its neighbour was switched to
  // it (FUNCF to IFUNCF with the JIT off). A handler is named only when its own start and the next
  // handler's are both trusted.
  let firstFf = Infinity;
  for (let k = nbc; k < staticAt; k++) if (disp[k] > 0) firstFf = Math.min(firstFf, disp[k]);
  const valid = (j: number) => isPlausiblePtr(starts[j], 1) && starts[j] < firstFf;
  const rising = (j: number) => j < 0 || j + 1 >= nbc || starts[j] < starts[j + 1];
  const entries: { start: number; end: number; name: string }[] = [];
  for (let j = 0; j + 1 < nbc; j++) {
    if (!valid(j) || !valid(j + 1) || !rising(j) || !rising(j - 1) || !rising(j + 1)) continue;
    entries.push({ start: starts[j], end: starts[j + 1], name: `lj_BC_${names[j]}` });
  }
  if (entries.length === 0 || entries[0].start !== starts[0]) return null;
  return {
    entries,
    region: LJ_VM_REGION,
    startsRegion: true,
    ...(l.hasFfi ? { tail: 'lj_vm_ffi_call' } : {}),
  };
}
