/** `luaprof dump`: the Lua stack of a process right now, as debug.traceback would print it. */
import { tailCallLine, tracebackLine, type LuaFrame } from '../sampler/lua/frames.js';
import { LuaprofError } from '../sampler/errors.js';
import { Target, TargetGoneError } from '../sampler/target.js';

export interface DumpOptions {
  pid: number;
  json: boolean;
  luaVersion?: string;
}

function frameJson(f: LuaFrame) {
  return {
    name: f.name,
    namewhat: f.namewhat,
    file: f.file ?? null,
    line: f.line ?? null,
    lineDefined: f.lineDefined ?? null,
    kind: f.kind,
  };
}

export function dump(opts: DumpOptions): string {
  let target: Target;
  let sample;
  try {
    target = Target.attach(opts.pid, { version: opts.luaVersion });
    sample = target.sample();
  } catch (e) {
    if (e instanceof TargetGoneError) throw new LuaprofError('targetExited', `process ${opts.pid} exited`);
    throw e;
  }
  if (opts.json) {
    return JSON.stringify({
      pid: opts.pid,
      luaVersion: target.luaVersion,
      threads: [{ tid: sample.tid, frames: sample.frames.map(frameJson), truncated: sample.truncated }],
    }) + '\n';
  }
  const lines = [`Thread ${sample.tid} (${target.luaVersion}, pid ${opts.pid}):`, 'stack traceback:'];
  for (const f of sample.frames) {
    lines.push(`\t${tracebackLine(f)}`);
    const tail = tailCallLine(f);
    if (tail) lines.push(`\t${tail}`);
  }
  if (sample.truncated) lines.push('\t...\t(deeper frames not shown)');
  if (sample.frames.length === 0) lines.push('\t(no Lua frames: the state is not running Lua code)');
  return lines.join('\n') + '\n';
}
