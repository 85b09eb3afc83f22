/**
 * The CPU of the default mode's per-sample path, alone: a stock lua5.4 at Lua depth 30 (bench/cpu.lua)
 * runs; the kernel copies it at its own timer ticks (sampler/copier/tick-copier.ts, as root), and this
 * process does what the sampling worker does with each copy: takes it from the ring, walks and
 * resolves it (Target.sampleAll), and numbers its frames and stack (StackIds, as the worker). No Node
 * start, no attach, no recorder: the CPU of this process (every thread: V8's compiler and GC included)
 * from --warm seconds on, per sample, and how the wall time of the loop splits between its steps.
 * --native: the same for `record --native` (each copy with the tick's registers and stack top, unwound
 * and spliced). --host: instead of bench/cpu.lua, a C host that resumes a new coroutine per request
 * (fixtures/hosts/embed.c `requests`, built here against lua5.4).
 *
 *   npm run build && node dist/bench/tick-cost.js [--seconds 8] [--warm 3] [--rate 1000] [--depth 30]
 *       [--repeat 3] [--interpreter lua5.4] [--native] [--host]
 */
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Target } from '../sampler/target.js';
import { ROOT, busyLua, median, option, reportHeader, withBpfStats } from './harness.js';
import { WorkerTicks } from './worker-ticks.js';

const SECONDS = Number(option('seconds', '8'));
const WARM = Number(option('warm', '3'));
const RATE = Number(option('rate', '1000'));
const DEPTH = option('depth', '30');
const REPEAT = Number(option('repeat', '3'));
const INTERP = option('interpreter', 'lua5.4');
const NATIVE = process.argv.includes('--native');
const HOST = process.argv.includes('--host');

/** The per-request host, built once (the test suite builds the same file: test/e2e-hosts.test.ts). */
function embedHost(): string {
  const exe = join(tmpdir(), `luaprof-bench-embed54-${process.pid}`);
  const source = join(ROOT, 'fixtures/hosts/embed.c');
  execFileSync('gcc', ['-O2', '-o', exe, source, '-I/usr/include/lua5.4', '-llua5.4', '-lpthread']);
  return exe;
}

interface Run {
  usPerSample: number;
  samples: number;
  /** Samples taken without a copy from the ring (the thread's plan did not fit it, or it was not planned yet). */
  uncopied: number;
  split: { copy: number; walk: number; intern: number };
  /** The program's time in the target's context per copy it took (kernel.bpf_stats_enabled), or NaN. */
  programUsPerRun: number;
}

async function once(): Promise<Run> {
  const seconds = String(WARM + SECONDS + 5);
  const child = HOST
    ? spawn(embedHost(), ['requests', join(tmpdir(), `luaprof-bench-truth-${process.pid}`), seconds], {
        stdio: ['ignore', 'ignore', 'ignore'],
      })
    : busyLua(INTERP, DEPTH);
  await new Promise((r) => setTimeout(r, 300));
  const pid = child.pid!;
  try {
    const target = Target.attach(pid, NATIVE ? { native: true, nativeTicks: true } : {});
    target.warmUp();
    const ticks = new WorkerTicks(target, 1000 / RATE, NATIVE);
    let samples = 0;
    let uncopied = 0;
    let cpu0 = process.cpuUsage();
    let counted = 0;
    const split = { copy: 0, walk: 0, intern: 0 };
    const t0 = performance.now();
    let warm = false;
    for (;;) {
      const now = performance.now();
      if (now - t0 > (WARM + SECONDS) * 1000) break;
      if (!warm && now - t0 > WARM * 1000) {
        warm = true;
        cpu0 = process.cpuUsage();
        counted = samples;
        split.copy = split.walk = split.intern = 0;
        uncopied = 0;
      }
      const tick = ticks.next();
      if (tick === 'load') await ticks.load();
      if (tick === 'load' || !tick) continue;
      if (!tick.copied) uncopied++;
      samples += tick.samples;
      split.copy += tick.copyMs;
      split.walk += tick.walkMs;
      split.intern += tick.internMs;
    }
    const programUs = ticks.programUsPerRun();
    ticks.stop();
    const used = process.cpuUsage(cpu0);
    const n = samples - counted;
    const per = (ms: number) => (ms * 1000) / n;
    return {
      usPerSample: (used.user + used.system) / n,
      samples: n,
      uncopied,
      split: { copy: per(split.copy), walk: per(split.walk), intern: per(split.intern) },
      programUsPerRun: programUs,
    };
  } finally {
    child.kill('SIGKILL');
  }
}

const runs: Run[] = [];
await withBpfStats(async () => {
  for (let r = 0; r < REPEAT; r++) runs.push(await once());
});
const fmt = (xs: number[]) => `${median(xs).toFixed(1)} µs (${xs.map((x) => x.toFixed(1)).join(', ')})`;
console.log(
  [
    ...reportHeader(
      `${HOST ? 'fixtures/hosts/embed.c requests (lua5.4, a coroutine per request)' : `${INTERP} bench/cpu.lua at Lua depth ${DEPTH}`}${NATIVE ? ', --native' : ''}, ${RATE} Hz, ${SECONDS} s after ${WARM} s, ${REPEAT} runs, ${runs.map((r) => r.samples).join('/')} samples (${runs.map((r) => r.uncopied).join('/')} of them taken without a copy from the ring)`,
    ),
    `CPU per sample (this process, every thread): ${fmt(runs.map((r) => r.usPerSample))}`,
    `the program's time in the target's context per copy: ${fmt(runs.map((r) => r.programUsPerRun))}`,
    `wall per sample in the loop: copy from the ring ${fmt(runs.map((r) => r.split.copy))} (sleeps included), walk and resolve ${fmt(runs.map((r) => r.split.walk))}, frame and stack ids ${fmt(runs.map((r) => r.split.intern))}`,
  ].join('\n'),
);
