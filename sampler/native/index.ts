/**
 * Native unwinding and symbolization: the public surface of sampler/native.
 *
 *   const mem = new RemoteMemory(pid);                       // any Memory
 *   const unwinder = new NativeUnwinder(pid, mem);           // reads /proc/PID/maps
 *   const symbolizer = new Symbolizer(pid, mem, { modules: unwinder.modules }); // share objects
 *   // … target stopped: copy registers + top of stack, let it go, then:
 *   const frames = unwinder.unwind(regs, { addr: regs.rsp, bytes: stackCopy });
 *   const names = symbolizer.symbolizeFrames(frames);        // pc-1 for return addresses
 *   unwinder.refreshMaps();                                  // after dlopen etc. (also automatic,
 *                                                            // at most once a second, on unknown pcs)
 */
export { NativeUnwinder, DWARF_REG_NAMES } from './unwinder.js';
export type { NativeFrame, CalleeSaved, UnwindStats } from './unwinder.js';
export { Symbolizer } from './symbolizer.js';
export type { SymbolInfo } from './symbolizer.js';
export { ProcessModules, ehFrameOf } from './modules.js';
export type { Module } from './modules.js';
export { demangle } from './demangle.js';
export { EhFrame } from './ehframe.js';
export type { Fde, Cie } from './ehframe.js';
export type { Row } from './cfi.js';
export { evalExpr } from './dwarf.js';
