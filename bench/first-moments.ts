/**
 * A recording's first moments: what the target keeps of its CPU while luaprof starts sampling, and
 * what the samples of those moments are. A busy stock lua5.4 (bench/cpu.lua, Lua depth 30) runs;
 * `luaprof record -p PID -d 1s -r RATE` attaches; from the "sampling pid" line on, the target's CPU
 * time (/proc/PID/schedstat) is read every --every ms, --points times. Printed per run: the target's
 * share of the wall time from that line to each point, and what luaprof kept (samples, off-CPU,
 * the kernel's copies).
 * --cli FILE runs another build's CLI (the A/B pairs alternate with --cli-b FILE when given).
 *
 *   npm run build && node dist/bench/first-moments.js [--repeat 3] [--rate 1000] [--every 40]
 *       [--points 8] [--cli FILE] [--cli-b FILE]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ROOT, option, readMeta, reportHeader, spawnCli } from './harness.js';

const REPEAT = Number(option('repeat', '3'));
const RATE = option('rate', '1000');
const EVERY_MS = Number(option('every', '40'));
const POINTS = Number(option('points', '8'));
const CLI_B = option('cli-b', '');

const cpuMs = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;

async function run(cli: string, pid: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'luaprof-first-'));
  const argv = [
    'record',
    '-p',
    String(pid),
    '-d',
    '1s',
    '-r',
    RATE,
    '-o',
    join(dir, 'p.json'),
    '--no-progress',
  ];
  const prof = spawnCli(argv, 'ignore', cli);
  let err = '';
  const shares: string[] = [];
  prof.stderr!.on('data', (d) => {
    const first = !err.includes('sampling pid');
    err += d;
    if (!first || !err.includes('sampling pid')) return;
    const [t0, c0] = [performance.now(), cpuMs(pid)];
    const point = () => {
      const wall = performance.now() - t0;
      shares.push(`${wall.toFixed(0)} ms ${(((cpuMs(pid) - c0) / wall) * 100).toFixed(0)}%`);
      if (shares.length < POINTS) setTimeout(point, EVERY_MS);
    };
    setTimeout(point, EVERY_MS);
  });
  await new Promise((r) => prof.on('close', r));
  const meta = readMeta(join(dir, 'p.json'));
  rmSync(dir, { recursive: true, force: true });
  return `${shares.join(', ')} | kept ${meta.samples}, off-CPU ${meta.offCpu}, the kernel's copies ${meta.tickCopies}`;
}

const target = spawn('lua5.4', [join(ROOT, 'bench/cpu.lua'), '30', '1000000'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));
try {
  for (const line of reportHeader(`lua5.4 bench/cpu.lua at Lua depth 30, record -d 1s -r ${RATE}`))
    console.log(line);
  console.log("The target's share of the wall time from the sampling loop's start to each point:");
  for (let i = 0; i < REPEAT; i++) {
    console.log(`A ${await run(CLI, target.pid!)}`);
    if (CLI_B) console.log(`B ${await run(CLI_B, target.pid!)}`);
  }
} finally {
  target.kill('SIGKILL');
}
