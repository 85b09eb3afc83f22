/** Shared fixtures for the report/diff tests. */
import type { Frame, Profile } from '../../aggregator/profile.js';
import { ProfileBuilder } from '../../aggregator/profile.js';
import { rng } from './fuzz.js';

export const HOSTILE = '<img src=x onerror=alert(1)>';

export const F = {
  main: { kind: 'lua', name: 'main chunk', file: 'app.lua', lineDefined: 0 } as Frame,
  work: { kind: 'lua', name: 'work', file: 'app.lua', lineDefined: 3 } as Frame,
  parse: { kind: 'lua', name: 'parse', file: 'parser.lua', lineDefined: 10 } as Frame,
  hostile: { kind: 'lua', name: 'evil', file: HOSTILE, lineDefined: 1 } as Frame,
  rep: { kind: 'c', name: 'string.rep', file: '[C]' } as Frame,
  jit: { kind: 'jit', name: 'trace_7', file: 'app.lua', lineDefined: 5 } as Frame,
  gc: { kind: 'gc', name: '[gc]' } as Frame,
};

/**
 * Two threads. main: 60 × main;work;string.rep, 20 × main;work, 10 × main;parse, 10 × main;evil(hostile).
 * worker: 30 × main;trace_7, 10 × [gc].
 */
export function fixtureProfile(): Profile {
  const b = new ProfileBuilder();
  let t = 0;
  const add = (tid: number, name: string, framesInnermostFirst: Frame[], n: number) => {
    for (let i = 0; i < n; i++) b.addSample(tid, name, framesInnermostFirst, (t += 10), 1, 4242);
  };
  add(4242, 'main', [F.rep, F.work, F.main], 60);
  add(4242, 'main', [F.work, F.main], 20);
  add(4242, 'main', [F.parse, F.main], 10);
  add(4242, 'main', [F.hostile, F.main], 10);
  add(4243, 'worker', [F.jit, F.main], 30);
  add(4243, 'worker', [F.gc], 10);
  return b.build({
    tool: 'luaprof',
    version: '0.1.0',
    command: ['lua5.4', HOSTILE + '.lua'],
    pid: 4242,
    rate: 100,
    startTime: Date.UTC(2025, 0, 2, 3, 4, 5),
    durationMs: 1400,
    samples: 140,
    errors: 2,
    luaVersion: 'Lua 5.4.6',
  });
}

/**
 * A program of `funcs` leaf functions under main → dispatch, sampled `n` times; leaf i costs
 * cost[i]. `slower` multiplies one function's cost (the "new release" makes it twice as
 * expensive). Lines differ between releases to show that matching ignores them.
 */
export function sampledRelease(
  n: number,
  seed: number,
  opts: { slower?: string; factor?: number; lineShift?: number } = {},
): Profile {
  const funcs = 20;
  const rand = rng(seed);
  const b = new ProfileBuilder();
  const shift = opts.lineShift ?? 0;
  const main: Frame = { kind: 'lua', name: 'main chunk', file: 'bench.lua', lineDefined: 0 };
  const dispatch: Frame = { kind: 'lua', name: 'dispatch', file: 'bench.lua', lineDefined: 5 + shift };
  const leaves: Frame[] = Array.from({ length: funcs }, (_, i) => ({
    kind: 'lua',
    name: `handler${i}`,
    file: 'handlers.lua',
    lineDefined: 10 * i + 1 + shift,
  }));
  const cost = leaves.map((f, i) => (1 + (i % 5)) * (f.name === opts.slower ? (opts.factor ?? 2) : 1));
  const sum = cost.reduce((a, c) => a + c, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const c of cost) cdf.push((acc += c / sum));
  for (let s = 0; s < n; s++) {
    const r = rand();
    let i = cdf.findIndex((c) => r < c);
    if (i < 0) i = funcs - 1;
    b.addSample(1, 'main', [leaves[i], dispatch, main], s * 10);
  }
  return b.build({
    tool: 'luaprof',
    version: '0.1.0',
    command: ['lua5.4', 'bench.lua'],
    rate: 100,
    startTime: 0,
    durationMs: n * 10,
    samples: n,
    errors: 0,
  });
}
