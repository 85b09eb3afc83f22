/**
 * The one gate every profile read from a file passes (report/read.ts): whatever a reader built from
 * hostile bytes, what leaves here is a Profile the writers, the pages and `diff` can use. Fields of
 * the wrong type are dropped (optional) or defaulted (required); references out of range are refused.
 */
import type { Frame, FrameKind, Profile, ProfileMeta, ThreadProfile } from '../aggregator/profile.js';

const KINDS: readonly FrameKind[] = ['lua', 'c', 'native', 'jit', 'gc', 'idle'];

/** What is wrong with a profile's references (a one-line reason), or null. */
export class ProfileShapeError extends Error {}

const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const int = (x: unknown): x is number => Number.isSafeInteger(x);

function meta(m: ProfileMeta, samples: number): ProfileMeta {
  const out: ProfileMeta = {
    tool: 'luaprof',
    version: typeof m.version === 'string' ? m.version : 'unknown',
    startTime: num(m.startTime) ? m.startTime : 0,
    durationMs: num(m.durationMs) && m.durationMs >= 0 ? m.durationMs : 0,
    samples: num(m.samples) && m.samples >= 0 ? m.samples : samples,
    errors: num(m.errors) && m.errors >= 0 ? m.errors : 0,
  };
  if (Array.isArray(m.command) && m.command.every((a) => typeof a === 'string')) out.command = m.command;
  if (int(m.pid)) out.pid = m.pid;
  if (typeof m.luaVersion === 'string') out.luaVersion = m.luaVersion;
  if (typeof m.byLine === 'boolean') out.byLine = m.byLine;
  if (m.sampling === 'running' || m.sampling === 'blocking') out.sampling = m.sampling;
  const numeric = [
    'rate',
    'lateSamples',
    'pauseP50Us',
    'pauseP99Us',
    'achievedHz',
    'offCpu',
    'stops',
    'searchStops',
    'tornCut',
    'tornLater',
    'tornDropped',
    'copierCopies',
    'tickCopies',
    'cpuPerSampleUs',
    'firstSampleMs',
    'attachPauseUs',
    'threadsSeen',
    'mergedThreads',
  ] as const;
  for (const k of numeric) if (num(m[k]) && m[k] >= 0) out[k] = m[k];
  return out;
}

function frame(f: Frame, i: number): Frame {
  if (typeof f !== 'object' || f === null || typeof f.name !== 'string')
    throw new ProfileShapeError(`frame ${i} has no name`);
  const out: Frame = { kind: KINDS.includes(f.kind) ? f.kind : 'lua', name: f.name };
  if (typeof f.file === 'string') out.file = f.file;
  if (int(f.line)) out.line = f.line;
  if (int(f.lineDefined)) out.lineDefined = f.lineDefined;
  return out;
}

function thread(t: ThreadProfile, i: number, nStacks: number): ThreadProfile {
  if (!Array.isArray(t.samples) || !Array.isArray(t.weights))
    throw new ProfileShapeError(`thread ${i} has no samples`);
  const n = t.samples.length;
  for (let k = 0; k < n; k++) {
    const s = t.samples[k];
    if (!int(s) || s < 0 || s >= nStacks)
      throw new ProfileShapeError(`thread ${i}: sample ${k} refers to no stack`);
  }
  if (t.weights.length !== n)
    throw new ProfileShapeError(`thread ${i}: ${n} samples but ${t.weights.length} weights`);
  for (let k = 0; k < n; k++) {
    const w = t.weights[k];
    if (!num(w) || w < 0) throw new ProfileShapeError(`thread ${i}: weight ${k} is not a number`);
  }
  let times = t.times;
  if (!Array.isArray(times) || times.length !== n || !times.every(num)) {
    // Sample times are for the timeline only: rebuilt from the weights when unusable.
    times = [];
    let at = 0;
    for (const w of t.weights) {
      times.push(at);
      at += w;
    }
  }
  const out: ThreadProfile = {
    tid: int(t.tid) ? t.tid : i + 1,
    name: typeof t.name === 'string' ? t.name : `thread ${i}`,
    samples: t.samples,
    times,
    weights: t.weights,
  };
  if (int(t.pid)) out.pid = t.pid;
  return out;
}

/** A usable copy of `p`, or ProfileShapeError naming the first broken reference. */
export function checkedProfile(p: Profile): Profile {
  if (!Array.isArray(p.frames) || !Array.isArray(p.stacks) || !Array.isArray(p.threads))
    throw new ProfileShapeError('no frames, stacks or threads');
  const frames = p.frames.map(frame);
  const nFrames = frames.length;
  p.stacks.forEach((st, i) => {
    if (!Array.isArray(st)) throw new ProfileShapeError(`stack ${i} is not a list of frames`);
    for (const f of st)
      if (!int(f) || f < 0 || f >= nFrames) throw new ProfileShapeError(`stack ${i} refers to no frame`);
  });
  const threads = p.threads.map((t, i) => thread(t, i, p.stacks.length));
  const samples = threads.reduce((a, t) => a + t.samples.length, 0);
  return {
    meta: meta(typeof p.meta === 'object' && p.meta !== null ? p.meta : ({} as ProfileMeta), samples),
    frames,
    stacks: p.stacks,
    threads,
  };
}
