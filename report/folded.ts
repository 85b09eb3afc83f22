/**
 * Folded stacks, the line format of Brendan Gregg's FlameGraph (stackcollapse-*) and inferno:
 *
 *     main chunk (app.lua:0);work (app.lua:3);string.rep ([C]) 42
 *
 * one line per distinct stack, frames root first separated by ';', then a space and the count.
 * A frame is written "name (file:line)" (line = current line with --by-line, else the line the
 * function is defined on); JIT frames get inferno's "_[j]" suffix. With more than one thread each
 * stack starts with a "[tid N name]" pseudo-frame so the file still reads as one flamegraph.
 * Frame text is made single-line and ';'-free (';' becomes ':'), as the format requires.
 */
import type { Frame, Profile, ThreadProfile } from '../aggregator/profile.js';
import { ProfileBuilder } from '../aggregator/profile.js';
import { guessKind } from './speedscope.js';

export function sanitizeFoldedText(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').replace(/;/g, ':');
}

export function foldedFrameText(f: Frame): string {
  let s = sanitizeFoldedText(f.name);
  if (f.file !== undefined) {
    const line = f.line ?? f.lineDefined;
    s += ` (${sanitizeFoldedText(f.file)}${line !== undefined ? `:${line}` : ''})`;
  }
  if (f.kind === 'jit') s += '_[j]';
  return s;
}

function threadFrame(t: ThreadProfile): string {
  return sanitizeFoldedText(`[tid ${t.tid}${t.name ? ` ${t.name}` : ''}]`);
}

/** Folded text; counts are summed weights (integers for plain sampling). Lines sorted for stable output. */
export function toFolded(profile: Profile): string {
  const text = profile.frames.map(foldedFrameText);
  const multi = profile.threads.length > 1;
  const lines: string[] = [];
  for (const t of profile.threads) {
    const acc = new Map<number, number>();
    for (let i = 0; i < t.samples.length; i++)
      acc.set(t.samples[i], (acc.get(t.samples[i]) ?? 0) + (t.weights[i] ?? 1));
    const prefix = multi ? threadFrame(t) + ';' : '';
    for (const [sid, w] of acc) {
      const st = profile.stacks[sid] ?? [];
      if (st.length === 0 && !multi) continue; // an empty stack cannot be written in this format
      const body = st.map((fi) => text[fi]).join(';');
      const stackText = multi ? (body ? prefix + body : prefix.slice(0, -1)) : body;
      lines.push(`${stackText} ${fmtCount(w)}`);
    }
  }
  lines.sort();
  return lines.length ? lines.join('\n') + '\n' : '';
}

function fmtCount(w: number): string {
  return Number.isInteger(w) ? String(w) : String(Math.round(w * 1e6) / 1e6);
}

export class FoldedParseError extends Error {
  constructor(
    message: string,
    readonly lineNo: number,
  ) {
    super(message);
  }
}

const FRAME_RE = /^(.*?) \((.*)\)$/;
const LOC_RE = /^(.*):(\d+)$/;
const THREAD_RE = /^\[tid (\d+)(?: (.*))?\]$/;

export function parseFoldedFrame(text: string): Frame {
  let s = text;
  let jit = false;
  if (s.endsWith('_[j]')) {
    jit = true;
    s = s.slice(0, -4);
  } else if (/_\[[kiw]\]$/.test(s)) {
    s = s.slice(0, -4);
  }
  const m = FRAME_RE.exec(s);
  let f: Frame;
  if (m) {
    const loc = LOC_RE.exec(m[2]);
    f = { kind: 'lua', name: m[1], file: loc ? loc[1] : m[2] };
    if (loc) f.lineDefined = Number(loc[2]);
  } else {
    f = { kind: 'lua', name: s };
  }
  f.kind = jit ? 'jit' : guessKind(f.name, f.file);
  return f;
}

/**
 * Parses folded text. Throws FoldedParseError on a line that is not "stack count".
 * Lines starting with '#' and blank lines are skipped.
 */
export function fromFolded(text: string): Profile {
  const b = new ProfileBuilder(false);
  const frameCache = new Map<string, number>();
  let total = 0;
  let lineNo = 0;
  let start = 0;
  let any = false;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    if (line.trim() === '' || line.startsWith('#')) {
      if (end === text.length) break;
      continue;
    }
    const sp = line.lastIndexOf(' ');
    const countText = sp >= 0 ? line.slice(sp + 1) : '';
    const count = Number(countText);
    if (sp <= 0 || countText === '' || !Number.isFinite(count) || count < 0) {
      throw new FoldedParseError(`line ${lineNo} does not end in a sample count`, lineNo);
    }
    const parts = line.slice(0, sp).split(';');
    let tid = 0;
    let tname = 'main';
    const tm = THREAD_RE.exec(parts[0]);
    if (tm) {
      tid = Number(tm[1]);
      tname = tm[2] ?? '';
      parts.shift();
    }
    const ids: number[] = [];
    for (const p of parts) {
      if (p === '') continue;
      let id = frameCache.get(p);
      if (id === undefined) {
        id = b.internFrame(parseFoldedFrame(p));
        frameCache.set(p, id);
      }
      ids.push(id);
    }
    b.push(b.thread(tid, tname), b.internStack(ids), total, count);
    total += count;
    any = true;
    if (end === text.length) break;
  }
  if (!any) throw new FoldedParseError('no stacks found', lineNo);
  return b.build({
    tool: 'luaprof',
    version: 'folded',
    startTime: 0,
    durationMs: 0,
    samples: total,
    errors: 0,
  });
}
