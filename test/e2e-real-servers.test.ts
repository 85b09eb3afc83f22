/**
 * End to end against real servers from Debian that embed Lua (installed by scripts/setup.sh), each in
 * a way luaprof's own fixtures model:
 * - HAProxy (Lua 5.3 through liblua5.3, two threads): each HTTP request runs a `core.register_service`
 *   applet in a new coroutine that HAProxy creates and resumes from C.
 * - sysbench (LuaJIT 2.1, JIT on): each worker thread creates its own LuaJIT state and runs the
 *   script's event() in a loop; the main thread runs no Lua while they work.
 * HAProxy is loaded on loopback by fixtures/hosts/load.mjs while luaprof records.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Profile } from '../aggregator/profile.js';
import { readProfile } from '../report/read.js';
import { ROOT, alive, luaprof, ptraceState, tempDir } from './helpers/lua-process.js';

const HOSTS = join(ROOT, 'fixtures/hosts');
const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitAnswering(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/a`)).ok) return;
    } catch {
      if (Date.now() > end) throw new Error(`nothing answers on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Samples per function name (a sample counts once per name on its stack), over every thread. */
function samplesWith(p: Profile): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of p.threads)
    for (const s of t.samples)
      for (const name of new Set(p.stacks[s].map((f) => p.frames[f].name)))
        out.set(name, (out.get(name) ?? 0) + 1);
  return out;
}

/** Starts `node load.mjs` against the server for `seconds` (loopback only). */
function load(port: number, paths: string, seconds: number): ChildProcess {
  const c = spawn(
    process.execPath,
    [join(HOSTS, 'load.mjs'), `http://127.0.0.1:${port}`, paths, String(seconds), '4'],
    {
      stdio: 'ignore',
    },
  );
  started.push(c);
  return c;
}

describe.skipIf(!existsSync('/usr/sbin/haproxy'))('HAProxy: a new coroutine per request', () => {
  it(
    'record -p samples the request coroutines on its threads; dump shows one',
    { timeout: 90_000 },
    async () => {
      const dir = tempDir();
      const port = await freePort();
      const cfg = join(dir, 'haproxy.cfg');
      writeFileSync(
        cfg,
        readFileSync(join(HOSTS, 'haproxy/haproxy.cfg.in'), 'utf8')
          .replaceAll('DIR', join(HOSTS, 'haproxy'))
          .replaceAll('PORT', String(port)),
      );
      const server = spawn('/usr/sbin/haproxy', ['-db', '-f', cfg], { stdio: 'ignore' });
      started.push(server);
      await waitAnswering(port);
      load(port, '/a,/b', 60);
      await new Promise((r) => setTimeout(r, 500));

      const out = join(dir, 'p.json');
      const r = await luaprof(['record', '-p', String(server.pid), '-d', '3s', '-r', '300', '-o', out]);
      expect(r.status, r.stderr).toBe(0);
      const p = readProfile(out);
      const counts = samplesWith(p);
      // /a runs light_work (1 unit), /b heavy_work (3 units), alternately.
      const light = counts.get('light_work') ?? 0;
      const heavy = counts.get('heavy_work') ?? 0;
      expect(light, r.stderr).toBeGreaterThan(10);
      expect(heavy, r.stderr).toBeGreaterThan(light);

      let shown = '';
      for (let i = 0; i < 20 && !/(light|heavy)_work/.test(shown); i++)
        shown = (await luaprof(['dump', '-p', String(server.pid)])).stdout;
      expect(shown).toMatch(/(light|heavy)_work/);
      expect(alive(server.pid!)).toBe(true);
      expect(ptraceState(server.pid!).tracer).toBe(0);
    },
  );
});

describe.skipIf(!existsSync('/usr/bin/sysbench'))('sysbench: a LuaJIT state per worker thread', () => {
  it(
    'record -p samples every worker; --threads takes them; dump shows them',
    { timeout: 90_000 },
    async () => {
      const bench = spawn(
        '/usr/bin/sysbench',
        [join(HOSTS, 'sysbench/work.lua'), '--threads=2', '--time=60', 'run'],
        { stdio: 'ignore', cwd: join(HOSTS, 'sysbench') },
      );
      started.push(bench);
      const pid = bench.pid!;
      const tasks = () => readdirSync(`/proc/${pid}/task`).map(Number);
      const end = Date.now() + 10_000;
      while (tasks().length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const workers = tasks().filter((t) => t !== pid);
      expect(workers).toHaveLength(2);

      const dir = tempDir();
      const out = join(dir, 'p.json');
      const r = await luaprof(['record', '-p', String(pid), '-d', '2s', '-r', '300', '-o', out]);
      expect(r.status, r.stderr).toBe(0);
      const p = readProfile(out);
      for (const tid of workers) {
        const t = p.threads.find((x) => x.tid === tid);
        expect(t?.samples.length ?? 0, `worker ${tid}: ${r.stderr}`).toBeGreaterThan(20);
      }
      // event() calls light_work (1 unit) and heavy_work (3 units).
      const counts = samplesWith(p);
      const light = counts.get('light_work') ?? 0;
      const heavy = counts.get('heavy_work') ?? 0;
      expect(light).toBeGreaterThan(5);
      expect(heavy).toBeGreaterThan(light);

      const only = join(dir, 'only.json');
      const chosen = await luaprof([
        'record',
        '-p',
        String(pid),
        '--threads',
        workers.join(','),
        '-d',
        '1s',
        '-o',
        only,
      ]);
      expect(chosen.status, chosen.stderr).toBe(0);
      expect(
        readProfile(only)
          .threads.map((t) => t.tid)
          .sort(),
      ).toEqual([...workers].sort());

      const shown = await luaprof(['dump', '-p', String(pid)]);
      expect(shown.status, shown.stderr).toBe(0);
      for (const tid of workers) expect(shown.stdout).toContain(`Thread ${tid} `);
      expect(shown.stdout).toMatch(/(light|heavy)_work/);
      expect(ptraceState(pid).tracer).toBe(0);
    },
  );
});
