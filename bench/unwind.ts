/**
 * Native unwinding cost on real captured stacks. gdb stops each target once and records its
 * registers and stack; then the unwinder runs on that record many times (warm caches), as the
 * sampler does after the target has resumed.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/unwind.js
 */
import { performance } from 'node:perf_hooks';
import * as fs from 'node:fs';
import { NativeUnwinder, Symbolizer } from '../sampler/native/index.js';
import { ProcMemMemory } from '../sampler/os/procmem.js';
import { FIXTURES, buildHost, gdbCapture, startTarget, stopTarget } from '../testkit/native-targets.js';
import { tempDir as tmpDir } from '../testkit/root.js';

interface Row {
  target: string;
  frames: number;
  stackBytes: number;
  coldMs: number;
  usPerUnwind: number;
  usPerFrame: number;
  usPerSymbolizedStack: number;
}

async function measure(name: string, cmd: string, args: string[], iterations: number): Promise<Row> {
  const child = await startTarget(cmd, args, 400);
  try {
    const cap = gdbCapture(child.pid!);
    const mem = new ProcMemMemory(child.pid!);
    const t0 = performance.now();
    const u = new NativeUnwinder(child.pid!, mem, { maps: cap.maps });
    const first = u.unwind(cap.regs as never, cap.stack);
    const coldMs = performance.now() - t0;
    if (first.length < 3) throw new Error(`${name}: only ${first.length} frames`);
    for (let i = 0; i < 1000; i++) u.unwind(cap.regs as never, cap.stack);
    const t1 = performance.now();
    let frames = 0;
    for (let i = 0; i < iterations; i++) frames += u.unwind(cap.regs as never, cap.stack).length;
    const el = performance.now() - t1;
    const sym = new Symbolizer(child.pid!, mem, { modules: u.modules });
    sym.symbolizeFrames(first);
    const t2 = performance.now();
    for (let i = 0; i < iterations; i++) sym.symbolizeFrames(first);
    const el2 = performance.now() - t2;
    mem.close();
    return {
      target: name,
      frames: first.length,
      stackBytes: cap.stack.bytes.length,
      coldMs,
      usPerUnwind: (el * 1000) / iterations,
      usPerFrame: (el * 1000) / frames,
      usPerSymbolizedStack: (el2 * 1000) / iterations,
    };
  } finally {
    stopTarget(child);
  }
}

async function main(): Promise<void> {
  const iterations = Number(process.env.ITER ?? 20000);
  const dir = tmpDir();
  const host = buildHost(dir);
  const rows: Row[] = [];
  rows.push(
    await measure('lua5.4 busy.lua (stock, stripped)', 'lua5.4', [`${FIXTURES}/busy.lua`], iterations),
  );
  rows.push(await measure('C host → lua_pcall → Lua → C (burn)', host, ['burn'], iterations));
  rows.push(await measure('C host blocked in nanosleep', host, ['sleep'], iterations));
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`node ${process.version}, ${iterations} unwinds per target, warm caches\n`);
  console.log(
    '| target | frames | stack copy | first unwind (cold, incl. ELF parse) | µs / unwind (warm) | µs / frame | µs / symbolized stack (warm) |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.target} | ${r.frames} | ${(r.stackBytes / 1024).toFixed(1)} KiB | ${r.coldMs.toFixed(1)} ms | ${r.usPerUnwind.toFixed(2)} | ${r.usPerFrame.toFixed(2)} | ${r.usPerSymbolizedStack.toFixed(2)} |`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
