/**
 * speedscope file format (https://www.speedscope.app/file-format-schema.json): the canonical
 * luaprof file. One "sampled" profile per thread, frames shared. luaprof's own metadata and the
 * fields speedscope has no place for (frame kind, line defined, sample times, thread ids) go in an
 * extra top-level "luaprof" object, which speedscope ignores; so a luaprof file round-trips exactly.
 */
import type { Frame, FrameKind, Profile, ProfileMeta, ThreadProfile } from '../aggregator/profile.js';
import { arrayBytes, numberText, writeMilliseconds, type JsonBytes } from './json-bytes.js';

export const SPEEDSCOPE_SCHEMA = 'https://www.speedscope.app/file-format-schema.json';
const KINDS: readonly FrameKind[] = ['lua', 'c', 'native', 'jit', 'gc', 'idle'];

interface SsFrame {
  name: string;
  file?: string;
  line?: number;
  col?: number;
}
interface SsSampled {
  type: 'sampled';
  name: string;
  unit: string;
  startValue: number;
  endValue: number;
  samples: number[][];
  weights: number[];
}
interface SsEvented {
  type: 'evented';
  name: string;
  unit: string;
  startValue: number;
  endValue: number;
  events: Array<{ type: 'O' | 'C'; at: number; frame: number }>;
}
interface LuaprofExt {
  formatVersion: 1;
  meta: ProfileMeta;
  /** Per shared frame: [kind, lineDefined|null, line|null]. */
  frames: Array<[FrameKind, number | null, number | null]>;
  /** Per profile, same order. */
  threads: Array<{ tid: number; pid?: number; name: string; times: number[] }>;
  /** speedscope weight of one unit of luaprof weight (ms per sample when unit is milliseconds). */
  weightScale: number;
}

/** Samples (or times) per part of the streamed document: a part stays a few MB at most. */
const PART_SAMPLES = 65_536;

/** Serialises a profile as a speedscope JSON string (small profiles; files are written from speedscopeParts). */
export function toSpeedscope(profile: Profile, toolVersion?: string): string {
  return joinParts(speedscopeParts(profile, toolVersion));
}

/** Parts of a document, text and bytes, as one string. */
export function joinParts(parts: Iterable<string | Buffer>): string {
  return Buffer.concat([...parts].map((p) => (typeof p === 'string' ? Buffer.from(p) : p))).toString('utf8');
}

/**
 * The speedscope document in parts, each a few MB: the same text as one JSON.stringify of it, which
 * a long recording cannot have (an hour of 64 threads at 100 Hz is over V8's longest string), and
 * without a second copy of every sample as speedscope's arrays.
 */
export function* speedscopeParts(profile: Profile, toolVersion?: string): Generator<string | Buffer> {
  const { meta } = profile;
  const frames: SsFrame[] = profile.frames.map((f) => {
    const out: SsFrame = { name: f.name };
    if (f.file !== undefined) out.file = f.file;
    const line = f.line ?? f.lineDefined;
    if (line !== undefined) out.line = line;
    return out;
  });
  const msPerSample = meta.rate && meta.rate > 0 ? 1000 / meta.rate : 0;
  const unit = msPerSample ? 'milliseconds' : 'none';
  const scale = msPerSample || 1;
  const cmd = meta.command?.length ? meta.command.join(' ') : meta.pid ? `pid ${meta.pid}` : 'profile';
  const head = JSON.stringify({
    $schema: SPEEDSCOPE_SCHEMA,
    name: `luaprof: ${cmd}`,
    exporter: `luaprof@${toolVersion ?? meta.version}`,
    activeProfileIndex: 0,
    shared: { frames },
  });
  yield `${head.slice(0, -1)},"profiles":[`;
  const stackJson: Buffer[] = [];
  const writeStack = (out: JsonBytes, sid: number) =>
    out.bytes((stackJson[sid] ??= Buffer.from(JSON.stringify(profile.stacks[sid] ?? []))));
  for (const [n, t] of profile.threads.entries()) {
    let sum = 0;
    for (let i = 0; i < t.samples.length; i++) sum += (t.weights[i] ?? 1) * scale;
    const sampled: Omit<SsSampled, 'samples' | 'weights'> = {
      type: 'sampled',
      name: threadLabel(t),
      unit,
      startValue: 0,
      endValue: round(sum),
    };
    yield `${n > 0 ? ',' : ''}${JSON.stringify(sampled).slice(0, -1)},"samples":`;
    yield* arrayBytes(t.samples.length, PART_SAMPLES, (out, i) => writeStack(out, t.samples[i]));
    yield ',"weights":';
    const weightText = repeatedNumberText();
    yield* arrayBytes(t.samples.length, PART_SAMPLES, (out, i) =>
      out.ascii(weightText((t.weights[i] ?? 1) * scale)),
    );
    yield '}';
  }
  const ext: Omit<LuaprofExt, 'threads' | 'weightScale'> = {
    formatVersion: 1,
    meta,
    frames: profile.frames.map((f) => [f.kind, f.lineDefined ?? null, f.line ?? null]),
  };
  yield `],"luaprof":${JSON.stringify(ext).slice(0, -1)},"threads":[`;
  for (const [n, t] of profile.threads.entries()) {
    yield `${n > 0 ? ',' : ''}{"tid":${JSON.stringify(t.tid)},"name":${JSON.stringify(t.name)},"times":`;
    // To the µs: a sample's time is its due time, known to a few µs, and full doubles (128.63068420016288)
    // made times the largest part of the file.
    yield* arrayBytes(t.times.length, PART_SAMPLES, (out, i) => writeMilliseconds(out, t.times[i]));
    yield t.pid !== undefined ? `,"pid":${JSON.stringify(t.pid)}}` : '}';
  }
  yield `],"weightScale":${JSON.stringify(scale)}}}`;
}

/** numberText of numbers that mostly repeat (a profile's weights): the last one's text is kept. */
function repeatedNumberText(): (x: number | undefined) => string {
  let last: number | undefined = 1;
  let text = '1';
  return (x) => {
    if (x !== last) {
      last = x;
      text = numberText(x);
    }
    return text;
  };
}

export function threadLabel(t: ThreadProfile): string {
  const who = t.pid !== undefined && t.pid !== t.tid ? `${t.pid}/${t.tid}` : `${t.tid}`;
  return t.name ? `${t.name} (${who})` : `thread ${who}`;
}

function round(x: number, scale = 1e6): number {
  return Math.round(x * scale) / scale;
}

/** Parsed sample arrays remembered per profile, well under a Map's 2^24 entries. */
const SAMPLE_CACHE_ENTRIES = 1 << 20;

/** Thrown by parseSpeedscope when the document is JSON but not a usable speedscope profile. */
export class SpeedscopeShapeError extends Error {}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function fail(msg: string): never {
  throw new SpeedscopeShapeError(msg);
}

/** Is this parsed JSON document meant to be a speedscope file? */
export function looksLikeSpeedscope(doc: unknown): boolean {
  return (
    isObj(doc) && (doc.$schema === SPEEDSCOPE_SCHEMA || (isObj(doc.shared) && Array.isArray(doc.profiles)))
  );
}

/** Converts a parsed speedscope document (any producer) into a Profile. */
export function fromSpeedscope(doc: unknown): Profile {
  if (!isObj(doc)) fail('not a JSON object');
  if (!isObj(doc.shared) || !Array.isArray(doc.shared.frames)) fail('missing shared.frames');
  if (!Array.isArray(doc.profiles)) fail('missing profiles');
  const rawFrames = doc.shared.frames as unknown[];
  const ext =
    isObj(doc.luaprof) && doc.luaprof.formatVersion === 1 ? (doc.luaprof as unknown as LuaprofExt) : null;
  const frames: Frame[] = rawFrames.map((rf, i) => {
    if (!isObj(rf) || typeof rf.name !== 'string') fail(`frame ${i} has no name`);
    const x = ext?.frames?.[i];
    const kind: FrameKind =
      x && KINDS.includes(x[0])
        ? x[0]
        : guessKind(rf.name, typeof rf.file === 'string' ? rf.file : undefined);
    const f: Frame = { kind, name: rf.name };
    if (typeof rf.file === 'string') f.file = rf.file;
    if (x) {
      if (typeof x[1] === 'number') f.lineDefined = x[1];
      if (typeof x[2] === 'number') f.line = x[2];
    } else if (typeof rf.line === 'number') {
      f.lineDefined = rf.line;
    }
    return f;
  });
  const nFrames = frames.length;
  const stacks: number[][] = [];
  const stackIds = new Map<string, number>();
  const intern = (st: number[]): number => {
    const key = st.join(',');
    let id = stackIds.get(key);
    if (id === undefined) {
      id = stacks.length;
      stacks.push(st);
      stackIds.set(key, id);
    }
    return id;
  };
  const scale = ext && ext.weightScale > 0 ? ext.weightScale : 1;
  const threads: ThreadProfile[] = [];
  let totalSamples = 0;
  let maxEnd = 0;
  (doc.profiles as unknown[]).forEach((p, pi) => {
    if (!isObj(p)) fail(`profile ${pi} is not an object`);
    const ti = ext?.threads?.[pi];
    const t: ThreadProfile = {
      tid: ti?.tid ?? pi + 1,
      name: ti?.name ?? (typeof p.name === 'string' ? p.name : `profile ${pi}`),
      samples: [],
      times: [],
      weights: [],
    };
    if (ti?.pid !== undefined) t.pid = ti.pid;
    if (p.type === 'sampled') {
      if (!Array.isArray(p.samples) || !Array.isArray(p.weights))
        fail(`profile ${pi}: samples/weights missing`);
      const samples = p.samples as unknown[];
      const weights = p.weights as unknown[];
      if (samples.length !== weights.length)
        fail(`profile ${pi}: ${samples.length} samples but ${weights.length} weights`);
      const cache = new Map<unknown, number>();
      let at = 0;
      for (let i = 0; i < samples.length; i++) {
        const s = samples[i];
        let sid = cache.get(s);
        if (sid === undefined) {
          if (!Array.isArray(s)) fail(`profile ${pi}: sample ${i} is not an array`);
          for (const fi of s) {
            if (!Number.isInteger(fi) || fi < 0 || fi >= nFrames)
              fail(
                `profile ${pi}: sample ${i} refers to frame ${typeof fi === 'number' ? fi : `a value of type ${typeof fi}`}`,
              );
          }
          sid = intern(s as number[]);
          // Each parsed sample is an array of its own: a Map holds at most 2^24 of them (an hour of the
          // 64-thread host is 17 M samples), and the stacks' own index keeps the rest cheap.
          if (cache.size >= SAMPLE_CACHE_ENTRIES) cache.clear();
          cache.set(s, sid);
        }
        const w = weights[i];
        if (typeof w !== 'number' || !Number.isFinite(w) || w < 0)
          fail(`profile ${pi}: weight ${i} is not a number`);
        t.samples.push(sid);
        t.weights.push(ext ? round(w / scale) : w);
        t.times.push(at);
        at += w;
      }
      if (ti && Array.isArray(ti.times) && ti.times.length === samples.length) t.times = ti.times.slice();
      maxEnd = Math.max(
        maxEnd,
        typeof p.endValue === 'number'
          ? p.endValue - (typeof p.startValue === 'number' ? p.startValue : 0)
          : at,
      );
    } else if (p.type === 'evented') {
      evented(p as unknown as SsEvented, pi, nFrames, t, intern);
      maxEnd = Math.max(maxEnd, (p.endValue as number) - (p.startValue as number));
    } else {
      fail(`profile ${pi} has unknown type ${JSON.stringify(p.type)}`);
    }
    totalSamples += t.samples.length;
    threads.push(t);
  });
  let meta: ProfileMeta;
  if (ext && isObj(ext.meta)) {
    meta = { ...ext.meta };
  } else {
    meta = {
      tool: 'luaprof',
      version: typeof doc.exporter === 'string' ? doc.exporter : 'unknown',
      startTime: 0,
      durationMs: maxEnd,
      samples: totalSamples,
      errors: 0,
    };
    if (typeof doc.name === 'string') meta.command = [doc.name];
  }
  return { meta, frames, stacks, threads };
}

/** Converts an evented profile into weighted samples (one per interval between events). */
function evented(
  p: SsEvented,
  pi: number,
  nFrames: number,
  t: ThreadProfile,
  intern: (s: number[]) => number,
): void {
  if (!Array.isArray(p.events)) fail(`profile ${pi}: events missing`);
  const stack: number[] = [];
  let last = typeof p.startValue === 'number' ? p.startValue : 0;
  for (let i = 0; i < p.events.length; i++) {
    const e = p.events[i];
    if (
      !isObj(e) ||
      typeof e.at !== 'number' ||
      !Number.isInteger(e.frame) ||
      e.frame < 0 ||
      e.frame >= nFrames
    ) {
      fail(`profile ${pi}: event ${i} is malformed`);
    }
    if (stack.length && e.at > last) {
      t.samples.push(intern(stack.slice()));
      t.weights.push(e.at - last);
      t.times.push(last);
    }
    last = e.at;
    if (e.type === 'O') stack.push(e.frame);
    else if (e.type === 'C') {
      const top = stack.pop();
      if (top !== e.frame) fail(`profile ${pi}: event ${i} closes a frame that is not open`);
    } else fail(`profile ${pi}: event ${i} has unknown type`);
  }
}

/** Best guess of a frame's kind from its name and file, for files other tools wrote. */
export function guessKind(name: string, file?: string): FrameKind {
  if (file === '[C]' || file === '=[C]') return 'c';
  if (/^\[?gc\]?$/i.test(name) || name === '[GC]') return 'gc';
  if (/^\[?idle\]?$/i.test(name)) return 'idle';
  if (
    file !== undefined &&
    (/\.lua$/.test(file) || file.startsWith('[string') || file.startsWith('@') || file === 'stdin')
  )
    return 'lua';
  if (file !== undefined && (file.startsWith('/') || /\.so(\.|$)/.test(file))) return 'native';
  return 'lua';
}
