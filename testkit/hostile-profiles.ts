/**
 * Hostile profile files for the readers behind `report`, `view` and `diff`: valid speedscope, folded
 * and pprof files of a small profile, mutated by a seeded generator (bit flips, truncation, inserted
 * and repeated bytes, huge numbers, deep nesting, wrong types, long strings). The unit suite and
 * bench/hostile-files.ts draw from the same generator; `readsSafely` is the property both check.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { diffProfiles, formatDiffSummary } from '../aggregator/diff.js';
import type { Frame, Profile } from '../aggregator/profile.js';
import { ProfileBuilder } from '../aggregator/profile.js';
import { ProfileFormatError, parseProfile } from '../report/read.js';
import { encodeProfile } from '../report/write.js';
import { rng } from './rng.js';

export type HostileKind = 'speedscope' | 'folded' | 'pprof';
export const HOSTILE_KINDS: readonly HostileKind[] = ['speedscope', 'folded', 'pprof'];

export interface HostileInput {
  kind: HostileKind;
  /** What was done to the valid file (for a failure message). */
  mutation: string;
  bytes: Buffer;
}

/** A small profile with two threads, a C frame, a hostile name and a deep-ish stack. */
export function seedProfile(): Profile {
  const b = new ProfileBuilder();
  const main: Frame = { kind: 'lua', name: 'main chunk', file: 'app.lua', lineDefined: 0 };
  const work: Frame = { kind: 'lua', name: 'work', file: 'app.lua', lineDefined: 3, line: 4 };
  const rep: Frame = { kind: 'c', name: 'string.rep', file: '[C]' };
  const evil: Frame = {
    kind: 'lua',
    name: '<img src=x onerror=alert(1)>',
    file: 'e;v il.lua',
    lineDefined: 9,
  };
  const deep: Frame[] = Array.from({ length: 40 }, (_, i) => ({
    kind: 'lua',
    name: `f${i}`,
    file: 'deep.lua',
    lineDefined: i + 1,
  }));
  let t = 0;
  for (let i = 0; i < 20; i++) b.addSample(7, 'main', [rep, work, main], (t += 10), 1, 7);
  for (let i = 0; i < 5; i++) b.addSample(7, 'main', [evil, main], (t += 10), 1, 7);
  for (let i = 0; i < 5; i++) b.addSample(8, 'worker', [...deep, main], (t += 10), 2, 7);
  return b.build({
    tool: 'luaprof',
    version: '0.1.0',
    command: ['lua5.4', 'app.lua'],
    pid: 7,
    rate: 100,
    startTime: 1_700_000_000_000,
    durationMs: 300,
    samples: 30,
    errors: 0,
    luaVersion: 'Lua 5.4.6',
  });
}

/** The valid files every mutation starts from. */
export function validFiles(profile = seedProfile()): Record<HostileKind, Buffer> {
  const asBuf = (x: string | Buffer) => (typeof x === 'string' ? Buffer.from(x) : x);
  return {
    speedscope: asBuf(encodeProfile(profile, 'speedscope')),
    folded: asBuf(encodeProfile(profile, 'folded')),
    pprof: asBuf(encodeProfile(profile, 'pprof')),
  };
}

const HUGE: unknown[] = [
  1e308,
  -1e308,
  -1,
  -0.5,
  2 ** 53 + 2,
  2 ** 31,
  -(2 ** 31),
  0,
  1.5,
  4294967296,
  '1e400',
  'NaN',
];
const WRONG: unknown[] = [null, true, false, 'x', '', [], {}, [[]], [null], { a: 1 }, '__proto__'];

/** The paths of every value in a JSON document. */
function paths(doc: unknown, at: (string | number)[] = [], out: (string | number)[][] = []) {
  if (out.length > 5000) return out;
  out.push(at);
  if (Array.isArray(doc)) doc.forEach((v, i) => paths(v, [...at, i], out));
  else if (doc && typeof doc === 'object')
    for (const [k, v] of Object.entries(doc)) paths(v, [...at, k], out);
  return out;
}

function setAt(doc: unknown, path: (string | number)[], value: unknown, remove = false): unknown {
  if (path.length === 0) return value;
  let o = doc as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (remove) {
    if (Array.isArray(o)) o.splice(Number(last), 1);
    else delete o[last];
  } else o[last] = value;
  return doc;
}

function nested(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** One byte-level mutation of `buf`. */
function mutateBytes(buf: Buffer, r: () => number): { bytes: Buffer; mutation: string } {
  const pick = Math.floor(r() * 6);
  const at = Math.floor(r() * buf.length);
  const b = Buffer.from(buf);
  switch (pick) {
    case 0: {
      const n = 1 + Math.floor(r() * 8);
      for (let i = 0; i < n; i++) {
        const j = Math.floor(r() * b.length);
        b[j] ^= 1 << Math.floor(r() * 8);
      }
      return { bytes: b, mutation: `${n} bit flips` };
    }
    case 1:
      return { bytes: b.subarray(0, at), mutation: `truncated at ${at}` };
    case 2: {
      const junk = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 16) }, () => Math.floor(r() * 256)));
      return { bytes: Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]), mutation: `junk at ${at}` };
    }
    case 3: {
      const len = Math.floor(r() * 64);
      const chunk = b.subarray(at, at + len);
      return {
        bytes: Buffer.concat([b.subarray(0, at), chunk, chunk, chunk, b.subarray(at)]),
        mutation: `repeated ${len} bytes at ${at}`,
      };
    }
    case 4: {
      const byte = [0x00, 0xff, 0x7f, 0x80][Math.floor(r() * 4)];
      const n = 1 + Math.floor(r() * 8);
      b.fill(byte, at, Math.min(b.length, at + n));
      return { bytes: b, mutation: `${n} bytes set to ${byte} at ${at}` };
    }
    default:
      return { bytes: b.subarray(at), mutation: `first ${at} bytes cut` };
  }
}

/** A structural mutation of a speedscope document. */
function mutateJson(text: string, r: () => number): { bytes: Buffer; mutation: string } {
  const doc = JSON.parse(text) as unknown;
  const all = paths(doc);
  const path = all[Math.floor(r() * all.length)];
  const where = path.join('.');
  const pick = Math.floor(r() * 6);
  let value: unknown;
  let mutation: string;
  if (pick === 0) {
    value = HUGE[Math.floor(r() * HUGE.length)];
    mutation = `${where} = ${String(value)}`;
  } else if (pick === 1) {
    value = WRONG[Math.floor(r() * WRONG.length)];
    mutation = `${where} = ${JSON.stringify(value)}`;
  } else if (pick === 2) {
    setAt(doc, path, undefined, true);
    return { bytes: Buffer.from(JSON.stringify(doc)), mutation: `${where} removed` };
  } else if (pick === 3) {
    const depth = 1000 + Math.floor(r() * 20_000);
    const marker = '"__DEEP__"';
    const s = JSON.stringify(setAt(doc, path, '__DEEP__')).replace(marker, nested(depth, '[', ']'));
    return { bytes: Buffer.from(s), mutation: `${where} nested ${depth} deep` };
  } else if (pick === 4) {
    value = 'x'.repeat(1 + Math.floor(r() * 20_000));
    mutation = `${where} = a string of ${(value as string).length}`;
  } else {
    value = Array.from({ length: 1 + Math.floor(r() * 5_000) }, () => Math.floor(r() * 100));
    mutation = `${where} = an array of ${(value as unknown[]).length} numbers`;
  }
  return { bytes: Buffer.from(JSON.stringify(setAt(doc, path, value))), mutation };
}

/** A line-level mutation of folded text. */
function mutateFolded(text: string, r: () => number): { bytes: Buffer; mutation: string } {
  const lines = text.trimEnd().split('\n');
  const i = Math.floor(r() * lines.length);
  const line = lines[i];
  const sp = line.lastIndexOf(' ');
  const pick = Math.floor(r() * 5);
  let mutation: string;
  if (pick === 0) {
    const n = String(HUGE[Math.floor(r() * HUGE.length)]);
    lines[i] = `${line.slice(0, sp)} ${n}`;
    mutation = `line ${i + 1} count ${n}`;
  } else if (pick === 1) {
    const depth = 1000 + Math.floor(r() * 20_000);
    lines[i] = `${Array.from({ length: depth }, (_, k) => `f${k % 7}`).join(';')} 1`;
    mutation = `line ${i + 1} a stack ${depth} deep`;
  } else if (pick === 2) {
    lines[i] = `[thread ${String(HUGE[Math.floor(r() * HUGE.length)])} x];${line}`;
    mutation = `line ${i + 1} odd thread prefix`;
  } else if (pick === 3) {
    lines[i] = `${';'.repeat(Math.floor(r() * 1000))}${line}`;
    mutation = `line ${i + 1} empty frames`;
  } else {
    lines[i] = `${line.slice(0, sp)}${'x'.repeat(Math.floor(r() * 20_000))} 1`;
    mutation = `line ${i + 1} a long name`;
  }
  return { bytes: Buffer.from(lines.join('\n') + '\n'), mutation };
}

/** Mutations of the protobuf inside the gzip (so the decoder, not gunzip, meets them), or of the gzip. */
function mutatePprof(gz: Buffer, r: () => number): { bytes: Buffer; mutation: string } {
  const raw = gunzipSync(gz);
  const pick = Math.floor(r() * 4);
  if (pick === 0) return mutateBytes(gz, r);
  if (pick === 1) {
    const m = mutateBytes(raw, r);
    return { bytes: gzipSync(m.bytes), mutation: `protobuf: ${m.mutation}` };
  }
  if (pick === 2) {
    const m = mutateBytes(raw, r);
    return { bytes: m.bytes, mutation: `plain protobuf: ${m.mutation}` };
  }
  // A varint field with a huge value (a 10-byte varint) spliced in at a random field boundary.
  const at = Math.floor(r() * raw.length);
  const field = Buffer.from([
    (1 + Math.floor(r() * 14)) << 3,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0x01,
  ]);
  return {
    bytes: gzipSync(Buffer.concat([raw.subarray(0, at), field, raw.subarray(at)])),
    mutation: `protobuf: huge varint at ${at}`,
  };
}

/** `count` hostile inputs, the same for the same seed, cycling through the three formats. */
export function* hostileInputs(seed: number, count: number): Generator<HostileInput> {
  const r = rng(seed);
  const valid = validFiles();
  for (let n = 0; n < count; n++) {
    const kind = HOSTILE_KINDS[n % HOSTILE_KINDS.length];
    const structural = r() < 0.5;
    let m: { bytes: Buffer; mutation: string };
    if (kind === 'speedscope')
      m = structural ? mutateJson(valid.speedscope.toString(), r) : mutateBytes(valid.speedscope, r);
    else if (kind === 'folded')
      m = structural ? mutateFolded(valid.folded.toString(), r) : mutateBytes(valid.folded, r);
    else m = mutatePprof(valid.pprof, r);
    yield { kind, ...m };
  }
}

export type ReadOutcome = 'read' | 'refused';

/**
 * The property: a hostile file is either read into a profile that every writer and `diff` can use,
 * or refused with a one-line ProfileFormatError; anything else (a TypeError, a RangeError, a
 * multi-line message) is thrown.
 */
export function readsSafely(input: HostileInput): ReadOutcome {
  let profile: Profile;
  try {
    profile = parseProfile(input.bytes, `hostile.${input.kind}`);
  } catch (e) {
    if (e instanceof ProfileFormatError && !e.message.includes('\n')) return 'refused';
    throw e;
  }
  for (const format of ['folded', 'speedscope', 'pprof'] as const) encodeProfile(profile, format);
  formatDiffSummary(diffProfiles(profile, profile), 5);
  return 'read';
}
