/** Turns a captured PUC Lua stack into named frames, after the target has been let go. */
import type { Memory } from '../../os/memory.js';
import type { PucLayout } from '../layout.js';
import type { LuaFrame } from '../frames.js';
import type { RawLuaStack, RawThread } from './capture.js';
import { GlobalNames } from './globals.js';
import { NameInference, type NameInfo } from './names.js';
import { ProtoCache, type ProtoInfo } from './proto.js';

export class PucResolver {
  private readonly protos: ProtoCache;
  private readonly names: NameInference;
  readonly globals: GlobalNames;

  constructor(
    mem: Memory,
    private readonly layout: PucLayout,
    G: number,
    private readonly clock: () => number = () => Date.now(),
  ) {
    this.protos = new ProtoCache(mem, layout);
    this.names = new NameInference(layout);
    this.globals = new GlobalNames(mem, layout, G);
    this.globals.refresh(this.clock(), 0);
  }

  /** Frames innermost first: the running coroutine's frames above those of the thread that resumed it. */
  resolve(raw: RawLuaStack): { frames: LuaFrame[]; truncated: boolean } {
    const frames: LuaFrame[] = [];
    let truncated = false;
    for (let t = raw.threads.length - 1; t >= 0; t--) {
      frames.push(...this.resolveThread(raw.threads[t]));
      truncated ||= raw.threads[t].truncated;
    }
    return { frames, truncated };
  }

  private resolveThread(t: RawThread): LuaFrame[] {
    const tags = this.layout.tags;
    const bits = this.layout.callinfo.bits;
    const protos: (ProtoInfo | null)[] = t.frames.map((f) => (f.proto ? this.protos.get(f.protoAddr, f.proto) : null));
    const out: LuaFrame[] = [];
    for (let i = 0; i < t.frames.length; i++) {
      const f = t.frames[i];
      const proto = protos[i];
      const isLua = f.funcTag === tags.luaClosure && proto !== null;
      let frame: LuaFrame;
      if (isLua) {
        const line = proto.line(proto.pcOf(f.savedpc));
        frame = {
          kind: 'lua',
          what: proto.isMain ? 'main' : 'Lua',
          name: '',
          namewhat: '',
          file: proto.shortSrc,
          lineDefined: proto.lineDefined,
        };
        if (line > 0) frame.line = line;
      } else {
        frame = { kind: 'c', what: 'C', name: '', namewhat: '', file: '[C]' };
      }
      const tail = bits.tail !== undefined && (f.callstatus & bits.tail) !== 0;
      if (tail) frame.tailcall = true;
      const fromCall = tail ? null : this.nameFromCaller(t, i + 1, protos[i + 1] ?? null);
      let global = this.globals.lookup(f.funcValue);
      const mayBeNewGlobal = frame.kind === 'c' ? fromCall === null : fromCall?.namewhat === 'global';
      if (global === undefined && mayBeNewGlobal && this.globals.refresh(this.clock())) {
        global = this.globals.lookup(f.funcValue);
      }
      if (global !== undefined) frame.globalName = global;
      if (fromCall) {
        frame.namewhat = fromCall.namewhat;
        frame.name = fromCall.name;
      }
      frame.name = global ?? (fromCall ? fromCall.name : frame.what === 'main' ? 'main chunk' : frame.what === 'Lua' ? `function <${frame.file}:${frame.lineDefined}>` : '?');
      out.push(frame);
    }
    return out;
  }

  /** funcnamefromcall on the caller's CallInfo (index j in the thread's frames). */
  private nameFromCaller(t: RawThread, j: number, callerProto: ProtoInfo | null): NameInfo | null {
    const caller = t.frames[j];
    if (!caller) return null;
    const bits = this.layout.callinfo.bits;
    if (bits.hooked !== undefined && caller.callstatus & bits.hooked) return { namewhat: 'hook', name: '?' };
    if (bits.fin !== undefined && caller.callstatus & bits.fin) return { namewhat: 'metamethod', name: '__gc' };
    if (caller.funcTag !== this.layout.tags.luaClosure || callerProto === null) return null;
    if (bits.c !== undefined && caller.callstatus & bits.c) return null;
    return this.names.calledFrom(callerProto, callerProto.pcOf(caller.savedpc));
  }
}
