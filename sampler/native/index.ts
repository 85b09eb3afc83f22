/** Native unwinding and symbolization: the public surface of sampler/native. */
export { NativeUnwinder, DWARF_REG_NAMES } from './unwinder.js';
export type { Regs, NativeFrame, CalleeSaved, UnwindStats } from './unwinder.js';
export { Symbolizer } from './symbolizer.js';
export type { SymbolInfo } from './symbolizer.js';
export { ProcessModules, ehFrameOf } from './modules.js';
export type { Module } from './modules.js';
export { demangle } from './demangle.js';
export { EhFrame } from './ehframe.js';
export type { Row, Fde, Cie } from './ehframe.js';
export { evalExpr } from './dwarf.js';
