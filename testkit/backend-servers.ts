/**
 * In-process stand-ins for the two backends' push endpoints, for tests and benchmarks: they check
 * requests as the real handlers do and answer as they do (status codes, JSON error bodies), and keep
 * what they accepted, decoded. Each rule names the file it mirrors:
 *   Pyroscope (grafana/pyroscope): pkg/ingester/pyroscope/ingest_handler.go (query parameters,
 *     400 on a bad name), api/model/labelset/labelset.go + validate.go (the name's syntax and runes),
 *     pkg/og/util/attime/attime.go (from/until), pkg/util/http/error.go (JSON {code, message}),
 *     pkg/pprof/pprof.go (gzipped or plain body).
 *   Parca (parca-dev/parca): proto/parca/profilestore/v1alpha1/profilestore.proto (body), pkg/server/
 *     server.go (/api prefix), pkg/normalizer/normalizer.go (label rules, messages),
 *     pkg/normalizer/validate.go (ValidatePprofProfile), grpc-gateway's InvalidArgument → 400
 *     {code: 3, message, details}.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { Profile as PProfile } from 'pprof-format';

export interface Push {
  labels: Record<string, string>;
  profile: PProfile;
  /** Window bounds from the request (Pyroscope's from/until, s), or from the pprof (Parca). */
  from: number;
  until: number;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  /** When the server answered it (ms since the epoch). */
  at: number;
  /** Bytes of the profile as sent (gzipped pprof). */
  bytes: number;
  /** The profile as sent. */
  raw: Buffer;
}

export interface Behaviour {
  /** Answer the next requests with these statuses (5xx, 429, 4xx) before accepting again. */
  failNext: number[];
  /** Wait this long before answering. */
  delayMs: number;
  /** Require "Authorization: Bearer <token>" (401 otherwise, as an auth proxy would). */
  token?: string;
}

export interface FakeBackend {
  url: string;
  pushes: Push[];
  /** Every request, accepted or not: status answered. */
  answers: number[];
  behaviour: Behaviour;
  close(): Promise<void>;
}

/** Reads at most `max` bytes of a request body. */
async function body(req: IncomingMessage, max = 64 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new Error('body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** pkg/pprof/pprof.go: gzip when it starts 1f 8b, plain otherwise. */
function decodePprof(b: Uint8Array): PProfile {
  const raw = b.length > 2 && b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b;
  return PProfile.decode(raw);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function serve(
  handle: (req: IncomingMessage, res: ServerResponse, b: FakeBackend) => Promise<void>,
  scheme: string,
): Promise<FakeBackend> {
  const fake: FakeBackend = {
    url: '',
    pushes: [],
    answers: [],
    behaviour: { failNext: [], delayMs: 0 },
    close: async () => undefined,
  };
  const server: Server = createServer((req, res) => {
    const original = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      fake.answers.push(status);
      return (original as (...a: unknown[]) => ServerResponse)(status, ...rest);
    }) as typeof res.writeHead;
    const run = async () => {
      if (fake.behaviour.delayMs > 0) await new Promise((r) => setTimeout(r, fake.behaviour.delayMs));
      const token = fake.behaviour.token;
      if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
        await body(req);
        return json(res, 401, { code: 'unauthenticated', message: 'invalid credentials' });
      }
      const fail = fake.behaviour.failNext.shift();
      if (fail !== undefined) {
        await body(req);
        return json(res, fail, { code: 'unavailable', message: `injected ${fail}` });
      }
      await handle(req, res, fake);
    };
    run().catch((e) => {
      if (!res.headersSent) json(res, 500, { message: String(e) });
      else res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  fake.url = `${scheme}://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return fake;
}

// --- Pyroscope -----------------------------------------------------------------------------------

const labelNameRune = (c: string) => /^[A-Za-z0-9_.]$/.test(c);
const serviceNameRune = (c: string) => c === '-' || c === '.' || c === '/' || labelNameRune(c);

/** api/model/labelset/labelset.go Parse, with validate.go's checks and error texts. */
export function parsePyroscopeName(name: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let state: 'name' | 'key' | 'value' | 'done' = 'name';
  let key = '';
  let value = '';
  for (const r of name + '{') {
    if (state === 'name') {
      if (r === '{') {
        state = 'key';
        const service = value.trim();
        if (service === '') throw new Error('service name is required');
        for (const c of service)
          if (!serviceNameRune(c))
            throw new Error(
              `invalid service name: ${service}: character is not allowed: ${JSON.stringify(c)}`,
            );
        labels.__name__ = service;
      } else value += r;
    } else if (state === 'key') {
      if (r === '}') state = 'done';
      else if (r === '=') {
        state = 'value';
        value = '';
      } else key += r;
    } else if (state === 'value') {
      if (r === ',' || r === '}') {
        state = 'key';
        const k = key.trim();
        if (k !== '__name__') {
          if (k === '') throw new Error('label name is required');
          for (const c of k)
            if (!labelNameRune(c))
              throw new Error(`invalid label name: ${k}: character is not allowed: ${JSON.stringify(c)}`);
        }
        labels[k] = value.trim();
        key = '';
      } else value += r;
    }
  }
  return labels;
}

/** attime.go for what luaprof sends: digits only, 10 digits = seconds. */
function attime(s: string | null): number {
  if (s === null || !/^\d+$/.test(s)) return Date.now() / 1000;
  if (s.length === 13) return Number(s) / 1000;
  return Number(s);
}

export function pyroscopeServer(): Promise<FakeBackend> {
  return serve(async (req, res, fake) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'POST' || url.pathname !== '/ingest') {
      await body(req);
      return json(res, 404, { code: 'not_found', message: '404 page not found' });
    }
    let labels: Record<string, string>;
    try {
      labels = parsePyroscopeName(url.searchParams.get('name') ?? '');
    } catch (e) {
      await body(req);
      return json(res, 400, { code: 'invalid_argument', message: `name: ${(e as Error).message}` });
    }
    const raw = await body(req);
    if (url.searchParams.get('format') !== 'pprof')
      return json(res, 400, { code: 'invalid_argument', message: 'only format=pprof is mirrored here' });
    let profile: PProfile;
    try {
      profile = decodePprof(raw);
    } catch (e) {
      return json(res, 400, { code: 'invalid_argument', message: `failed to parse pprof: ${e}` });
    }
    fake.pushes.push({
      labels,
      profile,
      from: attime(url.searchParams.get('from')),
      until: attime(url.searchParams.get('until')),
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      at: Date.now(),
      bytes: raw.length,
      raw,
    });
    res.writeHead(200);
    res.end();
  }, 'http');
}

// --- Parca ---------------------------------------------------------------------------------------

interface WriteRaw {
  series?: {
    labels?: { labels?: { name?: string; value?: string }[] };
    samples?: { raw_profile?: string }[];
  }[];
}

/** pkg/normalizer/validate.go ValidatePprofProfile, the checks luaprof's profiles could fail. */
export function validatePprof(p: PProfile): string | null {
  const strings = p.stringTable.strings.length;
  if (strings > 0 && p.stringTable.strings[0] !== '')
    return 'first item in string table is expected to be empty string';
  for (let i = 0; i < p.function.length; i++) {
    const f = p.function[i];
    if (Number(f.id) !== i + 1) return 'function id is not sequential';
    if (Number(f.name) >= strings) return `function (id: ${f.id}) has invalid name index ${f.name}`;
    if (Number(f.filename) >= strings)
      return `function (id: ${f.id}) has invalid filename index ${f.filename}`;
  }
  for (let i = 0; i < p.location.length; i++) {
    const l = p.location[i];
    if (Number(l.id) !== i + 1) return 'location id is not sequential';
    for (const ln of l.line)
      if (Number(ln.functionId) > p.function.length)
        return `location ${l.id} has invalid function id: ${ln.functionId}`;
  }
  if (p.sampleType.length === 0 && p.sample.length !== 0) return 'missing sample type information';
  for (let i = 0; i < p.sample.length; i++) {
    const s = p.sample[i];
    if (s.value.length !== p.sampleType.length)
      return `mismatch: sample has ${s.value.length} values vs. ${p.sampleType.length} types`;
    for (const l of s.locationId) {
      if (Number(l) === 0) return 'location ids of stacktraces must be non-zero';
      if (Number(l) > p.location.length) return `sample ${i} location is out of range`;
    }
    for (const lb of s.label) if (Number(lb.key) === 0) return `sample ${i} label has no key`;
  }
  return null;
}

const invalid = (res: ServerResponse, message: string) => json(res, 400, { code: 3, message, details: [] });

export function parcaServer(): Promise<FakeBackend> {
  return serve(async (req, res, fake) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'POST' || url.pathname !== '/api/profiles/writeraw') {
      await body(req);
      return json(res, 404, { code: 5, message: 'Not Found', details: [] });
    }
    let msg: WriteRaw;
    try {
      msg = JSON.parse((await body(req)).toString('utf8')) as WriteRaw;
    } catch (e) {
      return invalid(res, `proto: syntax error: ${(e as Error).message}`);
    }
    const accepted: Push[] = [];
    for (const series of msg.series ?? []) {
      const labels: Record<string, string> = {};
      let name = '';
      for (const l of series.labels?.labels ?? []) {
        const n = l.name ?? '';
        if (n === '__name__') {
          name = l.value ?? '';
          continue;
        }
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(n)) return invalid(res, `invalid label name: ${n}`);
        if (n in labels) return invalid(res, `duplicate label name: ${n}`);
        labels[n] = l.value ?? '';
      }
      if (name === '') return invalid(res, 'missing __name__ label');
      labels.__name__ = name;
      for (const s of series.samples ?? []) {
        let profile: PProfile;
        const raw = Buffer.from(s.raw_profile ?? '', 'base64');
        try {
          profile = decodePprof(raw);
        } catch (e) {
          return invalid(res, `failed to parse profile: ${e}`);
        }
        const bad = validatePprof(profile);
        if (bad) return invalid(res, `invalid profile: ${bad}`);
        const from = Number(profile.timeNanos) / 1e9;
        accepted.push({
          labels,
          profile,
          from,
          until: from + Number(profile.durationNanos) / 1e9,
          query: {},
          headers: req.headers,
          at: Date.now(),
          bytes: raw.length,
          raw,
        });
      }
    }
    fake.pushes.push(...accepted);
    json(res, 200, {});
  }, 'parca+http');
}
