/**
 * Overhead benchmark: a CPU-bound Lua target alone vs under `luaprof record` at 100 Hz and 1000 Hz,
 * interleaved round by round so that all three see the same machine conditions. Reports the target's
 * wall-clock ratio, the achieved sampling rate and the pause per sample.
 *
 *   npm run build && node dist/bench/run.js [--rounds 5] [--interpreter lua5.4] [--interp-args=-joff] [--native]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const ROOT = new URL('../..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/cli/main.js');
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('rounds', '5'));
const INTERP = opt('interpreter', 'lua5.4');
const DEPTH = opt('depth', '28');
const WORK = opt('work', '1000');
const EXTRA = args.includes('--native') ? ['--native'] : [];
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

/** Starts the target, optionally attaches luaprof, releases the target, and times it to its exit. */
function runOnce(rate: number | null): Promise<Run> {
  return new Promise((resolve, reject) => {
    const target = spawn(INTERP, [...INTERP_ARGS, join(ROOT, 'bench/cpu.lua'), DEPTH, WORK], { stdio: ['pipe', 'pipe', 'inherit'] });
    let t0 = 0;
    const targetExit = new Promise<number>((res) => target.on('exit', () => res(performance.now() - t0)));
    const release = () => {
      t0 = performance.now();
      target.stdin!.write('go\n');
    };
    if (rate === null) {
      release();
      targetExit.then((wallMs) => resolve({ wallMs }), reject);
      return;
    }
    const out = join(mkdtempSync(join(tmpdir(), 'luaprof-bench-')), 'p.json');
    const prof = spawn(process.execPath, [CLI, 'record', '-p', String(target.pid), '-r', String(rate), '-o', out, ...EXTRA], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let released = false;
    prof.stderr!.on('data', (d) => {
      err += d;
      if (!released && err.includes('luaprof: sampling pid')) {
        released = true;
        release();
      }
    });
    prof.on('exit', async (code) => {
      if (code !== 0) return reject(new Error(`luaprof exited ${code}: ${err}`));
      const wallMs = await targetExit;
      const m = /\((\d+) Hz achieved\).*p50 (\d+) µs, p99 (\d+) µs/.exec(err);
      const meta = JSON.parse(readFileSync(out, 'utf8')).luaprof?.meta ?? {};
      resolve({ wallMs, rateHz: m ? Number(m[1]) : undefined, p50: m ? Number(m[2]) : undefined, p99: m ? Number(m[3]) : undefined, samples: meta.samples });
    });
  });
}

const configs: (number | null)[] = [null, 100, 1000];
const results = new Map<number | null, Run[]>(configs.map((c) => [c, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const c of configs) {
    const run = await runOnce(c);
    results.get(c)!.push(run);
    process.stderr.write(`round ${r + 1}/${ROUNDS} ${c === null ? 'alone' : `${c} Hz`}: ${run.wallMs.toFixed(0)} ms${run.p50 !== undefined ? `, ${run.rateHz} Hz, pause p50 ${run.p50} µs p99 ${run.p99} µs` : ''}\n`);
  }
}
const alone = median(results.get(null)!.map((r) => r.wallMs));
const lines = [
  `| configuration | target wall (median of ${ROUNDS}) | slowdown | achieved rate | pause p50 | pause p99 |`,
  '|---|---|---|---|---|---|',
  `| alone | ${alone.toFixed(0)} ms | — | — | — | — |`,
];
for (const c of [100, 1000]) {
  const runs = results.get(c)!;
  const wall = median(runs.map((r) => r.wallMs));
  const rate = median(runs.map((r) => r.rateHz ?? 0));
  lines.push(
    `| ${c} Hz${EXTRA.length ? ' ' + EXTRA.join(' ') : ''} | ${wall.toFixed(0)} ms | ${(((wall - alone) / alone) * 100).toFixed(2)}% | ${rate.toFixed(0)} Hz (${(((rate - c) / c) * 100).toFixed(1)}%) | ${median(runs.map((r) => r.p50 ?? 0)).toFixed(0)} µs | ${median(runs.map((r) => r.p99 ?? 0)).toFixed(0)} µs |`,
  );
}
console.log(`${[INTERP, ...INTERP_ARGS].join(' ')}, Lua depth ${DEPTH}, ${ROUNDS} interleaved rounds\n`);
console.log(lines.join('\n'));
