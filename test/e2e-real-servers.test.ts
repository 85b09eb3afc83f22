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

const NGINX_ROOT = join(ROOT, '.cache/hosts/nginx-lua/root');
const NGINX = join(NGINX_ROOT, 'usr/sbin/nginx');

/** An nginx prefix in a temp dir: master + 2 workers serving fixtures/hosts/nginx/work.lua on `port`. */
function nginxPrefix(port: number): string {
  const dir = tempDir();
  const modules = join(NGINX_ROOT, 'usr/lib/nginx/modules');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
worker_processes 2;
error_log ${dir}/error.log;
pid ${dir}/nginx.pid;
load_module ${modules}/ndk_http_module.so;
load_module ${modules}/ngx_http_lua_module.so;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir};
  uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
  lua_package_path "${join(HOSTS, 'nginx')}/?.lua;${join(NGINX_ROOT, 'usr/share/lua/5.1')}/?.lua;;";
  server {
    listen 127.0.0.1:${port};
    location /a { content_by_lua_block { ngx.say(require("work").light_work()) } }
    location /b { content_by_lua_block { ngx.say(require("work").heavy_work()) } }
  }
}
`,
  );
  return dir;
}

describe.skipIf(!existsSync(NGINX))('nginx + lua-nginx-module: a master that forks workers', () => {
  // The module needs OpenResty's LuaJIT (unpacked beside it by scripts/hosts/nginx-lua.sh).
  const env = { ...process.env, LD_LIBRARY_PATH: join(NGINX_ROOT, 'usr/lib/x86_64-linux-gnu') };
  const nginxArgs = (dir: string) => ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];

  it('record -p MASTER --subprocesses follows both workers', { timeout: 90_000 }, async () => {
    const port = await freePort();
    const dir = nginxPrefix(port);
    const master = spawn(NGINX, nginxArgs(dir), { stdio: 'ignore', env });
    started.push(master);
    await waitAnswering(port);
    load(port, '/a,/b', 60);
    const workers = () =>
      readFileSync(`/proc/${master.pid}/task/${master.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const out = join(dir, 'p.json');
    const r = await luaprof([
      'record',
      '-p',
      String(master.pid),
      '--subprocesses',
      '-d',
      '3s',
      '-r',
      '300',
      '-o',
      out,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const p = readProfile(out);
    const sampled = new Set(p.threads.filter((t) => t.samples.length > 0).map((t) => t.pid));
    for (const w of workers()) expect(sampled.has(w), `worker ${w}: ${r.stderr}`).toBe(true);
    expect(r.stderr).toMatch(/following pid \d+ \(LuaJIT [^)]+\): nginx: worker process/);
    const counts = samplesWith(p);
    expect(counts.get('light_work') ?? 0, r.stderr).toBeGreaterThan(10);
    expect(counts.get('heavy_work') ?? 0).toBeGreaterThan(counts.get('light_work') ?? 0);
  });

  it(
    'record --subprocesses -d -- nginx … samples the workers, then ends the server it started',
    { timeout: 90_000 },
    async () => {
      const port = await freePort();
      const dir = nginxPrefix(port);
      const out = join(dir, 'p.json');
      const rec = luaprof([
        'record',
        '--subprocesses',
        '-d',
        '4s',
        '-r',
        '300',
        '-o',
        out,
        '--',
        'env',
        `LD_LIBRARY_PATH=${env.LD_LIBRARY_PATH}`,
        NGINX,
        ...nginxArgs(dir),
      ]);
      await waitAnswering(port, 20_000);
      load(port, '/a,/b', 30);
      const r = await rec;
      expect(r.status, r.stderr).toBe(0);
      const counts = samplesWith(readProfile(out));
      expect(counts.get('heavy_work') ?? 0, r.stderr).toBeGreaterThan(10);
      expect(r.stderr).toMatch(/ending env \(pid \d+\)/);
      // The master and its workers are gone.
      expect(
        existsSync(join(dir, 'nginx.pid'))
          ? alive(Number(readFileSync(join(dir, 'nginx.pid'), 'utf8')))
          : false,
      ).toBe(false);
    },
  );
});
