/**
 * --upload without a process: backend clients against in-process stand-ins that check requests as the
 * real handlers do (testkit/backend-servers.ts), the queue's retries, bounds and refusals, windows.
 */
import { Profile as PProfile } from 'pprof-format';
import { afterEach, describe, expect, it } from 'vitest';
import type { Frame } from '../aggregator/profile.js';
import { authHeaders, AuthError } from '../upload/auth.js';
import { parseEndpoint } from '../upload/endpoint.js';
import { LabelError, parseTags } from '../upload/labels.js';
import { checkParcaLabels } from '../upload/parca.js';
import { checkPyroscopeAppName, checkPyroscopeLabels, pyroscopeName } from '../upload/pyroscope.js';
import { UploadQueue } from '../upload/queue.js';
import { Uploader, type SampleSource, type UploadConfig } from '../upload/uploader.js';
import { WindowAssembler } from '../upload/windows.js';
import {
  parcaServer,
  parsePyroscopeName,
  pyroscopeServer,
  type FakeBackend,
  type Push,
} from '../testkit/backend-servers.js';

const servers: FakeBackend[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
async function fake(kind: 'pyroscope' | 'parca'): Promise<FakeBackend> {
  const s = kind === 'parca' ? await parcaServer() : await pyroscopeServer();
  servers.push(s);
  return s;
}

describe('labels, per backend', () => {
  it('Pyroscope: names the bad label and the character', () => {
    expect(() => checkPyroscopeLabels({ 'my-tag': 'x' })).toThrow(/label "my-tag".*'-'/);
    expect(() => checkPyroscopeLabels({ env: 'a,b' })).toThrow(/label "env".*','/);
    expect(() => checkPyroscopeLabels({ env: 'a}b' })).toThrow(/label "env".*'}'/);
    expect(() => checkPyroscopeLabels({ __x: 'a' })).toThrow(/"__x".*reserved/);
    expect(() => checkPyroscopeLabels({ 'dc.zone': 'eu-1/a b' })).not.toThrow();
    expect(() => checkPyroscopeAppName('api gw')).toThrow(/U\+0020/);
    expect(() => checkPyroscopeAppName('team/api-gw.v2')).not.toThrow();
  });

  it('Pyroscope: the name luaprof builds parses back (labelset.go) to the same labels', () => {
    const labels = { pid: '42', hostname: 'web-1', lua_version: 'Lua 5.4.6', 'dc.zone': 'eu/1' };
    const name = pyroscopeName('openresty', labels);
    expect(name).toBe('openresty.cpu{dc.zone=eu/1,hostname=web-1,lua_version=Lua 5.4.6,pid=42}');
    expect(parsePyroscopeName(name)).toEqual({ __name__: 'openresty.cpu', ...labels });
    expect(() => parsePyroscopeName('app.cpu{my-tag=1}')).toThrow(/invalid label name: my-tag/);
  });

  it('Parca: Prometheus label names, __name__ reserved', () => {
    expect(() => checkParcaLabels({ 'dc.zone': 'x' })).toThrow(/label "dc.zone".*'\.'/);
    expect(() => checkParcaLabels({ '1st': 'x' })).toThrow(/'1' first/);
    expect(() => checkParcaLabels({ __name__: 'x' })).toThrow(/reserved/);
    expect(() => checkParcaLabels({ _zone: 'a,b}' })).not.toThrow();
  });

  it('--tags parses k=v pairs and refuses what is not', () => {
    expect(parseTags('env=prod, region=eu-1')).toEqual({ env: 'prod', region: 'eu-1' });
    expect(() => parseTags('env')).toThrow(LabelError);
    expect(() => parseTags('a=1,a=2')).toThrow(/twice/);
  });
});

describe('endpoint and credentials', () => {
  it('scheme picks the backend; credentials in the URL are refused', () => {
    expect(parseEndpoint('http://p:4040').kind).toBe('pyroscope');
    const parca = parseEndpoint('parca+https://parca.example:7070/prefix/');
    expect(parca.kind).toBe('parca');
    expect(parca.base.href).toBe('https://parca.example:7070/prefix/');
    expect(() => parseEndpoint('http://u:secret@p:4040')).toThrow(/LUAPROF_UPLOAD_TOKEN/);
    expect(() => parseEndpoint('ftp://p')).toThrow(/unknown scheme/);
  });

  it('token → bearer, user + password → basic, tenant → X-Scope-OrgID, from the environment only', () => {
    expect(authHeaders({ LUAPROF_UPLOAD_TOKEN: 't0k' }, 'team-a')).toEqual({
      authorization: 'Bearer t0k',
      'x-scope-orgid': 'team-a',
    });
    expect(authHeaders({ LUAPROF_UPLOAD_USER: '123', LUAPROF_UPLOAD_PASSWORD: 'pw' })).toEqual({
      authorization: `Basic ${Buffer.from('123:pw').toString('base64')}`,
    });
    expect(() => authHeaders({ LUAPROF_UPLOAD_USER: 'u' })).toThrow(AuthError);
    expect(() => authHeaders({ LUAPROF_UPLOAD_TOKEN: 't', LUAPROF_UPLOAD_USER: 'u' })).toThrow(/not both/);
    expect(authHeaders({})).toEqual({});
  });
});

/** A recording's stream made up: frames, and samples fed window by window. */
const FRAMES: Frame[] = [
  { kind: 'lua', name: 'main chunk', file: 'app.lua', lineDefined: 0 },
  { kind: 'lua', name: 'alpha', file: 'app.lua', lineDefined: 10 },
  { kind: 'lua', name: 'beta', file: 'lib/b.lua', lineDefined: 20 },
];
type Listener = Parameters<SampleSource['onSamples']>[0];

function fakeSource(startTime: number): SampleSource & { feed(samples: Parameters<Listener>[0]): void } {
  let listener: Listener | null = null;
  const stream = {
    frames: FRAMES,
    threadName: (_pid: number, tid: number) => (tid === 100 ? 'lua5.4' : `worker-${tid}`),
    luaVersion: () => 'Lua 5.4.6',
  };
  return {
    stats: { startTime },
    onSamples(l) {
      listener = l;
      return () => (listener = null);
    },
    feed(samples) {
      listener?.(samples, stream);
    },
  };
}

function config(url: string, extra: Partial<UploadConfig> = {}): UploadConfig {
  return {
    endpoint: parseEndpoint(url),
    appName: 'gateway',
    tags: { env: 'test' },
    intervalMs: 1000,
    rate: 100,
    byLine: false,
    hostname: 'host-1',
    luaprofVersion: '9.9.9',
    env: {},
    log: () => undefined,
    queue: { baseDelayMs: 5, maxDelayMs: 50 },
    ...extra,
  };
}

/** 70 samples alpha, 30 beta per second of window, for pid 100 (one thread), times in [from, from+1000). */
function windowSamples(second: number, pid = 100) {
  return Array.from({ length: 100 }, (_, i) => ({
    pid,
    tid: pid,
    time: second * 1000 + i * 10,
    frames: i < 70 ? [1, 0] : [2, 0],
  }));
}

function strings(p: PProfile): string[] {
  return p.stringTable.strings;
}

/** Share of the samples/count value whose leaf function is `name`. */
function leafShare(p: PProfile, name: string): number {
  const fnName = new Map(p.function.map((f) => [Number(f.id), strings(p)[Number(f.name)]]));
  const locFn = new Map(p.location.map((l) => [Number(l.id), fnName.get(Number(l.line[0].functionId))]));
  let hit = 0;
  let all = 0;
  for (const s of p.sample) {
    all += Number(s.value[0]);
    if (locFn.get(Number(s.locationId[0])) === name) hit += Number(s.value[0]);
  }
  return hit / all;
}

describe('Uploader → Pyroscope stand-in', () => {
  it('one push per window: labels, window times, the -f pprof encoding with the right shares', async () => {
    const server = await fake('pyroscope');
    const start = Date.now() - 5000;
    const src = fakeSource(start);
    const up = new Uploader(config(server.url));
    up.start(src);
    src.feed([...windowSamples(0), ...windowSamples(1)]);
    const counts = await up.finish(5000);
    expect(counts).toMatchObject({ windows: 2, sent: 2, dropped: 0, rejected: 0 });
    expect(server.pushes).toHaveLength(2);
    const [w0, w1] = server.pushes;
    expect(w0.labels).toEqual({
      __name__: 'gateway.cpu',
      env: 'test',
      hostname: 'host-1',
      pid: '100',
      lua_version: 'Lua 5.4.6',
      luaprof_version: '9.9.9',
    });
    expect(w0.query).toMatchObject({ format: 'pprof', sampleRate: '100', spyName: 'luaprof' });
    expect(w0.from).toBe(Math.round(start / 1000));
    expect(w0.until).toBe(Math.round((start + 1000) / 1000));
    expect(w1.from).toBe(w0.until);
    for (const { profile: p } of [w0, w1]) {
      const st = strings(p);
      expect(p.sampleType.map((t) => `${st[Number(t.type)]}/${st[Number(t.unit)]}`)).toEqual([
        'samples/count',
        'cpu/nanoseconds',
      ]);
      expect(Number(p.period)).toBe(10_000_000);
      expect(leafShare(p, 'alpha')).toBeCloseTo(0.7, 5);
      expect(leafShare(p, 'beta')).toBeCloseTo(0.3, 5);
      for (const s of p.sample) expect(Number(s.value[1])).toBe(Number(s.value[0]) * 10_000_000);
      const beta = p.function.find((f) => st[Number(f.name)] === 'beta')!;
      expect(st[Number(beta.filename)]).toBe('lib/b.lua');
      expect(Number(beta.startLine)).toBe(20);
      const labels = p.sample[0].label.map((l) => [
        st[Number(l.key)],
        l.str ? st[Number(l.str)] : Number(l.num),
      ]);
      expect(labels).toEqual([
        ['thread_id', 100],
        ['thread_name', 'lua5.4'],
      ]);
    }
    expect(Math.round(Number(w0.profile.timeNanos) / 1e6)).toBe(start);
    expect(Number(w0.profile.durationNanos) / 1e6).toBe(1000);
  });

  it('each process is its own series (its pid label)', async () => {
    const server = await fake('pyroscope');
    const src = fakeSource(Date.now() - 2000);
    const up = new Uploader(config(server.url));
    up.start(src);
    src.feed([...windowSamples(0, 100), ...windowSamples(0, 200)]);
    await up.finish(5000);
    expect(server.pushes.map((p) => p.labels.pid).sort()).toEqual(['100', '200']);
  });

  it('500s then 200: nothing lost within the queue bound, in order', async () => {
    const server = await fake('pyroscope');
    server.behaviour.failNext = [500, 503, 429, 500, 500];
    const lines: string[] = [];
    const src = fakeSource(Date.now() - 10_000);
    const up = new Uploader(config(server.url, { log: (l) => lines.push(l) }));
    up.start(src);
    src.feed([0, 1, 2, 3, 4].flatMap((s) => windowSamples(s)));
    const counts = await up.finish(10_000);
    expect(counts).toMatchObject({ windows: 5, sent: 5, dropped: 0, rejected: 0, retries: 5 });
    expect(server.pushes.map((p) => p.from)).toEqual([...server.pushes.map((p) => p.from)].sort());
    expect(new Set(server.pushes.map((p) => p.from)).size).toBe(5);
    expect(server.answers).toEqual([500, 503, 429, 500, 500, 200, 200, 200, 200, 200]);
    expect(lines.filter((l) => l.includes('retrying'))).toHaveLength(1);
  });

  it('a dead backend: the queue keeps the newest windows and counts the dropped ones', async () => {
    const server = await fake('pyroscope');
    const url = server.url;
    await server.close();
    const queue = new UploadQueue({ log: () => undefined, capacity: 5, baseDelayMs: 20, maxDelayMs: 20 });
    for (let i = 0; i < 8; i++) queue.push([{ url: `${url}/ingest`, headers: {}, body: 'x', series: 1 }]);
    expect(queue.length).toBe(5);
    expect(queue.counts.dropped).toBe(3);
    await queue.flush(100);
    expect(queue.counts).toMatchObject({ windows: 8, sent: 0, dropped: 8 });
  });

  it("a 400 is said once, with the server's message, and not retried", async () => {
    const server = await fake('pyroscope');
    const lines: string[] = [];
    const queue = new UploadQueue({ log: (l) => lines.push(l), baseDelayMs: 5 });
    // Built by hand: luaprof's own checks would have refused this label before any request.
    const bad = `${server.url}/ingest?name=${encodeURIComponent('app.cpu{my-tag=1}')}&format=pprof`;
    for (let i = 0; i < 3; i++) queue.push([{ url: bad, headers: {}, body: 'x', series: 1 }]);
    await queue.flush(5000);
    expect(server.answers).toEqual([400, 400, 400]);
    expect(queue.counts).toMatchObject({ rejected: 3, sent: 0, retries: 0 });
    expect(lines).toEqual([
      'upload refused: HTTP 400: name: invalid label name: my-tag: character is not allowed: "-" (/ingest)',
    ]);
  });

  it('credentials and tenant reach the server; a wrong token is one refusal line', async () => {
    const server = await fake('pyroscope');
    server.behaviour.token = 'right';
    const src = fakeSource(Date.now() - 3000);
    const up = new Uploader(config(server.url, { env: { LUAPROF_UPLOAD_TOKEN: 'right' }, tenant: 't1' }));
    up.start(src);
    src.feed(windowSamples(0));
    await up.finish(5000);
    expect(server.pushes[0].headers['x-scope-orgid']).toBe('t1');
    const lines: string[] = [];
    const src2 = fakeSource(Date.now() - 3000);
    const wrong = new Uploader(
      config(server.url, { env: { LUAPROF_UPLOAD_TOKEN: 'wrong' }, log: (l) => lines.push(l) }),
    );
    wrong.start(src2);
    src2.feed([...windowSamples(0), ...windowSamples(1)]);
    expect(await wrong.finish(5000)).toMatchObject({ rejected: 2, sent: 0 });
    expect(lines).toEqual(['upload refused: HTTP 401: invalid credentials (/ingest)']);
  });

  it('sending does not hold up the caller: a slow server, push() returns at once', async () => {
    const server = await fake('pyroscope');
    server.behaviour.delayMs = 1000;
    const queue = new UploadQueue({ log: () => undefined });
    const t0 = performance.now();
    for (let i = 0; i < 3; i++)
      queue.push([{ url: `${server.url}/ingest`, headers: {}, body: 'x', series: 1 }]);
    expect(performance.now() - t0).toBeLessThan(50);
    await queue.flush(50);
  });
});

describe('Uploader → Parca stand-in', () => {
  it('one writeraw per window, every process a series with __name__ and Prometheus labels', async () => {
    const server = await fake('parca');
    const start = Date.now() - 3000;
    const src = fakeSource(start);
    const up = new Uploader(config(server.url));
    up.start(src);
    src.feed([...windowSamples(0, 100), ...windowSamples(0, 200)]);
    expect(await up.finish(5000)).toMatchObject({ windows: 1, sent: 1 });
    expect(server.answers).toEqual([200]);
    const byPid = new Map<string, Push>(server.pushes.map((p) => [p.labels.pid, p]));
    expect([...byPid.keys()].sort()).toEqual(['100', '200']);
    expect(byPid.get('100')!.labels).toMatchObject({
      __name__: 'luaprof',
      service_name: 'gateway',
      env: 'test',
      lua_version: 'Lua 5.4.6',
    });
    const p = byPid.get('100')!.profile;
    expect(leafShare(p, 'alpha')).toBeCloseTo(0.7, 5);
    expect(byPid.get('100')!.from * 1000).toBeCloseTo(start, 0);
  });

  it('refuses a label Parca would refuse before any request', () => {
    expect(() => new Uploader(config('parca+http://127.0.0.1:1', { tags: { 'dc.zone': 'x' } }))).toThrow(
      /label "dc.zone"/,
    );
    expect(() => new Uploader(config('http://127.0.0.1:1', { tags: { 'dc-zone': 'x' } }))).toThrow(
      /label "dc-zone"/,
    );
  });

  it('the stand-in answers as Parca does: 400 {code: 3, message} for a bad label name', async () => {
    const server = await fake('parca');
    const res = await fetch(`${server.url.replace('parca+', '')}/api/profiles/writeraw`, {
      method: 'POST',
      body: JSON.stringify({ series: [{ labels: { labels: [{ name: 'n0:n', value: 'v' }] } }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: 3, message: 'invalid label name: n0:n', details: [] });
  });
});

describe('WindowAssembler', () => {
  it('a sample goes to the window of its time; a window closes a grace period after its end', () => {
    const w = new WindowAssembler(1000);
    const stream = { frames: FRAMES, threadName: () => 't' };
    for (const time of [10, 990, 1010, 1500]) w.add({ pid: 1, tid: 1, time, frames: [1, 0] }, stream);
    const meta = (pid: number, from: number, durationMs: number, samples: number) => ({
      tool: 'luaprof' as const,
      version: '0',
      pid,
      startTime: from,
      durationMs,
      samples,
      errors: 0,
    });
    expect(w.take(1500, meta, 600)).toEqual([]);
    const first = w.take(1600, meta, 600);
    expect(first.map((x) => [x.from, x.until, x.profiles.get(1)!.meta.samples])).toEqual([[0, 1000, 2]]);
    const last = w.take(1700, meta, 600, true);
    expect(last.map((x) => [x.from, x.until, x.profiles.get(1)!.meta.samples])).toEqual([[1000, 1700, 2]]);
    // Times inside a window's profile are relative to the window.
    expect(last[0].profiles.get(1)!.threads[0].times).toEqual([10, 500]);
  });
});
