/**
 * What differs between PUC Lua releases, as data. One walker reads every version through this table;
 * offsets come from offsetof() probes compiled against each release's own headers.
 */
import type { TracebackRules } from '../frames.js';
import { i32 } from '../../os/memory.js';

export interface PucLayout {
  /** Releases this table was generated for and checked against, e.g. ["5.4.3", "5.4.4"]. */
  releases: string[];
  /** Where the table came from: probed from the release's own headers, or derived from another table. */
  provenance?: {
    from: 'headers' | 'derived';
    source?: string;
    base?: string;
    changes?: string[];
    checkedAgainst?: string;
  };
  /** Major.minor: selects the instruction format and name-inference rules. */
  family: '5.1' | '5.2' | '5.3' | '5.4';
  state: {
    /** CommonHeader tt byte of every collectable object. */
    tt: number;
    status: number;
    top: number;
    l_G: number;
    ci: number;
    stack: number;
    stack_last: number;
    base_ci: number;
    size: number;
    /** 5.1 only: the current frame's savedpc lives in the lua_State. */
    savedpc?: number;
    /** 5.1 only: CallInfo array bounds. */
    end_ci?: number;
    /** 5.1: `base_ci` is a pointer to the CallInfo array, not an embedded CallInfo. */
    baseCiIsPointer?: boolean;
  };
  global: {
    l_registry: number;
    mainthread: number;
    gcstate: number;
    tmname: number;
    /** The short-string table (a stringtable). */
    strt: number;
    /** 5.2+: the seed of the string hash. */
    seed?: number;
  };
  /** Fields of the stringtable: its bucket array, count of strings and number of buckets. */
  stringtable: { hash: number; nuse: number; size: number };
  /** 5.2+: 1-based indices of the main thread and the globals table in the registry's array part. */
  registry?: { mainthread: number; globals: number };
  callinfo: {
    size: number;
    func: number;
    top: number;
    previous?: number;
    next?: number;
    savedpc: number;
    /** 5.1-5.3: a Lua frame's base (its first register; vararg functions keep their arguments below it). */
    base?: number;
    /** Offset of callstatus, -1 when the release has none (5.1). */
    callstatus: number;
    /** Width of the callstatus field in bytes (1 or 2; 0 when there is none). */
    callstatusSize: number;
    /** 5.1: number of tail calls lost under this (Lua) entry. */
    tailcalls?: number;
    /** Bits of callstatus; a missing bit does not exist in the release. */
    bits: { lua?: number; c?: number; fresh?: number; tail?: number; hooked?: number; fin?: number };
  };
  tvalue: { size: number; tt: number; ttSize: number };
  tags: {
    nil: number;
    thread: number;
    /** 5.1: the one function tag (6); the closure's isC byte tells Lua from C. */
    luaClosure: number;
    /** -1 when the release has no light C functions (5.1). */
    lightC: number;
    cClosure: number;
    table: number;
    shortString: number;
    longString: number;
  };
  closure: { isC?: number; nupvalues: number; lp: number; cf: number; cupvalue: number; lupvals: number };
  proto: {
    size: number;
    sizeupvalues: number;
    sizek: number;
    sizecode: number;
    sizelineinfo: number;
    sizelocvars: number;
    sizep: number;
    sizeabslineinfo?: number;
    absLineInfoSize?: number;
    /** 5.1: number of upvalues (byte). */
    nups?: number;
    linedefined: number;
    lastlinedefined: number;
    k: number;
    code: number;
    p: number;
    upvalues: number;
    lineinfo: number;
    /** Bytes per lineinfo entry: 4 (absolute lines, 5.1-5.3) or 1 (deltas, 5.4). */
    lineinfoSize: number;
    abslineinfo?: number;
    locvars: number;
    source: number;
  };
  locvar: { size: number; varname: number; startpc: number; endpc: number };
  upvaldesc: { size: number; name: number };
  table: { lsizenode: number; sizearray?: number; alimit?: number; array: number; node: number };
  node: { size: number; keyTt: number; keyVal: number; keyTtSize: number };
  tstring: {
    contents: number;
    /** Short-string length byte (5.3+). */
    shrlen?: number;
    /** Length field shared by all strings (5.1/5.2) or long strings only (5.3+). */
    len: number;
    /** 5.4.7+: shrlen == this value marks a long string. */
    longMarker?: number;
    /** The string's hash (unsigned int). */
    hash: number;
    /** The next string in its string-table bucket. */
    hnext: number;
  };
  /**
   * lstring.c's short-string hash: h = seed ^ length (5.1: the length alone, `seeded` false), then
   * h ^= (h<<5) + (h>>2) + byte over the bytes from the last, every byte or, with `limit`, every
   * ((length >> limit) + 1)th.
   */
  stringHash: { seeded: boolean; limit?: number };
  /** Stack pointers are StkIdRel (5.4.5+): plain pointers except while the stack is being moved. */
  stkIdRel?: boolean;
  threadStatus: { ok: number; yield: number };
  opcodes: OpcodeTable;
  names: NameRules;
  traceback: TracebackRules;
}

/** How the release's ldebug.c names a called function (read from its source by the generator). */
export interface NameRules {
  /** CIST_FIN marks the finalizer's own frame (5.3, 5.4.0-5.4.3) rather than its caller (5.4.4+). */
  finOnCallee: boolean;
  /** 5.4.7+: isEnv names the indexed table register with basicgetobjname. */
  isEnvBasic: boolean;
  /**
   * 5.4.8+: isEnv calls an indexed register `_ENV` only when that name is a local's or an upvalue's,
   * so `("_ENV").f()` is a field access; 5.4.0-5.4.7 take any name, a string constant's included.
   * (5.1-5.3: false; 5.2/5.3 read only local names there anyway.)
   */
  envVariableOnly: boolean;
  /** Metamethods are named without "__" (5.4). */
  metamethodStripped: boolean;
  /** 5.2: findsetreg counts OP_TEST as changing register A. */
  testChangesA: boolean;
  /** 5.1: symbexec instead of findsetreg. */
  symbexec: boolean;
}

export interface OpcodeTable {
  /** Opcode names in numeric order. */
  names: string[];
  /** Opcodes whose instruction sets register A (testAMode). */
  setsA: string[];
  /** 5.4: metamethod-fallback opcodes that follow an arithmetic op (testMMMode). */
  mm?: string[];
  /** Metamethod event names in TMS order, without the "__" prefix. */
  tmNames: string[];
}

/** A TValue's tag (tt_) at `off` in `b`, read with the release's width. */
export function tvTag(layout: PucLayout, b: Buffer, off: number): number {
  const tv = layout.tvalue;
  return tv.ttSize === 1 ? b[off + tv.tt] : i32(b, off + tv.tt);
}
