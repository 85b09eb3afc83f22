/**
 * Native stacks of a target's threads: the copy of the top of a thread's stack (bounded by its
 * mapping), the CFI unwind and symbolization of that copy after the thread runs again, and the mixed
 * stack (`--native`) with the Lua frames spliced in where the interpreter runs them.
 */
import * as path from 'node:path';
import type { Frame } from '../aggregator/profile.js';
import type { LuaFrame } from './lua/frames.js';
import type { NativeHints } from './lua/runtime.js';
import { NativeUnwinder, Symbolizer, type NativeFrame, type SymbolInfo } from './native/index.js';
import { InterpreterNames, type InterpreterCode } from './native/interpreter-code.js';
import { findMapping, type Mapping } from './os/maps.js';
import type { RemoteMemory, Range } from './os/remote-memory.js';
import type { Registers } from './os/registers.js';
import { isInternalName, splice, type NativeSym, type SpliceLua } from './splice.js';
import { GC_FRAME, JIT_TRACE_LABEL } from './synthetic-frames.js';

/** Frames' NativeSyms remembered at most (beyond it, all are forgotten). */
const MAX_KNOWN_SYMS = 100_000;

/** A copy of the top of a thread's stack. */
export interface StackCopy {
  addr: number;
  bytes: Buffer;
}

/** A native stack after the pause: frames (innermost first) and their symbols. */
export interface NativeStack {
  frames: NativeFrame[];
  syms: NativeSym[];
}

/** What a thread remembers between samples: the mapping that holds its stack. */
export interface StackMapping {
  stack: { start: number; end: number } | null;
}

export class NativeStacks {
  private unwinder: NativeUnwinder | null = null;
  private symbolizer: Symbolizer | null = null;
  private readonly sizes = new Map<number, number>();
  /** Each frame's NativeSym by pc (negative: a return address), for one set of mappings and interpreter names. */
  private symsOf: { generation: number; interp: InterpreterNames | null; syms: Map<number, NativeSym> } = {
    generation: -1,
    interp: null,
    syms: new Map(),
  };
  /** The interpreter's named code, checked against the maps of one generation. */
  private interp: { code: InterpreterCode; generation: number; names: InterpreterNames | null } | null = null;

  constructor(
    private readonly pid: number,
    private readonly mem: RemoteMemory,
    /** The file the Lua runtime lives in (its functions are the interpreter's, spliced over). */
    private readonly coreModule: string,
    private readonly luajit: boolean,
  ) {}

  /** Builds the unwinder and symbolizer (maps read, objects opened): before a pause, never during it. */
  tools(): { unwinder: NativeUnwinder; symbolizer: Symbolizer } {
    if (!this.unwinder) {
      this.unwinder = new NativeUnwinder(this.pid, this.mem);
      this.symbolizer = new Symbolizer(this.pid, this.mem, { modules: this.unwinder.modules });
    }
    return { unwinder: this.unwinder, symbolizer: this.symbolizer! };
  }

  get maps(): readonly Mapping[] {
    return this.tools().unwinder.modules.maps;
  }

  /** The thread's stack may have moved (a new thread): forget its mapping and re-read the maps. */
  forgetStack(t: StackMapping): void {
    t.stack = null;
    this.tools().unwinder.refreshMaps();
  }

  /** The top of the stack, bounded by the end of the mapping holding rsp. */
  range(t: StackMapping, regs: Registers, max: number): Range | null {
    const rsp = regs.rsp;
    let end = t.stack && rsp >= t.stack.start && rsp < t.stack.end ? t.stack.end : 0;
    if (!end) {
      const m = findMapping(this.tools().unwinder.modules.maps, rsp);
      if (m) {
        t.stack = { start: m.start, end: m.end };
        end = m.end;
      } else end = (Math.floor(rsp / 4096) + 1) * 4096;
    }
    const len = Math.min(max, end - rsp);
    return len > 0 ? { addr: rsp, len } : null;
  }

  /** The top of the stack (one process_vm_readv). */
  copy(t: StackMapping, regs: Registers, max: number): StackCopy | null {
    const range = this.range(t, regs, max);
    const bytes = range && this.mem.read(range.addr, range.len);
    return range && bytes ? { addr: range.addr, bytes } : null;
  }

  unwind(regs: Registers, stack: StackCopy, hints?: NativeHints): NativeStack {
    const { unwinder, symbolizer } = this.tools();
    const interp = hints?.code ? this.interpreterNames(hints.code) : null;
    let frames = unwinder.unwind(regs, stack);
    if (this.luajit && hints) frames = this.pastTrace(frames, stack, interp, hints.vmFrameSp);
    if (this.symsOf.generation !== unwinder.modules.generation || this.symsOf.interp !== interp) {
      this.symsOf = { generation: unwinder.modules.generation, interp, syms: new Map() };
    }
    const known = this.symsOf.syms;
    const syms: NativeSym[] = new Array<NativeSym>(frames.length);
    for (let i = 0; i < frames.length; i++) {
      const pc = frames[i].pc;
      const returns = i > 0 && !frames[i].signal && !frames[i - 1].signal;
      const key = returns ? -pc : pc;
      let sym = known.get(key);
      if (sym === undefined) {
        sym = this.nativeSym(pc, returns, symbolizer.symbolize(pc, returns), interp);
        if (known.size >= MAX_KNOWN_SYMS) known.clear();
        known.set(key, sym);
      }
      syms[i] = sym;
    }
    return { frames, syms };
  }

  /** How a frame at `pc` shows in a mixed stack (the same for every sample while the maps stay). */
  private nativeSym(pc: number, returns: boolean, s: SymbolInfo, interp: InterpreterNames | null): NativeSym {
    const unwinder = this.tools().unwinder;
    // LuaJIT's machine code lives in anonymous executable mappings; its traces have no symbols.
    if (s.module === '' && this.luajit && unwinder.modules.isExecutable(pc)) {
      return { pc, label: JIT_TRACE_LABEL, module: '', internal: false, jit: true };
    }
    const vm = interp && s.name === undefined ? interp.nameAt(returns ? pc - 1 : pc) : null;
    if (vm)
      return {
        pc,
        label: vm.name,
        module: s.module,
        start: vm.start,
        internal: true,
        vm: true,
        size: this.sizeOf(vm.start),
      };
    const core =
      s.module === this.coreModule ||
      (s.module !== '' && path.basename(s.module) === path.basename(this.coreModule));
    const internal = core && (s.name === undefined || isInternalName(s.name));
    const sym: NativeSym = { pc, label: s.label, module: s.module, start: s.start, internal };
    if (internal && s.start !== undefined) sym.size = this.sizeOf(s.start);
    if (s.name !== undefined && !isInternalName(s.name) && !/^(lua_|luaL_|luaopen_)/.test(s.name))
      sym.hostName = s.name;
    return sym;
  }

  /** The interpreter's names, checked once per set of mappings (null when they do not check out). */
  private interpreterNames(code: InterpreterCode): InterpreterNames | null {
    const modules = this.tools().unwinder.modules;
    if (this.interp && this.interp.code === code && this.interp.generation === modules.generation)
      return this.interp.names;
    const l = modules.lookup(code.entries[0].start);
    const names = l ? InterpreterNames.check(code, l.mod, l.bias) : null;
    this.interp = { code, generation: modules.generation, names };
    return names;
  }

  /**
   * A LuaJIT trace has no unwind table: the unwind stops there (or goes astray by frame pointers). The
   * trace runs on the VM's own C frame, whose stack pointer the state keeps (L->cframe), and the VM's
   * FDE unwinds that frame from any pc inside it: the frames under the trace are the VM's callers.
   */
  private pastTrace(
    frames: NativeFrame[],
    stack: StackCopy,
    interp: InterpreterNames | null,
    vmFrameSp: number | undefined,
  ): NativeFrame[] {
    const modules = this.tools().unwinder.modules;
    const jit = frames.findIndex((f) => !modules.lookup(f.pc) && modules.isExecutable(f.pc));
    if (jit < 0) return frames;
    // Without the VM's frame, what follows a trace came from guesses over code without unwind tables.
    if (!interp || !vmFrameSp || vmFrameSp <= frames[jit].sp) return frames.slice(0, jit + 1);
    const under = this.tools().unwinder.unwind({ rip: interp.regionStart, rsp: vmFrameSp }, stack);
    if (under.length < 2) return frames.slice(0, jit + 1);
    return frames.slice(0, jit + 1).concat(under.slice(1));
  }

  /** Symbol names of unwound frames (to find the Lua API frames among them). */
  names(frames: NativeFrame[]): (string | undefined)[] | undefined {
    return this.symbolizer ? this.symbolizer.symbolizeFrames(frames).map((s) => s.name) : undefined;
  }

  /** The mixed stack: native frames with the Lua frames (and C functions they run) spliced in. */
  mixed(native: NativeStack, luaFrames: LuaFrame[], cfuncs: (number | undefined)[], gc: boolean): Frame[] {
    const lua: SpliceLua[] = luaFrames.map((f, i) => ({
      frame: f,
      cfunc: cfuncs[i],
      isLua: f.kind === 'lua',
    }));
    const coreUnnamed = !native.syms.some(
      (n) => n.module === this.coreModule && n.label !== '' && !n.internal,
    );
    return splice(native.syms, lua, gc ? GC_FRAME : undefined, { coreUnnamed }).frames;
  }

  private sizeOf(start: number): number {
    let n = this.sizes.get(start);
    if (n === undefined) {
      n = 0;
      const l = this.unwinder!.modules.lookup(start);
      const fde = l?.mod.ehFrame()?.findFde(start - l.bias);
      if (fde) n = fde.end - fde.start;
      this.sizes.set(start, n);
    }
    return n;
  }
}
