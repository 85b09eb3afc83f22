/** Lua 5.4 layouts (x86_64, default luaconf), from offsetof() probes against the release headers. */
import type { OpcodeTable, PucLayout } from '../layout.js';

export const OPCODES_54: OpcodeTable = {
  names: [
    'MOVE', 'LOADI', 'LOADF', 'LOADK', 'LOADKX', 'LOADFALSE', 'LFALSESKIP', 'LOADTRUE', 'LOADNIL', 'GETUPVAL',
    'SETUPVAL', 'GETTABUP', 'GETTABLE', 'GETI', 'GETFIELD', 'SETTABUP', 'SETTABLE', 'SETI', 'SETFIELD', 'NEWTABLE',
    'SELF', 'ADDI', 'ADDK', 'SUBK', 'MULK', 'MODK', 'POWK', 'DIVK', 'IDIVK', 'BANDK', 'BORK', 'BXORK', 'SHRI', 'SHLI',
    'ADD', 'SUB', 'MUL', 'MOD', 'POW', 'DIV', 'IDIV', 'BAND', 'BOR', 'BXOR', 'SHL', 'SHR', 'MMBIN', 'MMBINI', 'MMBINK',
    'UNM', 'BNOT', 'NOT', 'LEN', 'CONCAT', 'CLOSE', 'TBC', 'JMP', 'EQ', 'LT', 'LE', 'EQK', 'EQI', 'LTI', 'LEI', 'GTI',
    'GEI', 'TEST', 'TESTSET', 'CALL', 'TAILCALL', 'RETURN', 'RETURN0', 'RETURN1', 'FORLOOP', 'FORPREP', 'TFORPREP',
    'TFORCALL', 'TFORLOOP', 'SETLIST', 'CLOSURE', 'VARARG', 'VARARGPREP', 'EXTRAARG',
  ],
  setsA: [
    'MOVE', 'LOADI', 'LOADF', 'LOADK', 'LOADKX', 'LOADFALSE', 'LFALSESKIP', 'LOADTRUE', 'LOADNIL', 'GETUPVAL',
    'GETTABUP', 'GETTABLE', 'GETI', 'GETFIELD', 'NEWTABLE', 'SELF', 'ADDI', 'ADDK', 'SUBK', 'MULK', 'MODK', 'POWK',
    'DIVK', 'IDIVK', 'BANDK', 'BORK', 'BXORK', 'SHRI', 'SHLI', 'ADD', 'SUB', 'MUL', 'MOD', 'POW', 'DIV', 'IDIV',
    'BAND', 'BOR', 'BXOR', 'SHL', 'SHR', 'UNM', 'BNOT', 'NOT', 'LEN', 'CONCAT', 'TESTSET', 'CALL', 'TAILCALL',
    'FORLOOP', 'FORPREP', 'TFORLOOP', 'CLOSURE', 'VARARG', 'VARARGPREP',
  ],
  mm: ['MMBIN', 'MMBINI', 'MMBINK'],
  tmNames: [
    'index', 'newindex', 'gc', 'mode', 'len', 'eq', 'add', 'sub', 'mul', 'mod', 'pow', 'div', 'idiv', 'band', 'bor',
    'bxor', 'shl', 'shr', 'unm', 'bnot', 'lt', 'le', 'concat', 'call', 'close',
  ],
};

const TAGS_54 = {
  nil: 0x00,
  thread: 0x48,
  luaClosure: 0x46,
  lightC: 0x16,
  cClosure: 0x66,
  table: 0x45,
  shortString: 0x44,
  longString: 0x54,
};

/** Lua 5.4.3 – 5.4.6 share this layout (5.4.4 checked against Debian's lua5.4). */
export const LUA_543: PucLayout = {
  releases: ['5.4.3', '5.4.4', '5.4.5', '5.4.6'],
  family: '5.4',
  state: { tt: 8, status: 10, top: 16, l_G: 24, ci: 32, stack: 48, stack_last: 40, base_ci: 96, size: 200 },
  global: { l_registry: 64, mainthread: 264, gcstate: 101, tmname: 280 },
  callinfo: {
    size: 64, func: 0, top: 8, previous: 16, next: 24, savedpc: 32, callstatus: 62, callstatusSize: 2,
    bits: { c: 0x2, fresh: 0x4, hooked: 0x8, tail: 0x20, fin: 0x80 },
  },
  tvalue: { size: 16, tt: 8, ttSize: 1 },
  tags: TAGS_54,
  closure: { nupvalues: 10, lp: 24, cf: 24, cupvalue: 32, lupvals: 32 },
  proto: {
    size: 128, sizeupvalues: 16, sizek: 20, sizecode: 24, sizelineinfo: 28, sizelocvars: 36, sizeabslineinfo: 40,
    linedefined: 44, lastlinedefined: 48, k: 56, code: 64, upvalues: 80, lineinfo: 88, abslineinfo: 96, locvars: 104,
    source: 112,
  },
  locvar: { size: 16, varname: 0, startpc: 8, endpc: 12 },
  upvaldesc: { size: 16, name: 0 },
  table: { lsizenode: 11, alimit: 12, array: 16, node: 24 },
  node: { size: 24, keyTt: 9, keyVal: 16, keyTtSize: 1 },
  tstring: { contents: 24, shrlen: 11, len: 16 },
  opcodes: OPCODES_54,
};
