/**
 * --upload costs nothing to sampling, and what an agent costs per host.
 *
 * 1. Sampling is not slowed by the network: the same `record -p PID -r RATE -d SECONDS` on a busy
 *    lua5.4 (bench/cpu.lua), interleaved rounds, without --upload (-o a pprof file), with --upload to a
 *    dead server (a port nothing listens on) and to a slow one (answers after 5 s), 1 s windows.
 *    Achieved rate: the CLI's own "(R Hz achieved)".
 * 2. Fleet figures: `record --match` of N lua5.4 processes (1 and 8; niced, bench/cpu.lua) at 100 Hz with
 *    --upload to an in-process Pyroscope stand-in, 10 s windows: luaprof's CPU (from /proc, after
 *    start-up) and RSS, pprof bytes per process per window, bytes sent per process per second.
 * 3. Window size against the shape of the code: a full 10 s window at 100 Hz (1,000 samples) with S
 *    distinct stacks of depth 20 drawn from 400 functions in 40 files, encoded as the upload encodes it
 *    (report/pprof.ts, gzipped) and as Parca's JSON carries it (base64).
 *
 * 4. Memory over a long upload-only run (--parts 4, --long-seconds 150): RSS at intervals, 1000 Hz, 1 s windows.
 *
 *   npm run build && node dist/bench/upload.js [--parts 1,2,3] [--rate 500] [--seconds 6] [--rounds 3] [--fleet-seconds 32]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProfileBuilder, type Frame } from '../aggregator/profile.js';
import { toPprof } from '../report/pprof.js';
import { pyroscopeServer } from '../testkit/backend-servers.js';
import { rng as seeded } from '../testkit/rng.js';
import { ROOT, commandLine, medianOf, option, parseSummary, spawnCli } from './harness.js';

const RATE = Number(option('rate', '500'));
const SECONDS = Number(option('seconds', '6'));
const ROUNDS = Number(option('rounds', '3'));
const FLEET_SECONDS = Number(option('fleet-seconds', '32'));
const CLK_TCK = 100;
const PARTS = new Set(option('parts', '1,2,3').split(',').map(Number));

function startTarget(nice = false): ChildProcess {
  const args = [join(ROOT, 'bench/cpu.lua'), '30', '1000000'];
  const t = nice
    ? spawn('nice', ['-n', '19', 'lua5.4', ...args], { stdio: ['pipe', 'ignore', 'inherit'] })
    : spawn('lua5.4', args, { stdio: ['pipe', 'ignore', 'inherit'] });
  t.stdin!.write('go\n');
  return t;
}

interface Run {
  stderr: string;
  code: number | null;
  cpuPct?: number;
  rssKiB?: number;
}

/** Runs luaprof; with `watchFrom`, reads its CPU time and RSS from /proc from that second to just before its end. */
function luaprof(args: string[], watch?: { from: number; to: number }): Promise<Run> {
  const child = spawnCli(args);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const ticks = () => {
    try {
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]);
    } catch {
      return undefined;
    }
  };
  const rss = () => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  };
  const run: Run = { stderr: '', code: null };
  if (watch) {
    let t0: number | undefined;
    setTimeout(() => (t0 = ticks()), watch.from * 1000);
    setTimeout(() => {
      const t1 = ticks();
      if (t0 !== undefined && t1 !== undefined)
        run.cpuPct = ((t1 - t0) / CLK_TCK / (watch.to - watch.from)) * 100;
      run.rssKiB = rss();
    }, watch.to * 1000);
  }
  return new Promise((res) =>
    child.on('close', (code) => {
      run.code = code;
      run.stderr = stderr;
      res(run);
    }),
  );
}

/** A port nothing listens on: taken, then given back. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const out: string[] = [`    ${commandLine()}`, ''];
const dir = mkdtempSync(join(tmpdir(), 'luaprof-upload-bench-'));
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

// --- 1. does a dead or slow backend slow sampling? -------------------------------------------------
if (PARTS.has(1)) {
  out.push(
    `${new Date().toISOString()}, load average ${load()}; lua5.4 bench/cpu.lua at depth 30, -r ${RATE} -d ${SECONDS}s, ${ROUNDS} interleaved rounds, 1 s windows`,
    '',
    '| configuration | achieved Hz per round | median | vs. no upload |',
    '|---|---|---|---|',
  );
  const slow = await pyroscopeServer();
  slow.behaviour.delayMs = 5000;
  const dead = `http://127.0.0.1:${await deadPort()}`;
  const configs: [string, string[]][] = [
    ['no --upload (-o pprof file)', []],
    ['--upload to a dead server', ['--upload', dead, '--upload-interval', '1s']],
    ['--upload to a slow server (5 s)', ['--upload', slow.url, '--upload-interval', '1s']],
  ];
  const rates = new Map<string, (number | undefined)[]>(configs.map(([n]) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, extra] of configs) {
      const target = startTarget();
      await new Promise((r) => setTimeout(r, 200));
      const file = join(dir, 'p.pb.gz');
      const args = [
        'record',
        '-p',
        String(target.pid),
        '-r',
        String(RATE),
        '-d',
        `${SECONDS}s`,
        '--no-progress',
      ];
      const r = await luaprof([...args, ...(extra.length ? extra : ['-o', file])]);
      target.kill('SIGKILL');
      const s = parseSummary(r.stderr);
      rates.get(name)!.push(s.rateHz);
      process.stderr.write(`${name}: exit ${r.code}, ${s.rateHz} Hz\n`);
    }
  }
  const base = medianOf(rates.get(configs[0][0])!);
  for (const [name] of configs) {
    const m = medianOf(rates.get(name)!);
    const dev = m !== undefined && base ? ((m - base) / base) * 100 : undefined;
    out.push(
      `| ${name} | ${rates
        .get(name)!
        .map((x) => x ?? '?')
        .join(
          ', ',
        )} | ${m ?? '?'} | ${dev === undefined ? '—' : `${dev >= 0 ? '+' : ''}${dev.toFixed(2)}%`} |`,
    );
  }
  await slow.close();
}

// --- 2. fleet figures --------------------------------------------------------------------------------
if (PARTS.has(2)) {
  out.push(
    '',
    `${new Date().toISOString()}, load average ${load()}; record --match at 100 Hz, --upload to an in-process Pyroscope stand-in, 10 s windows, ${FLEET_SECONDS} s; targets niced lua5.4 bench/cpu.lua (busy)`,
    '',
    '| processes | luaprof CPU (% of one CPU, after start-up) | RSS | pprof per process per 10 s window (median, gzipped) | sent per process per second |',
    '|---|---|---|---|---|',
  );
  for (const n of [1, 8]) {
    const server = await pyroscopeServer();
    const tag = `luaprof-fleet-${process.pid}-${n}`;
    // The tag is in each target's command line (an extra argument cpu.lua ignores): --match finds exactly these.
    const targets = Array.from({ length: n }, () =>
      spawn('nice', ['-n', '19', 'lua5.4', join(ROOT, 'bench/cpu.lua'), '30', '1000000', tag], {
        stdio: ['pipe', 'ignore', 'inherit'],
      }),
    );
    for (const t of targets) t.stdin!.write('go\n');
    await new Promise((r) => setTimeout(r, 300));
    const r = await luaprof(
      [
        'record',
        '--match',
        tag,
        '-r',
        '100',
        '-d',
        `${FLEET_SECONDS}s`,
        '--upload',
        server.url,
        '--no-progress',
      ],
      { from: 3, to: FLEET_SECONDS - 1 },
    );
    for (const t of targets) t.kill('SIGKILL');
    // Full windows only (the last one is partial).
    const full = server.pushes.filter((p) => p.until - p.from >= 9);
    const bytes = medianOf(full.map((p) => p.bytes));
    const sentPerSec = server.pushes.reduce((a, p) => a + p.bytes, 0) / n / FLEET_SECONDS;
    process.stderr.write(`fleet ${n}: exit ${r.code}; ${server.pushes.length} pushes\n${r.stderr}\n`);
    out.push(
      `| ${n} | ${r.cpuPct?.toFixed(1) ?? '?'}% | ${r.rssKiB ? `${(r.rssKiB / 1024).toFixed(0)} MiB` : '?'} | ${bytes ? `${(bytes / 1024).toFixed(1)} KiB` : '?'} (${full.length} windows) | ${sentPerSec.toFixed(0)} B/s |`,
    );
    await server.close();
  }
}

// --- 4. memory over a long upload-only run -----------------------------------------------------------
if (PARTS.has(4)) {
  const LONG = Number(option('long-seconds', '150'));
  const server = await pyroscopeServer();
  const target = startTarget(true);
  await new Promise((r) => setTimeout(r, 200));
  const child = spawnCli([
    'record',
    '-p',
    String(target.pid),
    '-r',
    '1000',
    '-d',
    `${LONG}s`,
    '--upload',
    server.url,
    '--upload-interval',
    '1s',
    '--no-progress',
  ]);
  const rss: [number, number | undefined][] = [];
  const readRss = () => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  };
  const at = [10, 30, 60, 90, 120, LONG - 5].filter((t) => t < LONG);
  for (const t of at) setTimeout(() => rss.push([t, readRss()]), t * 1000);
  await new Promise((r) => child.on('close', r));
  target.kill('SIGKILL');
  out.push(
    '',
    `${new Date().toISOString()}, load average ${load()}; record -p (niced busy lua5.4) -r 1000 -d ${LONG}s --upload (stand-in), 1 s windows, no -o: luaprof's RSS over time (${server.pushes.length} windows sent)`,
    '',
    `| ${at.map((t) => `${t} s`).join(' | ')} |`,
    `|${at.map(() => '---|').join('')}`,
    `| ${rss.map(([, k]) => (k ? `${(k / 1024).toFixed(0)} MiB` : '?')).join(' | ')} |`,
  );
  await server.close();
}

// --- 3. window size against distinct stacks ---------------------------------------------------------
if (PARTS.has(3)) {
  out.push(
    '',
    'A full 10 s window at 100 Hz (1,000 samples, one thread), S distinct stacks of depth 20 from 400 functions in 40 files, samples spread over the stacks by a Zipf law:',
    '',
    '| distinct stacks S (of them sampled) | gzipped pprof (Pyroscope body) | Parca JSON (base64) |',
    '|---|---|---|',
  );
  const rng = seeded(7);
  const fns: Frame[] = Array.from({ length: 400 }, (_, i) => ({
    kind: 'lua',
    name: `handler_${i}`,
    file: `app/module_${i % 40}.lua`,
    lineDefined: 10 + ((i * 37) % 900),
  }));
  for (const S of [10, 50, 200, 1000]) {
    const stacks = Array.from({ length: S }, () =>
      Array.from({ length: 20 }, () => fns[Math.floor(rng() * fns.length)]),
    );
    const weights = stacks.map((_, i) => 1 / (i + 1));
    const total = weights.reduce((a, w) => a + w, 0);
    const cumulative: number[] = [];
    weights.reduce((acc, w, k) => (cumulative[k] = acc + w / total), 0);
    const b = new ProfileBuilder();
    const n = 1000;
    for (let k = 0; k < n; k++) {
      const x = rng();
      const at = cumulative.findIndex((c) => c >= x);
      b.addSample(100, 'lua5.4', stacks[at < 0 ? S - 1 : at], k * 10, 1, 100);
    }
    const distinct = b.stacks.length;
    const profile = b.build({
      tool: 'luaprof',
      version: '0.1.0',
      pid: 100,
      rate: 100,
      startTime: Date.now(),
      durationMs: 10_000,
      samples: n,
      errors: 0,
    });
    const gz = toPprof(profile, { threadLabels: { id: 'thread_id', name: 'thread_name' } });
    const parca = JSON.stringify({
      series: [{ labels: { labels: [] }, samples: [{ raw_profile: gz.toString('base64') }] }],
    });
    out.push(
      `| ${S} (${distinct} sampled) | ${(gz.length / 1024).toFixed(1)} KiB | ${(Buffer.byteLength(parca) / 1024).toFixed(1)} KiB |`,
    );
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(out.join('\n'));
