/**
 * Overhead benchmark: a CPU-bound Lua target alone vs under `luaprof record` at 100 Hz and 1000 Hz, and
 * under the bare ptrace cycle at the same rates (bench/ptrace-floor.ts: the platform's floor), all
 * interleaved round by round so that every configuration sees the same machine conditions. Reports the
 * target's wall-clock ratio, the achieved sampling rate and the pause per sample.
 *
 *   npm run build && node dist/bench/run.js [--rounds 5] [--interpreter lua5.4] [--interp-args=-joff] [--native]
 *                                           [--baseline OTHER_CHECKOUT] [--poll-idle]
 *
 * --baseline adds, at each rate, the luaprof built in another checkout (e.g. `git worktree add /tmp/base
 * HEAD~1 && (cd /tmp/base && npm ci && npm run build)`): an A/B of two builds under the same conditions.
 *
 * --poll-idle keeps every CPU from halting while the run lasts: one busy loop per CPU under SCHED_IDLE
 * (which runs only when nothing else wants that CPU). It stands in for what idle=poll or cpuidle-haltpoll
 * do on a guest: on a VM without them every ptrace stop halts a vCPU and every release wakes one through
 * the hypervisor, and that cost, not the sampler's, is most of the pause.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli/main.js');
const FLOOR = join(ROOT, 'dist/bench/ptrace-floor.js');
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', '5'));
const INTERP = opt('interpreter', 'lua5.4');
const DEPTH = opt('depth', '28');
const WORK = opt('work', '4000');
const EXTRA = args.includes('--native') ? ['--native'] : [];
const BASELINE = opt('baseline', '');
const POLL_IDLE = args.includes('--poll-idle');
/** Interpreter options before the script, e.g. --interp-args=-joff */
const INTERP_ARGS = (args.find((a) => a.startsWith('--interp-args=')) ?? '--interp-args=').slice('--interp-args='.length).split(' ').filter(Boolean);

interface Run {
  wallMs: number;
  rateHz?: number;
  p50?: number;
  p99?: number;
  samples?: number;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

type Config = { kind: 'alone' } | { kind: 'floor'; rate: number } | { kind: 'luaprof'; rate: number; baseline?: boolean };

const label = (c: Config) =>
  c.kind === 'alone'
    ? 'alone'
    : c.kind === 'floor'
      ? `${c.rate} Hz bare ptrace cycle`
      : `${c.rate} Hz luaprof${EXTRA.length ? ' ' + EXTRA.join(' ') : ''}${c.baseline ? ` (${BASELINE})` : ''}`;

/** Starts the target, attaches luaprof or the bare-cycle floor (or nothing), releases the target, and times it to its exit. */
function runOnce(config: Config): Promise<Run> {
  return new Promise((resolve, reject) => {
    const target = spawn(INTERP, [...INTERP_ARGS, join(ROOT, 'bench/cpu.lua'), DEPTH, WORK], { stdio: ['pipe', 'pipe', 'inherit'] });
    let t0 = 0;
    const targetExit = new Promise<number>((res) => target.on('exit', () => res(performance.now() - t0)));
    const release = () => {
      t0 = performance.now();
      target.stdin!.write('go\n');
    };
    if (config.kind === 'alone') {
      release();
      targetExit.then((wallMs) => resolve({ wallMs }), reject);
      return;
    }
    const out = join(mkdtempSync(join(tmpdir(), 'luaprof-bench-')), 'p.json');
    const argv =
      config.kind === 'floor'
        ? [FLOOR, String(target.pid), String(config.rate)]
        : [config.baseline ? join(BASELINE, 'dist/cli/main.js') : CLI, 'record', '-p', String(target.pid), '-r', String(config.rate), '-o', out, ...EXTRA];
    const ready = config.kind === 'floor' ? 'floor: attached' : 'luaprof: sampling pid';
    const prof = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let stdout = '';
    let released = false;
    prof.stdout!.on('data', (d) => (stdout += d));
    prof.stderr!.on('data', (d) => {
      err += d;
      if (!released && err.includes(ready)) {
        released = true;
        release();
      }
    });
    prof.on('exit', async (code) => {
      if (code !== 0) return reject(new Error(`${label(config)} exited ${code}: ${err}`));
      const wallMs = await targetExit;
      if (config.kind === 'floor') {
        const f = JSON.parse(stdout.trim().split('\n').pop()!);
        return resolve({ wallMs, rateHz: f.rateHz, p50: f.p50, p99: f.p99, samples: f.cycles });
      }
      const m = /\((\d+) Hz achieved\).*p50 (\d+) µs, p99 (\d+) µs/.exec(err);
      const meta = JSON.parse(readFileSync(out, 'utf8')).luaprof?.meta ?? {};
      resolve({ wallMs, rateHz: m ? Number(m[1]) : undefined, p50: m ? Number(m[2]) : undefined, p99: m ? Number(m[3]) : undefined, samples: meta.samples });
    });
  });
}

/** One SCHED_IDLE busy loop pinned to each CPU (see --poll-idle). */
function startIdlePollers(): ChildProcess[] {
  const pollers: ChildProcess[] = [];
  for (let cpu = 0; cpu < availableParallelism(); cpu++) {
    pollers.push(spawn('chrt', ['--idle', '0', 'taskset', '-c', String(cpu), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }));
  }
  const stop = () => pollers.forEach((p) => p.kill('SIGKILL'));
  process.on('exit', stop);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  return pollers;
}

const pollers = POLL_IDLE ? startIdlePollers() : [];
const configs: Config[] = [{ kind: 'alone' }];
for (const rate of [100, 1000]) {
  configs.push({ kind: 'floor', rate }, { kind: 'luaprof', rate });
  if (BASELINE) configs.push({ kind: 'luaprof', rate, baseline: true });
}
const results = new Map<Config, Run[]>(configs.map((c) => [c, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const c of configs) {
    const run = await runOnce(c);
    results.get(c)!.push(run);
    process.stderr.write(`round ${r + 1}/${ROUNDS} ${label(c)}: ${run.wallMs.toFixed(0)} ms${run.p50 !== undefined ? `, ${run.rateHz} Hz, pause p50 ${run.p50} µs p99 ${run.p99} µs` : ''}\n`);
  }
}
const alone = median(results.get(configs[0])!.map((r) => r.wallMs));
const lines = [
  `| configuration | target wall (median of ${ROUNDS}) | slowdown | achieved rate | pause p50 | pause p99 |`,
  '|---|---|---|---|---|---|',
  `| alone | ${alone.toFixed(0)} ms | — | — | — | — |`,
];
for (const c of configs.slice(1)) {
  if (c.kind === 'alone') continue;
  const runs = results.get(c)!;
  const wall = median(runs.map((r) => r.wallMs));
  const rate = median(runs.map((r) => r.rateHz ?? 0));
  lines.push(
    `| ${label(c)} | ${wall.toFixed(0)} ms | ${(((wall - alone) / alone) * 100).toFixed(2)}% | ${rate.toFixed(0)} Hz (${(((rate - c.rate) / c.rate) * 100).toFixed(1)}%) | ${median(runs.map((r) => r.p50 ?? 0)).toFixed(0)} µs | ${median(runs.map((r) => r.p99 ?? 0)).toFixed(0)} µs |`,
  );
}
console.log(`${[INTERP, ...INTERP_ARGS].join(' ')}, Lua depth ${DEPTH}, ${ROUNDS} interleaved rounds${POLL_IDLE ? ', idle CPUs polling (--poll-idle)' : ''}\n`);
console.log(lines.join('\n'));
for (const p of pollers) p.kill('SIGKILL');
