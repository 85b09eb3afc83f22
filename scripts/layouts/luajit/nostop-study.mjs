#!/usr/bin/env node
// Study for sampling LuaJIT without stopping the thread (after npm run build).
// 1. Running, never stopped: reads G->vmstate with process_vm_readv in a loop and counts each state;
//    then copies with captureRunning (refused in the interpreter, validated by a second read).
// 2. Stopped (ptrace, so memory is consistent): per vmstate, whether the walk from memory alone
//    (no registers: L->base, or jit_base in a trace) gives the same frames as the walk that uses the
//    registers; in the interpreter, where the true BASE lies relative to L->base, and whether a scan of
//    the stack above L->base for frame links finds it (and how many candidates it finds).
// usage: node scripts/layouts/luajit/nostop-study.mjs <luajit> [-joff] <script> [args…]
import { spawn } from 'node:child_process';
const D = new URL('../../../dist/sampler/', import.meta.url).pathname;
const { RemoteMemory } = await import(`${D}os/remote-memory.js`);
const { readMaps } = await import(`${D}os/procfs.js`);
const { getRegs } = await import(`${D}os/ptrace.js`);
const { detectLua, luaBinaries } = await import(`${D}lua/detect.js`);
const { candidateLayouts } = await import(`${D}lua/luajit/layout.js`);
const { locateLuaJit } = await import(`${D}lua/luajit/attach.js`);
const { LuaJitRuntime } = await import(`${D}lua/luajit/runtime.js`);
const { pauseThread } = await import(`${D}pause.js`);

const READS = Number(process.env.READS ?? 200_000);
const STOPS = Number(process.env.STOPS ?? 1500);
const [binary, ...args] = process.argv.slice(2);
const child = spawn(binary, args, { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 400));
const det = detectLua(child.pid);
const mem = new RemoteMemory(child.pid);
const st = pauseThread(child.pid, () =>
  locateLuaJit(mem, candidateLayouts(det.version), readMaps(child.pid), luaBinaries(child.pid), {
    registers: getRegs(child.pid),
  }),
).value;
const l = st.layout;
const rt = new LuaJitRuntime(`LuaJIT ${det.version}`, l, st.mainL, st.G, mem, () => 0);
const names = new Map([
  [~l.vmst.interp, 'INTERP'],
  [~l.vmst.c, 'C'],
  [~l.vmst.gc, 'GC'],
  [~l.vmst.exit, 'EXIT'],
  [~l.vmst.record, 'RECORD'],
  [~l.vmst.opt, 'OPT'],
  [~l.vmst.asm, 'ASM'],
]);
const stateName = (v) => (v >= 0 ? 'TRACE' : (names.get(v) ?? `?${v}`));
const pct = (n, d) => (d ? ((100 * n) / d).toFixed(1) + '%' : '-');
const u64 = (b, o) => Number(b.readBigUInt64LE(o));

// 1. Running: vmstate histogram, then how many captureRunning copies are kept, and why the others are not.
const hist = {};
for (let i = 0; i < READS; i++) {
  const b = mem.read(st.G + l.global.vmstate, 4);
  if (!b) break;
  const s = stateName(b.readInt32LE(0));
  hist[s] = (hist[s] ?? 0) + 1;
}
const total = Object.values(hist).reduce((a, b) => a + b, 0);
console.log(
  `running, ${total} reads of G->vmstate:`,
  Object.entries(hist)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${pct(v, total)}`)
    .join(', '),
);
const live = {};
const N_LIVE = 3000;
let kept = 0;
for (let i = 0; i < N_LIVE; i++) {
  const g0 = mem.read(st.G + l.global.vmstate, 4)?.readInt32LE(0) ?? 0;
  let r = 'kept';
  try {
    rt.resolve(rt.captureRunning(mem));
    kept++;
  } catch (e) {
    r = e.message;
  }
  const k = `${stateName(g0)}: ${r}`;
  live[k] = (live[k] ?? 0) + 1;
  await new Promise((res) => setImmediate(res));
}
console.log(
  `running, captureRunning (no stop, no registers): kept ${pct(kept, N_LIVE)};`,
  Object.entries(live)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', '),
);

// 2. Stopped: memory-only vs registers, per state.
const key = (raw) => raw.threads.map((t) => t.levels.map((lv) => lv.func.toString(16)).join(',')).join('|');
const per = {};
const interp = { eq: 0, belowOnChain: 0, above: 0, elsewhere: 0, scanTop: 0, scanHas: 0, cands: 0 };
for (let i = 0; i < STOPS; i++) {
  const res = pauseThread(child.pid, () => {
    const regs = getRegs(child.pid);
    const attempt = (f) => {
      try {
        return f();
      } catch (e) {
        return { err: e.message };
      }
    };
    const truth = attempt(() => rt.capture(mem, regs));
    const alone = attempt(() => rt.capture(mem));
    let lb = 0,
      scan = null;
    if (truth.baseFrom && truth.baseFrom !== 'state' && truth.baseFrom !== 'jit') {
      const L = truth.threads[0].L;
      const h = mem.read(L, l.state.size);
      lb = u64(h, l.state.base);
      scan = scanAbove(L, lb, truth);
    }
    return { truth, alone, lb, scan };
  }).value;
  const { truth, alone } = res;
  const s = truth.err ? 'error' : stateName(truth.vmstate);
  const p = (per[s] ??= { n: 0, same: 0, aloneErr: 0, differs: 0, pcOnly: 0, from: {}, errs: {} });
  if (truth.err) p.errs[truth.err] = (p.errs[truth.err] ?? 0) + 1;
  p.n++;
  if (!truth.err) p.from[truth.baseFrom] = (p.from[truth.baseFrom] ?? 0) + 1;
  if (alone.err) p.aloneErr++;
  else if (!truth.err && key(alone) === key(truth) && alone.threads[0].topPc === truth.threads[0].topPc)
    p.same++;
  else {
    p.differs++;
    if (!truth.err && key(alone) === key(truth)) p.pcOnly++;
  }
  if (res.scan) {
    const sc = res.scan;
    interp[sc.rel]++;
    interp.cands += sc.cands;
    if (sc.top) interp.scanTop++;
    if (sc.has) interp.scanHas++;
  }
  await new Promise((r) => setTimeout(r, 1));
}
child.kill('SIGKILL');
console.log('stopped, per vmstate: memory-only walk vs the walk with registers');
for (const [k, p] of Object.entries(per))
  console.log(
    `  ${k}: ${p.n} samples (${pct(p.n, STOPS)}); memory-only same frames+pc ${pct(p.same, p.n)}, fails ${pct(p.aloneErr, p.n)}, differs ${pct(p.differs, p.n)} (of which only the top pc ${p.pcOnly}); base from ${JSON.stringify(p.from)}${p.n > p.same + p.aloneErr + p.differs || Object.keys(p.errs).length ? ' ' + JSON.stringify(p.errs) : ''}`,
  );
const ni = interp.eq + interp.belowOnChain + interp.above + interp.elsewhere;
console.log(
  `  interpreter (BASE from a register), ${ni}: BASE == L->base ${pct(interp.eq, ni)}, below it on its chain ${pct(interp.belowOnChain, ni)}, above it ${pct(interp.above, ni)}, elsewhere ${pct(interp.elsewhere, ni)}`,
);
console.log(
  `  scan of the stack for frames linked down to its bottom: true BASE among candidates ${pct(interp.scanHas, ni)}, true BASE = highest candidate ${pct(interp.scanTop, ni)}, candidates per sample ${(interp.cands / (ni || 1)).toFixed(2)}`,
);

/**
 * Where the true BASE lies relative to L->base, and a scan of the stack for frames whose link chain
 * reaches the bottom of the stack (the only memory-only signal): is the true BASE among them, is it
 * the highest one, how many are there.
 */
function scanAbove(L, lb, truth) {
  const h = mem.read(L, l.state.size);
  const stack = u64(h, l.state.stack);
  const trueBase = truth.base;
  const span = 64 << 10;
  const lo = stack;
  const hi = Math.max(lb, trueBase) + span;
  const buf = mem.read(lo, hi - lo) ?? mem.read(lo, Math.max(lb, trueBase) + 4096 - lo);
  if (!buf) return null;
  const slot = (a) => (a - lo >= 0 && a - lo + 8 <= buf.length ? buf.readBigUInt64LE(a - lo) : null);
  const isFunc = (v) => v !== null && Number(v >> 47n) === ((~l.gct.func >>> 0) & 0x1ffff);
  // Frames from b down to the bottom through Lua/C/vararg/pcall links; null unless it reaches the bottom.
  const down = (b) => {
    const out = [];
    for (let f = b, k = 0; k < 400; k++) {
      const link = slot(f - 8);
      if (link === null || link <= 0n || !isFunc(slot(f - 16))) return null;
      out.push(f);
      const t = Number(link & 7n);
      let prev;
      if ((t & 3) === 0) {
        if (link > 0x7fffffffffffn) return null;
        const ins = mem.read(Number(link) - 4, 4);
        if (!ins) return null;
        prev = f - 8 * (2 + ins[1]);
      } else prev = f - Number(link - BigInt(t));
      if (prev >= f) return null;
      if (prev <= stack + 16) return prev === stack + 16 || prev === stack + 8 ? out : null;
      f = prev;
    }
    return null;
  };
  const chain = new Set(down(lb) ?? []);
  let rel;
  if (trueBase === lb) rel = 'eq';
  else if (chain.has(trueBase)) rel = 'belowOnChain';
  else if (trueBase > lb) rel = 'above';
  else rel = 'elsewhere';
  const cands = [];
  for (let b = stack + 24; b - lo + 8 <= buf.length; b += 8)
    if (isFunc(slot(b - 16)) && down(b)) cands.push(b);
  return {
    rel,
    cands: cands.length,
    has: cands.includes(trueBase),
    top: cands.length > 0 && cands[cands.length - 1] === trueBase,
  };
}
