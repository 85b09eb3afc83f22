/** `luaprof dump`: the Lua stack of a process right now, as debug.traceback would print it. */
import { basename } from 'node:path';
import type { Frame } from '../aggregator/profile.js';
import { inertJson, inertLatin1 } from '../report/terminal-text.js';
import { tailCallLine, tracebackLine, type LuaFrame } from '../sampler/lua/frames.js';
import { LuaprofError } from '../sampler/errors.js';
import { readThreadLocals, type FrameLocals } from '../sampler/locals.js';
import type { LuaValue } from '../sampler/lua/values.js';
import { Symbolizer } from '../sampler/native/symbolizer.js';
import type { RecordOptions } from '../sampler/sample.js';
import { Target, TargetGoneError, type SampleResult } from '../sampler/target.js';

/** The recording options that apply to one look at the stacks, and --json and --locals. */
export interface DumpOptions extends Pick<RecordOptions, 'pid' | 'version' | 'native' | 'threads'> {
  json: boolean;
  /** --locals: each Lua frame's locals; 'all': its upvalues too. */
  locals?: false | 'locals' | 'all';
}

/** Each shown frame's locals, when --locals read them (null: none, or they could not be read). */
type LocalsOf = (f: Frame) => FrameLocals | null;

/** A frame of a Lua function, interpreted or inside a JIT trace (its locals then cannot be read). */
const hasLocals = (f: Frame) => (f.kind === 'lua' || f.kind === 'jit') && (f as LuaFrame).what !== 'C';

/** Why a frame has no locals when the read gave none for it. */
const NOT_READ = 'not read: no reading of this stack lined up with its frames';

const inertValue = (v: LuaValue): LuaValue => ({ ...v, name: inertLatin1(v.name) });

function frameJson(f: Frame, localsOf: LocalsOf | null, upvalues: boolean) {
  const l = f as Partial<LuaFrame>;
  const base = {
    name: f.name,
    namewhat: l.namewhat ?? '',
    file: f.file ?? null,
    line: f.line ?? null,
    lineDefined: f.lineDefined ?? null,
    kind: f.kind,
  };
  if (!localsOf || !hasLocals(f)) return base;
  const got = localsOf(f);
  if (!got?.locals) return { ...base, locals: null, localsUnavailable: got?.unavailable ?? NOT_READ };
  return {
    ...base,
    locals: got.locals.map(inertValue),
    ...(upvalues ? { upvalues: (got.upvalues ?? []).map(inertValue) } : {}),
  };
}

function frameLine(f: Frame): string {
  // Lua, C and JIT-compiled Lua frames carry what a traceback needs; synthetic ones ([GC], …) do not.
  if ((f as LuaFrame).what !== undefined) return tracebackLine(f as LuaFrame);
  if (f.kind === 'native') return `[native] ${f.name}${f.file ? ` (${basename(f.file)})` : ''}`;
  return f.name;
}

/** The lines under a Lua frame that list its locals (and upvalues). */
function localsLines(got: FrameLocals | null, upvalues: boolean): string[] {
  if (!got?.locals) return [`\t    (locals unavailable: ${got?.unavailable ?? NOT_READ})`];
  const row = (v: LuaValue, prefix = '') => `\t    ${prefix}${inertLatin1(v.name)} = ${v.value}`;
  const lines = got.locals.map((v) => row(v));
  if (upvalues) lines.push(...(got.upvalues ?? []).map((v) => row(v, 'upvalue ')));
  return lines;
}

function attach(opts: DumpOptions): Target {
  // Unlike a profile, a dump shows threads blocked in the kernel too (marked idle).
  return Target.attach(opts.pid, {
    version: opts.version,
    native: opts.native,
    threads: opts.threads,
    idle: true,
    blocking: true,
  });
}

export function dump(opts: DumpOptions): string {
  if (opts.locals && opts.native)
    throw new LuaprofError('badArguments', '--locals shows Lua frames only: leave out --native');
  let target: Target;
  const samples: SampleResult[] = [];
  const localsByFrame = new Map<Frame, FrameLocals | null>();
  const upvalues = opts.locals === 'all';
  try {
    target = attach(opts);
    for (const s of target.sampleAll()) if (!s.error) samples.push(s);
    if (opts.locals) {
      const runtimes = new Map(target.luaThreads().map((t) => [t.tid, t.runtime]));
      const symbols = new Symbolizer(opts.pid, target.memory);
      for (const s of samples) {
        const rt = runtimes.get(s.tid);
        const read = rt ? readThreadLocals(s.tid, rt, target.memory, upvalues, symbols) : null;
        if (!read) continue;
        // The stack whose locals were read is the one shown (the thread ran between the two looks).
        s.luaFrames = read.frames;
        read.frames.forEach((f, i) => localsByFrame.set(f, read.locals[i]));
      }
    }
  } catch (e) {
    if (e instanceof TargetGoneError) throw new LuaprofError('targetExited', `process ${opts.pid} exited`);
    throw e;
  }
  target.close();
  const localsOf: LocalsOf | null = opts.locals ? (f) => localsByFrame.get(f) ?? null : null;
  samples.sort((a, b) => (a.tid === opts.pid ? -1 : b.tid === opts.pid ? 1 : a.tid - b.tid));
  const shown = (s: SampleResult) => (opts.native ? s.frames.filter((f) => f.kind !== 'idle') : s.luaFrames);
  if (opts.json) {
    return (
      inertJson(
        JSON.stringify({
          pid: opts.pid,
          luaVersion: target.luaVersion,
          threads: samples.map((s) => ({
            tid: s.tid,
            frames: shown(s).map((f) => frameJson(f, localsOf, upvalues)),
            truncated: s.truncated,
            ...(s.idle ? { idle: true } : {}),
          })),
        }),
      ) + '\n'
    );
  }
  const lines: string[] = [];
  for (const s of samples) {
    if (lines.length) lines.push('');
    lines.push(
      `Thread ${s.tid} (${target.luaVersion}, pid ${opts.pid})${s.idle ? ' [idle]' : ''}:`,
      'stack traceback:',
    );
    for (const f of shown(s)) {
      lines.push(`\t${inertLatin1(frameLine(f))}`);
      const tail = (f as LuaFrame).what !== undefined ? tailCallLine(f as LuaFrame) : null;
      if (tail) lines.push(`\t${tail}`);
      if (localsOf && hasLocals(f)) lines.push(...localsLines(localsOf(f), upvalues));
    }
    if (s.truncated) lines.push('\t...\t(deeper frames not shown)');
    if (shown(s).length === 0) lines.push('\t(no Lua frames: the state is not running Lua code)');
  }
  return lines.join('\n') + '\n';
}
