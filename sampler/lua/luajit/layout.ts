/** A LuaJIT build's layout in the shape the walker uses, derived from a probe entry of layouts.ts. */
import { LUAJIT_BUILDS, type LuaJitBuild, type LuaJitProbe } from './layouts.js';

export interface LjLayout {
  id: string;
  state: {
    glref: number;
    status: number;
    base: number;
    top: number;
    stack: number;
    cframe: number;
    stacksize: number;
    size: number;
  };
  global: { vmstate: number; cur_L: number; jit_base: number; mainthref: number; registrytv: number };
  gg: { g: number; J: number; g2disp: number };
  jit: { trace: number; sizetrace: number };
  proto: {
    size: number;
    sizebc: number;
    chunkname: number;
    firstline: number;
    numline: number;
    lineinfo: number;
    uvinfo: number;
    varinfo: number;
    sizeuv: number;
    k: number;
    sizekgc: number;
    numparams: number;
    flags: number;
    /** PROTO_VARARG in GCproto.flags. */
    varargFlag: number;
  };
  func: { ffid: number; nupvalues: number; f: number; pc: number; upvalue: number; headerLen: number };
  str: { len: number; size: number };
  trace: { traceno: number; startpt: number; startpc: number; root: number; headerLen: number };
  tab: { array: number; node: number; asize: number; hmask: number; size: number };
  node: { val: number; key: number; next: number; size: number };
  cframe: { pc: number; L: number; prev: number };
  /** gct byte values (~LJ_Txxx) and itype tags (top 17 bits of a GC64 TValue). */
  gct: { func: number; thread: number; proto: number; str: number; tab: number; trace: number };
  vmst: { interp: number; c: number; gc: number; exit: number; record: number; opt: number; asm: number };
  bc: {
    names: string[];
    modeA: number[];
    mm: number[];
    base: number;
    dst: number;
    op: Record<string, number>;
  };
  mmnames: string[];
  varnames: string[];
  /** A Lua frame's link slot sits at base-8, its function at base-16 (FR2); only FR2/GC64 builds are supported. */
  fr2: boolean;
  /** Built with the FFI: the VM ends in lj_vm_ffi_call, an FDE of its own. */
  hasFfi: boolean;
}

export function layoutFromProbe(id: string, p: LuaJitProbe): LjLayout {
  const op: Record<string, number> = {};
  p.bcnames.forEach((n, i) => (op[n] = i));
  return {
    id,
    state: {
      glref: p['lua_State.glref'],
      status: p['lua_State.status'],
      base: p['lua_State.base'],
      top: p['lua_State.top'],
      stack: p['lua_State.stack'],
      cframe: p['lua_State.cframe'],
      stacksize: p['lua_State.stacksize'],
      size: p['sizeof.lua_State'],
    },
    global: {
      vmstate: p['global_State.vmstate'],
      cur_L: p['global_State.cur_L'],
      jit_base: p['global_State.jit_base'],
      mainthref: p['global_State.mainthref'],
      registrytv: p['global_State.registrytv'],
    },
    gg: { g: p['GG_State.g'], J: p['GG_State.J'], g2disp: p['GG_G2DISP'] },
    jit: { trace: p['jit_State.trace'], sizetrace: p['jit_State.sizetrace'] },
    proto: {
      size: p['sizeof.GCproto'],
      sizebc: p['GCproto.sizebc'],
      chunkname: p['GCproto.chunkname'],
      firstline: p['GCproto.firstline'],
      numline: p['GCproto.numline'],
      lineinfo: p['GCproto.lineinfo'],
      uvinfo: p['GCproto.uvinfo'],
      varinfo: p['GCproto.varinfo'],
      sizeuv: p['GCproto.sizeuv'],
      k: p['GCproto.k'],
      sizekgc: p['GCproto.sizekgc'],
      numparams: p['GCproto.numparams'],
      flags: p['GCproto.flags'],
      varargFlag: p['PROTO_VARARG'],
    },
    func: {
      ffid: p['GCfuncC.ffid'],
      nupvalues: p['GCfuncC.nupvalues'],
      f: p['GCfuncC.f'],
      pc: p['GCfuncL.pc'],
      upvalue: p['GCfuncC.upvalue'],
      headerLen: p['GCfuncC.upvalue'] + 8,
    },
    str: { len: p['GCstr.len'], size: p['sizeof.GCstr'] },
    trace: {
      traceno: p['GCtrace.traceno'],
      startpt: p['GCtrace.startpt'],
      startpc: p['GCtrace.startpc'],
      root: p['GCtrace.root'],
      headerLen: p['GCtrace.root'] + 4,
    },
    tab: {
      array: p['GCtab.array'],
      node: p['GCtab.node'],
      asize: p['GCtab.asize'],
      hmask: p['GCtab.hmask'],
      size: p['sizeof.GCtab'],
    },
    node: { val: p['Node.val'], key: p['Node.key'], next: p['Node.next'], size: p['sizeof.Node'] },
    cframe: { pc: p['CFRAME_OFS_PC'], L: p['CFRAME_OFS_L'], prev: p['CFRAME_OFS_PREV'] },
    gct: {
      func: p['LJ_TFUNC'],
      thread: p['LJ_TTHREAD'],
      proto: p['LJ_TPROTO'],
      str: p['LJ_TSTR'],
      tab: p['LJ_TTAB'],
      trace: p['LJ_TTRACE'],
    },
    vmst: {
      interp: p['LJ_VMST_INTERP'],
      c: p['LJ_VMST_C'],
      gc: p['LJ_VMST_GC'],
      exit: p['LJ_VMST_EXIT'],
      record: p['LJ_VMST_RECORD'],
      opt: p['LJ_VMST_OPT'],
      asm: p['LJ_VMST_ASM'],
    },
    bc: { names: p.bcnames, modeA: p.bcmodeA, mm: p.bcmm, base: p['BCMbase'], dst: p['BCMdst'], op },
    mmnames: p.mmnames,
    varnames: p.varnames,
    fr2: p['LJ_FR2'] === 1 && p['LJ_GC64'] === 1,
    hasFfi: p['LJ_HASFFI'] === 1,
  };
}

/** Layouts to try for a detected version: the builds that claim it first, then every other one. */
export function candidateLayouts(version: string): LjLayout[] {
  const claim = (b: LuaJitBuild) => b.version.test(version);
  const ordered = [...LUAJIT_BUILDS.filter(claim), ...LUAJIT_BUILDS.filter((b) => !claim(b))];
  return ordered.map((b) => layoutFromProbe(b.id, b.probe)).filter((l) => l.fr2);
}

export function knownBuilds(): string[] {
  return LUAJIT_BUILDS.map((b) => b.id);
}
