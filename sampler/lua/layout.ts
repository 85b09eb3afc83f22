/**
 * What differs between PUC Lua releases, as data. One walker reads every version through this table;
 * offsets come from offsetof() probes compiled against each release's own headers.
 */
export interface PucLayout {
  /** Releases this table was generated for and checked against, e.g. ["5.4.3", "5.4.4"]. */
  releases: string[];
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
  };
  global: { l_registry: number; mainthread: number; gcstate: number; tmname: number };
  callinfo: {
    size: number;
    func: number;
    top: number;
    previous?: number;
    next?: number;
    savedpc: number;
    callstatus: number;
    /** Width of the callstatus field in bytes (1 or 2). */
    callstatusSize: number;
    /** Bits of callstatus; a missing bit does not exist in the release. */
    bits: { lua?: number; c?: number; fresh?: number; tail?: number; hooked?: number; fin?: number };
  };
  tvalue: { size: number; tt: number; ttSize: 1 | 4 };
  tags: {
    nil: number;
    thread: number;
    luaClosure: number;
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
    sizeabslineinfo?: number;
    linedefined: number;
    lastlinedefined: number;
    k: number;
    code: number;
    upvalues: number;
    lineinfo: number;
    abslineinfo?: number;
    locvars: number;
    source: number;
  };
  locvar: { size: number; varname: number; startpc: number; endpc: number };
  upvaldesc: { size: number; name: number };
  table: { lsizenode: number; sizearray?: number; alimit?: number; array: number; node: number };
  node: { size: number; keyTt: number; keyVal: number; keyTtSize: 1 | 4 };
  tstring: {
    contents: number;
    /** Short-string length byte (5.3+). */
    shrlen?: number;
    /** Length field shared by all strings (5.1/5.2) or long strings only (5.3+). */
    len: number;
    /** 5.4.7+: shrlen == this value marks a long string. */
    longMarker?: number;
  };
  /** Stack pointers are StkIdRel (5.4.5+): plain pointers except while the stack is being moved. */
  stkIdRel?: boolean;
  opcodes: OpcodeTable;
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
