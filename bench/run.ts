/**
 * Overhead benchmark, every configuration side by side in one run, interleaved round by round so that
 * all of them see the same machine conditions. A CPU-bound Lua target (bench/cpu.lua, Lua depth 30) is
 * run:
 *   alone, alone-again     twice with nothing attached: the pair is the run's noise band (what it can resolve)
 *   floor                  under the bare ptrace stop/release cycle (bench/ptrace-floor.ts: the platform's floor)
 *   wake-floor             beside a real-time thread that wakes on the target's CPU and does nothing
 *                          (bench/wake-floor.ts: the floor under the copier thread, the default with --idle)
 *   timer-floor            under a timer on the thread's CPU time whose BPF program only counts
 *                          (bench/timer-floor.ts: the floor under the default mode's kernel copies)
 *   native-floor           the same timer also writing --native's perf sample (registers, 32 KB of stack)
 *                          at each firing (bench/timer-floor.ts native: the kernel's part of --native)
 *   copy-floor             the default's own timer and program copying the target, the ring emptied
 *                          without walking (bench/copy-floor.ts: the default's kernel side alone)
 *   blocking               under `luaprof record --blocking` (stops the thread for each sample)
 *   default                under `luaprof record` (copies the running thread with process_vm_readv, no stop)
 *   native                 under `luaprof record --native` (a lone thread: the kernel's copies at its ticks with
 *                          its registers and stack top; else stops)
 * each sampling mode at 100 and 1000 Hz. Per configuration, medians over the rounds of: the target's
 * wall time and slowdown, its CPU time (os.clock() printed by cpu.lua) and CPU-time loss, the achieved
 * rate, the pause per sample (stop modes), and luaprof's own CPU per sample. "Paired slowdown" is the
 * median of each round's wall against that round's alone run: a machine whose speed drifts from round
 * to round moves the medians of the walls, much less the ratios. Each round starts one configuration
 * further on, so that a drift within a round does not fall on the same configuration every time.
 *
 *   npm run build && node dist/bench/run.js [--rounds 7] [--modes alone,alone-again,floor,blocking,default,native]
 *       [--rates 100,1000] [--depth 30] [--work 4000] [--interpreter lua5.4] [--cli FILE] [--interp-args=-joff]
 *       [--baseline OTHER_CHECKOUT] [--poll-idle]
 *
 * luaprof's CPU per sample, three ways: (1) `luaprof.meta.cpuPerSampleUs` from the profile, if the CLI
 * writes it; (2) from outside: luaprof's threads' CPU (/proc/PID/task/*\/schedstat, ns) read when it
 * prints "sampling pid" and again when the target exits (before it writes the profile), divided by
 * its sample count ("while sampling": no Node start-up, attach or output in it); and "all-in", its
 * whole-life user + system time (it runs under bench/rusage-exec.ts: posix_spawnp + wait4, to the µs)
 * divided by the samples (for a floor: its own CPU per cycle or wake-up, the platform's share of a sample);
 * (3) the marginal cost, (CPU at 1000 Hz − CPU at 100 Hz) / (samples at 1000 − samples at 100), in
 * which every fixed cost cancels.
 *
 * A CLI without `--blocking` (before the copy mode) runs "blocking" as its default and refuses
 * "default" (see bench/harness.ts); without --modes, "default" is then left out with a note.
 *
 * --baseline adds, for each luaprof mode and rate, the luaprof built in another checkout (e.g. `git
 * worktree add /tmp/base HEAD~1 && (cd /tmp/base && npm ci && npm run build)`): an A/B of two builds.
 *
 * --poll-idle keeps every CPU from halting while the run lasts: one busy loop per CPU under SCHED_IDLE
 * (which runs only when nothing else wants that CPU). It stands in for what idle=poll or cpuidle-haltpoll
 * do on a guest: on a VM without them every ptrace stop halts a vCPU and every release wakes one through
 * the hypervisor, and that cost, not the sampler's, is most of the pause.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  CLI,
  cliCommand,
  ROOT,
  RUSAGE_EXEC,
  commandLine,
  option,
  detectModes,
  median,
  medianOf,
  modeFlags,
  num,
  parseSummary,
  readMeta,
  threadsCpuUs,
  type CliModes,
  type LuaprofMode,
} from './harness.js';

const FLOOR = join(ROOT, 'dist/bench/ptrace-floor.js');
const WAKE_FLOOR = join(ROOT, 'dist/bench/wake-floor.js');
const TIMER_FLOOR = join(ROOT, 'dist/bench/timer-floor.js');
const COPY_FLOOR = join(ROOT, 'dist/bench/copy-floor.js');
const args = process.argv.slice(2);
const opt = option;
const ROUNDS = Number(opt('rounds', '7'));
const INTERP = opt('interpreter', 'lua5.4');
const DEPTH = opt('depth', '30');
const WORK = opt('work', '4000');
const RATES = opt('rates', '100,1000').split(',').map(Number);
const BASELINE = opt('baseline', '');
const POLL_IDLE = args.includes('--poll-idle');
/** Interpreter options before the script, e.g. --interp-args=-joff */
const INTERP_ARGS = (args.find((a) => a.startsWith('--interp-args=')) ?? '--interp-args=')
  .slice('--interp-args='.length)
  .split(' ')
  .filter(Boolean);

if (args.includes('--native')) {
  process.stderr.write(
    'run: --native is a mode now: --modes alone,alone-again,floor,native (or leave --modes out for all)\n',
  );
  process.exit(2);
}
const ALL_MODES = [
  'alone',
  'alone-again',
  'floor',
  'wake-floor',
  'timer-floor',
  'native-floor',
  'copy-floor',
  'blocking',
  'default',
  'native',
] as const;
type Mode = (typeof ALL_MODES)[number];
const modesGiven = args.includes('--modes');
const MODES = opt('modes', ALL_MODES.join(',')).split(',').filter(Boolean) as Mode[];
for (const m of MODES) {
  if (!(ALL_MODES as readonly string[]).includes(m)) {
    process.stderr.write(`run: unknown mode "${m}" (modes: ${ALL_MODES.join(', ')})\n`);
    process.exit(2);
  }
}
if (!(ROUNDS >= 1) || RATES.some((r) => !(r > 0))) {
  process.stderr.write('run: --rounds and --rates must be positive\n');
  process.exit(2);
}

interface Run {
  wallMs: number;
  /** The target's own CPU seconds (os.clock() at its end), in ms. */
  cpuMs?: number;
  rateHz?: number;
  p50?: number;
  p99?: number;
  samples?: number;
  /** luaprof's CPU (user + system) over its whole life (wait4), µs. */
  profCpuUs?: number;
  /** luaprof's threads' CPU from its "sampling pid" line to the target's exit (schedstat), µs. */
  profCpuSamplingUs?: number;
  /** `luaprof.meta.cpuPerSampleUs`, if the CLI writes it. */
  metaCpuPerSampleUs?: number;
}

type Config =
  | { kind: 'alone'; again: boolean }
  | { kind: 'floor'; rate: number; floor: 'ptrace' | 'wake' | 'timer' | 'native' | 'copy' }
  | { kind: 'luaprof'; mode: LuaprofMode; rate: number; cli: CliModes; flags: string[]; baseline: boolean };

const label = (c: Config) =>
  c.kind === 'alone'
    ? c.again
      ? 'alone again'
      : 'alone'
    : c.kind === 'floor'
      ? `${c.rate} Hz ${FLOOR_NAMES[c.floor]}`
      : `${c.rate} Hz ${c.mode}${c.flags.length ? ` (${c.flags.join(' ')})` : ' (no flag)'}${c.baseline ? ` [${BASELINE}]` : ''}`;

const FLOOR_NAMES = {
  ptrace: 'bare ptrace cycle',
  wake: 'bare wake-up on its CPU',
  timer: 'bare timer on its CPU time',
  native: "bare timer writing --native's perf sample",
  copy: "the default's copies, not walked",
};
const FLOOR_SCRIPTS = {
  ptrace: FLOOR,
  wake: WAKE_FLOOR,
  timer: TIMER_FLOOR,
  native: TIMER_FLOOR,
  copy: COPY_FLOOR,
};

const notes: string[] = [];
const current = detectModes(CLI);
const baseline = BASELINE ? detectModes(join(BASELINE, 'dist/cli/main.js')) : null;
if (!current.hasBlocking)
  notes.push(`this CLI has no --blocking: "blocking" runs its default (the stop-based sampler)`);

const configs: Config[] = [];
if (MODES.includes('alone')) configs.push({ kind: 'alone', again: false });
if (MODES.includes('alone-again')) configs.push({ kind: 'alone', again: true });
for (const rate of RATES) {
  if (MODES.includes('floor')) configs.push({ kind: 'floor', rate, floor: 'ptrace' });
  if (MODES.includes('wake-floor')) configs.push({ kind: 'floor', rate, floor: 'wake' });
  if (MODES.includes('timer-floor')) configs.push({ kind: 'floor', rate, floor: 'timer' });
  if (MODES.includes('native-floor')) configs.push({ kind: 'floor', rate, floor: 'native' });
  if (MODES.includes('copy-floor')) configs.push({ kind: 'floor', rate, floor: 'copy' });
  for (const mode of ['blocking', 'default', 'native'] as const) {
    if (!MODES.includes(mode)) continue;
    for (const [cli, isBase] of [[current, false], ...(baseline ? [[baseline, true]] : [])] as [
      CliModes,
      boolean,
    ][]) {
      const flags = modeFlags(cli, mode);
      if (typeof flags === 'string') {
        if (modesGiven && !isBase) {
          process.stderr.write(`run: cannot run mode "${mode}": ${flags}\n`);
          process.exit(2);
        }
        if (rate === RATES[0]) notes.push(`"${mode}" left out${isBase ? ' for the baseline' : ''}: ${flags}`);
        continue;
      }
      configs.push({ kind: 'luaprof', mode, rate, cli, flags, baseline: isBase });
    }
  }
}
if (configs.length === 0) {
  process.stderr.write('run: nothing to run\n');
  process.exit(2);
}

/** Starts the target, attaches luaprof or the bare-cycle floor (or nothing), releases the target, and times it to its exit. */
function runOnce(config: Config): Promise<Run> {
  return new Promise((resolve, reject) => {
    const target = spawn(INTERP, [...INTERP_ARGS, join(ROOT, 'bench/cpu.lua'), DEPTH, WORK], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let t0 = 0;
    let targetOut = '';
    target.stdout!.on('data', (d) => (targetOut += d));
    let profPid: number | undefined;
    let cpuAtTargetExitUs: number | undefined;
    // luaprof's threads' CPU when the target ends: sampling is over, writing the profile has not begun.
    let wallMs = 0;
    target.on('exit', () => {
      wallMs = performance.now() - t0;
      if (profPid !== undefined) cpuAtTargetExitUs = threadsCpuUs(profPid);
    });
    const targetExit = new Promise<{ wallMs: number; cpuMs?: number }>((res) =>
      target.on('close', () => {
        const cpu = /^cpu\s+([\d.]+)/m.exec(targetOut);
        res({ wallMs, cpuMs: cpu ? Number(cpu[1]) * 1000 : undefined });
      }),
    );
    const release = () => {
      t0 = performance.now();
      target.stdin!.write('go\n');
    };
    if (config.kind === 'alone') {
      release();
      targetExit.then(resolve, reject);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'luaprof-bench-'));
    const out = join(dir, 'p.json');
    const usage = join(dir, 'rusage.json');
    const argv =
      config.kind === 'floor'
        ? [
            FLOOR_SCRIPTS[config.floor],
            String(target.pid),
            String(config.rate),
            ...(config.floor === 'native' ? ['native'] : []),
          ]
        : [
            RUSAGE_EXEC,
            usage,
            ...cliCommand(config.cli.cli),
            'record',
            '-p',
            String(target.pid),
            '-r',
            String(config.rate),
            '-o',
            out,
            ...config.flags,
          ];
    const ready = config.kind === 'floor' ? 'floor: attached' : 'luaprof: sampling pid';
    const prof = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let stdout = '';
    let released = false;
    let cpuAtAttachUs: number | undefined;
    prof.stdout!.on('data', (d) => (stdout += d));
    prof.stderr!.on('data', (d) => {
      err += d;
      if (profPid === undefined) {
        const m = /rusage-exec: pid (\d+)/.exec(err);
        if (m) profPid = Number(m[1]);
      }
      if (!released && err.includes(ready)) {
        released = true;
        if (profPid !== undefined) cpuAtAttachUs = threadsCpuUs(profPid);
        release();
      }
    });
    prof.on('close', async (code) => {
      if (code !== 0) {
        target.kill('SIGKILL');
        return reject(new Error(`${label(config)} exited ${code}: ${err}`));
      }
      const { wallMs, cpuMs } = await targetExit;
      if (config.kind === 'floor') {
        const f = JSON.parse(stdout.trim().split('\n').pop()!);
        rmSync(dir, { recursive: true, force: true });
        return resolve({
          wallMs,
          cpuMs,
          rateHz: f.rateHz,
          p50: f.p50,
          p99: f.p99,
          samples: f.cycles,
          profCpuUs: f.cpuUs,
        });
      }
      const s = parseSummary(err);
      const meta = readMeta(out);
      let profCpuUs: number | undefined;
      try {
        const u = JSON.parse(readFileSync(usage, 'utf8'));
        profCpuUs = u.userUs + u.sysUs;
      } catch {
        /* no rusage: left blank */
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({
        wallMs,
        cpuMs,
        ...s,
        samples: num(meta.samples) ?? s.samples,
        profCpuUs,
        profCpuSamplingUs:
          cpuAtTargetExitUs !== undefined && cpuAtAttachUs !== undefined
            ? cpuAtTargetExitUs - cpuAtAttachUs
            : undefined,
        metaCpuPerSampleUs: num(meta.cpuPerSampleUs),
      });
    });
  });
}

/** One SCHED_IDLE busy loop pinned to each CPU (see --poll-idle). */
function startIdlePollers(): ChildProcess[] {
  const pollers: ChildProcess[] = [];
  for (let cpu = 0; cpu < availableParallelism(); cpu++) {
    pollers.push(
      spawn('chrt', ['--idle', '0', 'taskset', '-c', String(cpu), 'sh', '-c', 'while :; do :; done'], {
        stdio: 'ignore',
      }),
    );
  }
  return pollers;
}

const pollers = POLL_IDLE ? startIdlePollers() : [];
const stopPollers = () => pollers.forEach((p) => p.kill('SIGKILL'));
process.on('exit', stopPollers);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

const startedAt = new Date().toISOString();
const load0 = loadavg();
const results = new Map<Config, Run[]>(configs.map((c) => [c, []]));
for (let r = 0; r < ROUNDS; r++) {
  // Each round starts one configuration further on: a drift within rounds falls on each in turn.
  for (const c of [...configs.slice(r % configs.length), ...configs.slice(0, r % configs.length)]) {
    const run = await runOnce(c);
    results.get(c)!.push(run);
    const perSample =
      run.profCpuSamplingUs !== undefined && run.samples
        ? `, luaprof ${(run.profCpuSamplingUs / run.samples).toFixed(1)} µs CPU/sample`
        : '';
    process.stderr.write(
      `round ${r + 1}/${ROUNDS} ${label(c)}: ${run.wallMs.toFixed(0)} ms wall, ${run.cpuMs?.toFixed(0) ?? '?'} ms CPU` +
        `${run.rateHz !== undefined ? `, ${run.rateHz} Hz` : ''}${run.p50 !== undefined ? `, pause p50 ${run.p50} µs p99 ${run.p99} µs` : ''}${perSample}\n`,
    );
  }
}
stopPollers();

const pct = (x: number | undefined, ref: number | undefined) =>
  x === undefined || ref === undefined ? '—' : `${(((x - ref) / ref) * 100).toFixed(2)}%`;
const fmt = (x: number | undefined, unit: string, digits = 0) =>
  x === undefined ? '—' : `${x.toFixed(digits)} ${unit}`;
const aloneC = configs.find((c) => c.kind === 'alone' && !c.again);
const againC = configs.find((c) => c.kind === 'alone' && c.again);
const aloneWall = aloneC ? median(results.get(aloneC)!.map((r) => r.wallMs)) : undefined;
const aloneCpu = aloneC ? medianOf(results.get(aloneC)!.map((r) => r.cpuMs)) : undefined;
const isStop = (c: Config) =>
  (c.kind === 'floor' && c.floor === 'ptrace') ||
  (c.kind === 'luaprof' && (c.mode !== 'default' || !c.cli.hasBlocking));

const perSample = (runs: Run[], f: (r: Run) => number | undefined) =>
  medianOf(runs.map((r) => (f(r) !== undefined && r.samples ? f(r)! / r.samples : undefined)));
/** The median, over rounds, of the wall against the alone run of the same round (drift between rounds cancels). */
const pairedSlowdown = (c: Config): string => {
  if (!aloneC || c === aloneC) return '—';
  const alone = results.get(aloneC)!;
  const ratios = results.get(c)!.map((r, i) => r.wallMs / alone[i].wallMs);
  return `${((median(ratios) - 1) * 100).toFixed(2)}%`;
};
const lines = [
  `| configuration | target wall | slowdown | paired slowdown | target CPU | CPU loss | achieved rate | pause p50 | pause p99 | luaprof CPU/sample: CLI meta | while sampling | all-in |`,
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
];
const rows = new Map<Config, { wall: number; cpu?: number; perSampleUs?: number }>();
for (const c of configs) {
  const runs = results.get(c)!;
  const wall = median(runs.map((r) => r.wallMs));
  const cpu = medianOf(runs.map((r) => r.cpuMs));
  const rate = medianOf(runs.map((r) => r.rateHz));
  const lp = c.kind === 'luaprof';
  const since = lp ? perSample(runs, (r) => r.profCpuSamplingUs) : undefined;
  rows.set(c, { wall, cpu, perSampleUs: medianOf(runs.map((r) => r.metaCpuPerSampleUs)) ?? since });
  const ref = c === aloneC ? undefined : aloneWall;
  lines.push(
    `| ${label(c)} | ${wall.toFixed(0)} ms | ${c === aloneC ? '—' : pct(wall, ref)} | ${pairedSlowdown(c)} | ${fmt(cpu, 'ms')} | ${c === aloneC ? '—' : pct(cpu, aloneCpu)} | ` +
      `${c.kind === 'alone' || rate === undefined ? '—' : `${rate.toFixed(0)} Hz (${(((rate - c.rate) / c.rate) * 100).toFixed(1)}%)`} | ` +
      `${isStop(c) ? fmt(medianOf(runs.map((r) => r.p50)), 'µs') : '—'} | ${isStop(c) ? fmt(medianOf(runs.map((r) => r.p99)), 'µs') : '—'} | ` +
      `${lp ? fmt(medianOf(runs.map((r) => r.metaCpuPerSampleUs)), 'µs', 1) : '—'} | ${lp ? fmt(since, 'µs', 1) : '—'} | ${
        c.kind !== 'alone'
          ? fmt(
              perSample(runs, (r) => r.profCpuUs),
              'µs',
              1,
            )
          : '—'
      } |`,
  );
}

// The marginal CPU per sample: between the lowest and highest rate of one mode and build, fixed costs cancel.
const marginal: string[] = [];
for (const c of configs) {
  if (c.kind !== 'luaprof' || c.rate !== Math.max(...RATES) || RATES.length < 2) continue;
  const lo = configs.find(
    (d) =>
      d.kind === 'luaprof' && d.mode === c.mode && d.baseline === c.baseline && d.rate === Math.min(...RATES),
  );
  if (!lo) continue;
  const hiRuns = results.get(c)!;
  const loRuns = results.get(lo)!;
  const cpuHi = medianOf(hiRuns.map((r) => r.profCpuUs));
  const cpuLo = medianOf(loRuns.map((r) => r.profCpuUs));
  const nHi = medianOf(hiRuns.map((r) => r.samples));
  const nLo = medianOf(loRuns.map((r) => r.samples));
  if (cpuHi === undefined || cpuLo === undefined || nHi === undefined || nLo === undefined || nHi <= nLo)
    continue;
  marginal.push(
    `${c.mode}${c.baseline ? ' [baseline]' : ''} ${((cpuHi - cpuLo) / (nHi - nLo)).toFixed(1)} µs`,
  );
}

const out: string[] = [];
out.push(`    ${commandLine()}`, '');
out.push(
  `${startedAt}, load average at start ${load0.map((x) => x.toFixed(2)).join(' ')}, ${availableParallelism()} CPUs; ` +
    `${[INTERP, ...INTERP_ARGS].join(' ')} bench/cpu.lua, Lua depth ${DEPTH}, work ${WORK}; medians of ${ROUNDS} interleaved rounds${POLL_IDLE ? '; idle CPUs polling (--poll-idle)' : ''}`,
);
for (const n of notes) out.push(`note: ${n}`);
out.push('', ...lines, '');
if (aloneC && againC) {
  const a = rows.get(againC)!;
  const wallsA = results.get(aloneC)!.map((r) => r.wallMs);
  const wallsB = results.get(againC)!.map((r) => r.wallMs);
  const spread = (xs: number[]) => ((Math.max(...xs) - Math.min(...xs)) / median(xs)) * 100;
  out.push(
    `noise band (alone vs alone again, same run): wall ${pct(a.wall, aloneWall)}, CPU ${pct(a.cpu, aloneCpu)}; ` +
      `round-to-round spread of the alone walls ${spread(wallsA).toFixed(1)}% and ${spread(wallsB).toFixed(1)}%`,
  );
}
if (marginal.length)
  out.push(
    `luaprof CPU per extra sample (${Math.min(...RATES)} → ${Math.max(...RATES)} Hz: Node's start, the attach and the write-out cancel; V8's compiling of the sampler, which a faster rate brings sooner, does not): ${marginal.join(', ')}`,
  );

// The issue's targets, where this run has the figures.
const find = (mode: LuaprofMode, rate: number) =>
  configs.find((c) => c.kind === 'luaprof' && !c.baseline && c.mode === mode && c.rate === rate);
const check = (what: string, value: number | undefined, limit: number, unit: string) =>
  value === undefined
    ? null
    : `${what}: ${value.toFixed(unit === '%' ? 2 : 1)}${unit} (≤ ${limit}${unit}) ${value <= limit ? 'met' : 'NOT met'}`;
const targets: (string | null)[] = [];
const d1000 = find('default', 1000);
if (d1000 && aloneWall !== undefined) {
  const r = rows.get(d1000)!;
  targets.push(check('default 1000 Hz wall slowdown', ((r.wall - aloneWall) / aloneWall) * 100, 1, '%'));
  if (r.cpu !== undefined && aloneCpu !== undefined)
    targets.push(check('default 1000 Hz CPU loss', ((r.cpu - aloneCpu) / aloneCpu) * 100, 0.5, '%'));
}
const n1000 = find('native', 1000);
if (n1000 && aloneWall !== undefined)
  targets.push(
    check('native 1000 Hz wall slowdown', ((rows.get(n1000)!.wall - aloneWall) / aloneWall) * 100, 5, '%'),
  );
// A recording here lasts as long as the target's work (seconds): V8 compiles the sampler for ~5 s at
// 1000 Hz, so its CPU per sample is mostly that warm-up. The target is judged past it by
// bench/recording-cpu.ts; this run's figure is printed, not judged.
for (const mode of ['default', 'blocking', 'native'] as const) {
  const c = find(mode, Math.max(...RATES));
  const us = c ? rows.get(c)!.perSampleUs : undefined;
  if (us !== undefined)
    targets.push(
      `${mode} luaprof CPU/sample at depth ${DEPTH}: ${us.toFixed(1)} µs over these recordings, V8's warm-up ` +
        `included (≤ ${mode === 'native' ? 60 : 25} µs is judged past it: node dist/bench/recording-cpu.js)`,
    );
}
const shown = targets.filter((t): t is string => t !== null);
if (shown.length)
  out.push(
    '',
    'targets (judge the % figures against the noise band; bench/marginal-cost.ts resolves slowdowns finer):',
    ...shown.map((t) => `- ${t}`),
  );
console.log(out.join('\n'));
