#!/usr/bin/env node
// Records the memory a LuaJIT capture + resolve reads from a live interpreter running
// fixtures/lua/luajit/scenarios.lua, with the registers, the program's own traceback and what luaprof
// printed, as a replayable SnapshotMemory fixture (test/walker-luajit.test.ts).
// usage (after npm run build): node scripts/layouts/luajit/record-snapshot.mjs <luajit> <scenario> <on|off> <out.json> [BASE_FROM]
// BASE_FROM: keep sampling until the live frame base came from there (e.g. rbp for the len scenario).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingMemory } from '../../../dist/sampler/os/memory.js';
import { RemoteMemory } from '../../../dist/sampler/os/remote-memory.js';
import { readMaps } from '../../../dist/sampler/os/procfs.js';
import { getRegs } from '../../../dist/sampler/os/ptrace.js';
import { detectLua, luaBinaries } from '../../../dist/sampler/lua/detect.js';
import { candidateLayouts } from '../../../dist/sampler/lua/luajit/layout.js';
import { locateLuaJit } from '../../../dist/sampler/lua/luajit/attach.js';
import { LuaJitRuntime } from '../../../dist/sampler/lua/luajit/runtime.js';
import { tracebackLine } from '../../../dist/sampler/lua/frames.js';
import { pauseThread } from '../../../dist/sampler/pause.js';

const [interp, scenario, jit, out, want] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'snap-'));
const tb = join(dir, 'tb.txt');
const args = [...(jit === 'off' ? ['-joff'] : []), 'scenarios.lua', scenario, tb];
const child = spawn(interp, args, {
  cwd: new URL('../../../fixtures/lua/luajit/', import.meta.url).pathname,
  stdio: 'inherit',
});
while (!existsSync(tb) || readFileSync(tb, 'utf8').length === 0) await new Promise((r) => setTimeout(r, 20));
await new Promise((r) => setTimeout(r, 300));
const det = detectLua(child.pid);
const remote = new RemoteMemory(child.pid);
const st = pauseThread(child.pid, () =>
  locateLuaJit(remote, candidateLayouts(det.version), readMaps(child.pid), luaBinaries(child.pid), {
    registers: getRegs(child.pid),
  }),
).value;
let result;
for (let i = 0; i < (want ? 5000 : 200); i++) {
  const rec = new RecordingMemory(remote);
  const rt = new LuaJitRuntime(`LuaJIT ${det.version}`, st.layout, st.mainL, st.G, rec, () => 0);
  const { regs, raw } = pauseThread(child.pid, () => {
    const regs = getRegs(child.pid);
    return { regs, raw: rt.capture(rec, regs) };
  }).value;
  const frames = rt.resolve(raw).frames;
  result = { rec, regs, frames, raw };
  if (
    (frames[0]?.kind === 'lua' || frames[0]?.kind === 'jit') &&
    (want ? raw.baseFrom === want : raw.baseFrom !== 'state')
  )
    break;
}
child.kill('SIGKILL');
const expected = readFileSync(tb, 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('\t'))
  .map((l) => l.slice(1));
const { rdx, rbx, r14, rbp } = result.regs;
writeFileSync(
  out,
  JSON.stringify({
    version: det.version,
    layout: st.layout.id,
    L: st.mainL,
    G: st.G,
    regs: { rdx, rbx, r14, rbp },
    vmstate: result.raw.vmstate,
    baseFrom: result.raw.baseFrom,
    traceback: expected,
    dumped: result.frames.map(tracebackLine),
    kinds: result.frames.map((f) => f.kind),
    regions: result.rec.snapshot().toJSON(),
  }),
);
console.log(
  `wrote ${out}: ${result.frames.length} frames, vmstate ${result.raw.vmstate}, base from ${result.raw.baseFrom}`,
);
