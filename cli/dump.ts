/** `luaprof dump`: the Lua stack of a process right now, as debug.traceback would print it. */
import { basename } from 'node:path';
import type { Frame } from '../aggregator/profile.js';
import { tailCallLine, tracebackLine, type LuaFrame } from '../sampler/lua/frames.js';
import { LuaprofError } from '../sampler/errors.js';
import type { RecordOptions } from '../sampler/sample.js';
import { Target, TargetGoneError, type SampleResult } from '../sampler/target.js';

/** The recording options that apply to one look at the stacks, and --json. */
export interface DumpOptions extends Pick<RecordOptions, 'pid' | 'version' | 'native' | 'threads'> {
  json: boolean;
}

function frameJson(f: Frame) {
  const l = f as Partial<LuaFrame>;
  return {
    name: f.name,
    namewhat: l.namewhat ?? '',
    file: f.file ?? null,
    line: f.line ?? null,
    lineDefined: f.lineDefined ?? null,
    kind: f.kind,
  };
}

function frameLine(f: Frame): string {
  // Lua, C and JIT-compiled Lua frames carry what a traceback needs; synthetic ones ([GC], …) do not.
  if ((f as LuaFrame).what !== undefined) return tracebackLine(f as LuaFrame);
  if (f.kind === 'native') return `[native] ${f.name}${f.file ? ` (${basename(f.file)})` : ''}`;
  return f.name;
}

export function dump(opts: DumpOptions): string {
  let target: Target;
  const samples: SampleResult[] = [];
  try {
    // Unlike a profile, a dump shows threads blocked in the kernel too (marked idle).
    target = Target.attach(opts.pid, {
      version: opts.version,
      native: opts.native,
      threads: opts.threads,
      idle: true,
      blocking: true,
    });
    for (const s of target.sampleAll()) if (!s.error) samples.push(s);
  } catch (e) {
    if (e instanceof TargetGoneError) throw new LuaprofError('targetExited', `process ${opts.pid} exited`);
    throw e;
  }
  samples.sort((a, b) => (a.tid === opts.pid ? -1 : b.tid === opts.pid ? 1 : a.tid - b.tid));
  const shown = (s: SampleResult) => (opts.native ? s.frames.filter((f) => f.kind !== 'idle') : s.luaFrames);
  if (opts.json) {
    return (
      JSON.stringify({
        pid: opts.pid,
        luaVersion: target.luaVersion,
        threads: samples.map((s) => ({
          tid: s.tid,
          frames: shown(s).map(frameJson),
          truncated: s.truncated,
          ...(s.idle ? { idle: true } : {}),
        })),
      }) + '\n'
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
      lines.push(`\t${frameLine(f)}`);
      const tail = (f as LuaFrame).what !== undefined ? tailCallLine(f as LuaFrame) : null;
      if (tail) lines.push(`\t${tail}`);
    }
    if (s.truncated) lines.push('\t...\t(deeper frames not shown)');
    if (shown(s).length === 0) lines.push('\t(no Lua frames: the state is not running Lua code)');
  }
  return lines.join('\n') + '\n';
}
