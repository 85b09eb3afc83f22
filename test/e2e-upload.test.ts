/**
 * record --upload and --match against real Lua processes, pushing to in-process stand-ins of the
 * backends (testkit/backend-servers.ts: they check requests as Pyroscope's and Parca's handlers do).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fromPprof } from '../report/pprof.js';
import { ProfileBuilder, type Profile } from '../aggregator/profile.js';
import { parcaServer, pyroscopeServer, type FakeBackend, type Push } from '../testkit/backend-servers.js';
import { CLI, FIXTURES, startLua, tempDir, waitFor } from './helpers/lua-process.js';
import { expectSharesMatchTruth, inclusiveShare } from './helpers/shares.js';

const children: ChildProcess[] = [];
const servers: FakeBackend[] = [];
const dirs: string[] = [];
afterEach(async () => {
  children.splice(0).forEach((c) => c.kill('SIGKILL'));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function scratch(): string {
  const d = tempDir('luaprof-upload-');
  dirs.push(d);
  return d;
}

function lua(args: string[]): ChildProcess {
  const c = startLua('lua5.4', join(FIXTURES, 'shares.lua'), args);
  children.push(c);
  return c;
}

interface Result {
  status: number | null;
  stderr: string;
}

/** luaprof from `cwd` (so a file it should not write would show up there); `signalAfterMs` sends SIGTERM that long after sampling began. */
function luaprof(
  args: string[],
  cwd: string,
  signalAfterMs?: number,
  env: NodeJS.ProcessEnv = {},
): Promise<Result> {
  const c = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  c.stderr!.on('data', (d) => (stderr += d));
  const kill = setTimeout(() => c.kill('SIGKILL'), 60_000);
  // Counted from the line that says sampling has begun (Node's start takes seconds on a loaded machine).
  let signalled = false;
  c.stderr!.on('data', () => {
    if (signalAfterMs === undefined || signalled || !stderr.includes('luaprof: sampling')) return;
    signalled = true;
    setTimeout(() => c.kill('SIGTERM'), signalAfterMs);
  });
  return new Promise((res) =>
    c.on('close', (status) => {
      clearTimeout(kill);
      res({ status, stderr });
    }),
  );
}

/** The pushed pprofs read back by luaprof's own pprof reader (what `luaprof report` does with a pprof) and merged. */
function merged(pushes: Push[]): Profile {
  const b = new ProfileBuilder();
  for (const p of pushes) {
    const one = fromPprof(gzipSync(p.profile.encode()));
    for (const t of one.threads)
      t.samples.forEach((s, i) =>
        b.addSample(t.tid, t.name, one.stacks[s].map((f) => one.frames[f]).reverse(), 0, t.weights[i]),
      );
  }
  return b.build({ tool: 'luaprof', version: '0', startTime: 0, durationMs: 0, samples: 0, errors: 0 });
}

describe('record --upload, Pyroscope', () => {
  it(
    "a window a second, each with the fixture's functions in the right shares, labels and window times; no local file",
    { retry: 1 },
    async () => {
      const server = await pyroscopeServer();
      servers.push(server);
      const cwd = scratch();
      const truth = join(cwd, 'truth');
      const target = lua([truth, '4']);
      const t0 = Date.now();
      const r = await luaprof(
        [
          'record',
          '-p',
          String(target.pid),
          '-d',
          '3s',
          // 1000 Hz: on a loaded machine most ticks find the target off its CPU; shares need samples.
          '-r',
          '1000',
          '--upload',
          server.url,
          '--upload-interval',
          '1s',
          '--tags',
          'env=e2e',
          '--no-progress',
        ],
        cwd,
      );
      expect(r.status, r.stderr).toBe(0);
      expect(readdirSync(cwd).filter((f) => f !== 'truth')).toEqual([]);
      expect(r.stderr).toMatch(/upload to pyroscope 127\.0\.0\.1:\d+: (\d+) of \1 windows sent/);
      // 3 windows (the last may be cut short by the end of -d, or empty when every tick found the target off its CPU).
      expect(server.pushes.length).toBeGreaterThanOrEqual(2);
      expect(server.pushes.length).toBeLessThanOrEqual(3);
      for (const [i, p] of server.pushes.entries()) {
        expect(p.labels).toMatchObject({
          __name__: 'lua5.4.cpu',
          pid: String(target.pid),
          env: 'e2e',
          lua_version: 'Lua 5.4.4',
        });
        expect(p.labels.hostname).toBeTruthy();
        expect(p.query).toMatchObject({ spyName: 'luaprof', sampleRate: '1000', format: 'pprof' });
        expect(p.from).toBeGreaterThanOrEqual(Math.floor(t0 / 1000));
        expect(p.until - p.from).toBeLessThanOrEqual(1);
        if (i > 0) expect(p.from).toBeGreaterThanOrEqual(server.pushes[i - 1].until);
      }
      await waitFor(() => existsSync(truth) && readFileSync(truth, 'utf8').length > 0, 10_000, 'truth file');
      const all = merged(server.pushes);
      expect(inclusiveShare(all, (n) => n === 'alpha')).toBeGreaterThan(0);
      expectSharesMatchTruth(all, truth, 10);
    },
  );

  it('SIGTERM flushes the last window and exits 0', async () => {
    const server = await pyroscopeServer();
    servers.push(server);
    const cwd = scratch();
    const target = lua([join(cwd, 'truth'), '10']);
    const r = await luaprof(
      ['record', '-p', String(target.pid), '--upload', server.url, '--no-progress'],
      cwd,
      2500,
    );
    expect(r.status, r.stderr).toBe(0);
    // A 10 s window cut short by SIGTERM after ~2 s: sent, not lost.
    expect(server.pushes).toHaveLength(1);
    expect(server.pushes[0].profile.sample.length).toBeGreaterThan(0);
  });

  it("a refused upload is said once with the server's message: exit 13", async () => {
    const server = await pyroscopeServer();
    servers.push(server);
    server.behaviour.token = 'right';
    const cwd = scratch();
    const target = lua([join(cwd, 'truth'), '5']);
    const r = await luaprof(
      [
        'record',
        '-p',
        String(target.pid),
        '-d',
        '2500ms',
        '--upload',
        server.url,
        '--upload-interval',
        '1s',
        '--no-progress',
      ],
      cwd,
      undefined,
      { LUAPROF_UPLOAD_TOKEN: 'wrong' },
    );
    expect(r.status, r.stderr).toBe(13);
    expect(r.stderr.match(/upload refused/g)).toEqual(['upload refused']);
    expect(r.stderr).toContain('upload refused: HTTP 401: invalid credentials (/ingest)');
  });

  it('usage errors are one line, exit 2: a bad label, a bad regex, a URL with credentials', async () => {
    const cwd = scratch();
    const bad = [
      [
        ['record', '-p', String(process.pid), '--upload', 'http://127.0.0.1:1', '--tags', 'my-tag=1'],
        /label "my-tag"/,
      ],
      [
        ['record', '-p', String(process.pid), '--upload', 'parca+http://127.0.0.1:1', '--tags', 'dc.zone=1'],
        /label "dc\.zone"/,
      ],
      [['record', '--match', '(unclosed', '-d', '1s'], /not a regular expression/],
      [
        ['record', '-p', String(process.pid), '--upload', 'http://u:p@127.0.0.1:1'],
        /credentials do not belong in the URL/,
      ],
      [['record', '-p', String(process.pid), '--tags', 'a=1'], /--tags goes with --upload/],
    ] as const;
    for (const [args, message] of bad) {
      const r = await luaprof([...args], cwd);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
  });
});

const haveGo = (() => {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('the pushed pprof, read independently by go tool pprof -raw', () => {
  it.skipIf(!haveGo)(
    'sample types, values, functions, thread labels and window time as pprof-format reads them',
    async () => {
      const server = await pyroscopeServer();
      servers.push(server);
      const cwd = scratch();
      const target = lua([join(cwd, 'truth'), '4']);
      const r = await luaprof(
        [
          'record',
          '-p',
          String(target.pid),
          '-d',
          '2s',
          '--upload',
          server.url,
          '--upload-interval',
          '1s',
          '--no-progress',
        ],
        cwd,
      );
      expect(r.status, r.stderr).toBe(0);
      const push = server.pushes.find((p) => p.profile.sample.length > 0)!;
      const file = join(cwd, 'window.pb.gz');
      writeFileSync(file, push.raw);
      const raw = execFileSync('go', ['tool', 'pprof', '-raw', file], {
        encoding: 'utf8',
        env: { ...process.env, HOME: cwd, GOCACHE: join(cwd, 'gocache'), GOFLAGS: '-mod=mod' },
        timeout: 60_000,
      });
      expect(raw).toContain('PeriodType: cpu nanoseconds');
      expect(raw).toContain('Period: 10000000');
      expect(raw).toMatch(/^samples\/count cpu\/nanoseconds$/m);
      expect(raw).toContain(`thread_id:[${target.pid}]`);
      expect(raw).toMatch(/ alpha \S*shares\.lua:16 s=16/);
      const values = [...raw.matchAll(/^\s+(\d+)\s+(\d+): [\d ]+$/gm)].map((m) => [
        Number(m[1]),
        Number(m[2]),
      ]);
      for (const [count, ns] of values) expect(ns).toBe(count * 10_000_000);
      const goTotal = values.reduce((a, [c]) => a + c, 0);
      expect(goTotal).toBe(push.profile.sample.reduce((a, s) => a + Number(s.value[0]), 0));
      const time = /^Time: (.*)$/m.exec(raw)![1];
      expect(
        Math.abs(Date.parse(time.replace(/ \+0000 UTC$/, 'Z').replace(' ', 'T')) / 1000 - push.from),
      ).toBeLessThan(1);
    },
  );
});

describe('record --upload, Parca', () => {
  it("writeraw with __name__, service_name and the process labels; the fixture's functions", async () => {
    const server = await parcaServer();
    servers.push(server);
    const cwd = scratch();
    const target = lua([join(cwd, 'truth'), '4']);
    const r = await luaprof(
      [
        'record',
        '-p',
        String(target.pid),
        '-d',
        '2500ms',
        '--upload',
        server.url,
        '--upload-interval',
        '1s',
        '--app-name',
        'gw',
        '--no-progress',
      ],
      cwd,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(server.answers.every((s) => s === 200)).toBe(true);
    expect(server.pushes.length).toBeGreaterThanOrEqual(2);
    expect(server.pushes[0].labels).toMatchObject({
      __name__: 'luaprof',
      service_name: 'gw',
      pid: String(target.pid),
    });
    const names = new Set(merged(server.pushes).frames.map((f) => f.name));
    expect(names).toContain('alpha');
  });
});

describe('record --subprocesses --upload', () => {
  it('each interpreter a runner starts is its own series (its pid), picked up as it appears', async () => {
    const server = await pyroscopeServer();
    servers.push(server);
    const cwd = scratch();
    const runner = join(FIXTURES, 'tree', 'runner.sh');
    const r = await luaprof(
      [
        'record',
        '--subprocesses',
        '--upload',
        server.url,
        '--upload-interval',
        '1s',
        '--no-progress',
        '--',
        'sh',
        runner,
        'lua5.4',
        '3',
        '0.4',
      ],
      cwd,
    );
    expect(r.status, r.stderr).toBe(0);
    const byPid = new Map<string, Set<string>>();
    for (const p of server.pushes) {
      const names = byPid.get(p.labels.pid) ?? new Set<string>();
      const strings = p.profile.stringTable.strings;
      for (const f of p.profile.function) names.add(strings[Number(f.name)]);
      byPid.set(p.labels.pid, names);
    }
    // One series per interpreter, each holding its own job (global 'test_N') and no other's.
    const jobs = [...byPid.values()].map((names) => [...names].filter((n) => /test_\d/.test(n)));
    expect(jobs.map((j) => j.map((n) => /test_(\d)/.exec(n)![1]))).toEqual([['1'], ['2'], ['3']]);
  });
});

describe('record --match', () => {
  /** Two matching processes, one not, then a third matching one later. */
  async function scenario(cwd: string, args: string[], server?: FakeBackend) {
    const tag = `luaprof-e2e-match-${process.pid}-${Date.now()}`;
    const a = lua([join(cwd, 'ta'), '6', tag]);
    const b = lua([join(cwd, 'tb'), '6', tag]);
    const other = lua([join(cwd, 'tc'), '6', 'not-this-one']);
    const run = luaprof(['record', '--match', tag, '-d', '3s', '--no-progress', ...args], cwd);
    await new Promise((r) => setTimeout(r, 1000));
    const late = lua([join(cwd, 'td'), '6', tag]);
    const r = await run;
    void server;
    return { r, matching: [a.pid!, b.pid!, late.pid!], other: other.pid! };
  }

  it('with --upload: each matching process its own series, the other never', async () => {
    const server = await pyroscopeServer();
    servers.push(server);
    const cwd = scratch();
    const { r, matching, other } = await scenario(
      cwd,
      ['--upload', server.url, '--upload-interval', '1s'],
      server,
    );
    expect(r.status, r.stderr).toBe(0);
    const pids = new Set(server.pushes.map((p) => Number(p.labels.pid)));
    expect([...pids].sort()).toEqual([...matching].sort());
    expect(pids.has(other)).toBe(false);
  });

  it('without --upload: one file per matching process in the -o directory', async () => {
    const cwd = scratch();
    const out = join(cwd, 'profiles');
    const { r, matching } = await scenario(cwd, ['-o', out, '-f', 'pprof']);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(matching.map((p) => `luaprof-${p}.pb.gz`).sort());
    for (const pid of matching) {
      const p = fromPprof(readFileSync(join(out, `luaprof-${pid}.pb.gz`)));
      expect(p.meta.pid).toBe(pid);
      expect(p.frames.map((f) => f.name)).toContain('alpha');
    }
  });
});
