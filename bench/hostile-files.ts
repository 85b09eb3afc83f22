/**
 * Hostile profile files (issue 13), the long version of test/hostile-profiles.test.ts and
 * test/e2e-hostile-files.test.ts:
 *   1. `--inputs` mutated speedscope, folded and pprof files (testkit/hostile-profiles.ts) read in
 *      process: each must be read into a usable profile or refused with one ProfileFormatError line;
 *   2. `luaprof report` on `--cli` of them that the readers refuse: exit 6, one line, no stack trace;
 *   3. a ~300 MB single-line file: refused by its size (exit 6, before it is read), and read with
 *      `--max-input-size 1G` (exit 6, one line), luaprof's peak RSS under 1 GB.
 *
 *     npm run build && node dist/bench/hostile-files.js [--inputs 10000] [--cli-runs 100] [--seed 13] [--big-mb 300]
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { hostileInputs, readsSafely, type HostileInput } from '../testkit/hostile-profiles.js';
import { tempDir } from '../testkit/root.js';
import { spawnCli } from './harness.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const inputs = arg('inputs', 10_000);
const cliRuns = arg('cli-runs', 100);
const seed = arg('seed', 13);
const bigMb = arg('big-mb', 300);

interface CliRun {
  code: number | null;
  stderr: string;
  peakRssKb: number;
  ms: number;
}

/** Runs luaprof, polling its peak RSS (VmHWM only grows) until it exits. */
function luaprof(args: string[]): Promise<CliRun> {
  const t0 = Date.now();
  const child = spawnCli(args);
  let stderr = '';
  let peak = 0;
  child.stderr!.on('data', (d) => (stderr += d));
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s*(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      /* exited */
    }
  }, 10);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearInterval(poll);
      resolve({ code, stderr, peakRssKb: peak, ms: Date.now() - t0 });
    }),
  );
}

const oneLine = (r: CliRun) => /^luaprof: [^\n]*\n$/.test(r.stderr) && !/\n\s+at /.test(r.stderr);

// 1. In process.
const t0 = Date.now();
const counts = { read: 0, refused: 0 };
const failures: string[] = [];
const refusedInputs: HostileInput[] = [];
for (const input of hostileInputs(seed, inputs)) {
  try {
    const outcome = readsSafely(input);
    counts[outcome]++;
    if (outcome === 'refused' && refusedInputs.length < cliRuns) refusedInputs.push(input);
  } catch (e) {
    failures.push(`${input.kind} (${input.mutation}): ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
}
const inProcessMs = Date.now() - t0;
console.log(
  `in process: ${inputs} inputs (seed ${seed}) in ${(inProcessMs / 1000).toFixed(1)} s: ` +
    `${counts.read} read, ${counts.refused} refused, ${failures.length} failures`,
);
for (const f of failures.slice(0, 20)) console.log(`  FAIL ${f}`);

// 2. The CLI on refused inputs.
const dir = tempDir('luaprof-hostile-');
let cliBad = 0;
let cliPeak = 0;
const ext = { speedscope: 'json', folded: 'folded', pprof: 'pb.gz' };
for (let i = 0; i < refusedInputs.length; i++) {
  const input = refusedInputs[i];
  const file = join(dir, `in${i}.${ext[input.kind]}`);
  writeFileSync(file, input.bytes);
  const r = await luaprof(['report', '-i', file, '-o', join(dir, 'out.folded')]);
  cliPeak = Math.max(cliPeak, r.peakRssKb);
  if (r.code !== 6 || !oneLine(r)) {
    cliBad++;
    console.log(`  CLI FAIL ${input.kind} (${input.mutation}): exit ${r.code}: ${r.stderr.slice(0, 200)}`);
  }
  rmSync(file);
}
console.log(
  `CLI: ${refusedInputs.length} refused inputs through 'luaprof report': ${cliBad} not (exit 6, one line); ` +
    `peak RSS ${(cliPeak / 1024).toFixed(0)} MB`,
);

// 3. One big single-line file: JSON that never closes.
const big = join(dir, 'big.json');
const fd = openSync(big, 'w');
writeSync(fd, '{"shared":{"frames":[{"name":"');
const chunk = Buffer.alloc(1 << 20, 'x');
for (let i = 0; i < bigMb; i++) writeSync(fd, chunk);
closeSync(fd);
const bySize = await luaprof(['report', '-i', big, '-o', join(dir, 'out.folded')]);
console.log(
  `${bigMb} MB single line, default limit: exit ${bySize.code} in ${bySize.ms} ms, one line ${oneLine(bySize)}, ` +
    `peak RSS ${(bySize.peakRssKb / 1024).toFixed(0)} MB: ${bySize.stderr.trim()}`,
);
const read = await luaprof(['report', '-i', big, '-o', join(dir, 'out.folded'), '--max-input-size', '1G']);
console.log(
  `${bigMb} MB single line, --max-input-size 1G: exit ${read.code} in ${read.ms} ms, one line ${oneLine(read)}, ` +
    `peak RSS ${(read.peakRssKb / 1024).toFixed(0)} MB: ${read.stderr.trim().slice(0, 160)}`,
);
rmSync(dir, { recursive: true, force: true });
const ok =
  failures.length === 0 &&
  cliBad === 0 &&
  bySize.code === 6 &&
  oneLine(bySize) &&
  read.code === 6 &&
  oneLine(read) &&
  read.peakRssKb < 1024 * 1024;
console.log(ok ? 'PASS' : 'FAIL');
process.exit(ok ? 0 : 1);
