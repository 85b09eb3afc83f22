/**
 * pprof (profile.proto, gzipped) via the pprof-format package, readable by `go tool pprof`.
 * Sample types: samples/count and cpu/nanoseconds (count × sampling period). One Location and
 * one Function per luaprof frame; each sample carries thread id and name as labels.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  Function as PFunction,
  Label,
  Line,
  Location,
  Profile as PProfile,
  Sample,
  StringTable,
  ValueType,
} from 'pprof-format';
import type { Frame, Profile, ProfileMeta } from '../aggregator/profile.js';
import { ProfileBuilder } from '../aggregator/profile.js';
import { guessKind } from './speedscope.js';

/** Names of the per-sample thread labels: the file's own, or (for backends, whose label names cannot hold spaces) thread_id / thread_name. */
export interface PprofOptions {
  threadLabels?: { id: string; name: string };
}

export function toPprof(profile: Profile, options: PprofOptions = {}): Buffer {
  const st = new StringTable();
  const periodNs =
    profile.meta.rate && profile.meta.rate > 0 ? Math.round(1e9 / profile.meta.rate) : 10_000_000;
  const functions: PFunction[] = [];
  const locations: Location[] = [];
  profile.frames.forEach((f, i) => {
    const id = i + 1;
    functions.push(
      new PFunction({
        id,
        name: st.dedup(f.name),
        systemName: st.dedup(f.name),
        filename: st.dedup(f.file ?? ''),
        startLine: f.lineDefined ?? 0,
      }),
    );
    locations.push(
      new Location({ id, line: [new Line({ functionId: id, line: f.line ?? f.lineDefined ?? 0 })] }),
    );
  });
  const samples: Sample[] = [];
  const tidKey = st.dedup(options.threadLabels?.id ?? 'thread id');
  const tnameKey = st.dedup(options.threadLabels?.name ?? 'thread name');
  for (const t of profile.threads) {
    const acc = new Map<number, number>();
    for (let i = 0; i < t.samples.length; i++)
      acc.set(t.samples[i], (acc.get(t.samples[i]) ?? 0) + (t.weights[i] ?? 1));
    const labels = [
      new Label({ key: tidKey, num: t.tid }),
      new Label({ key: tnameKey, str: st.dedup(t.name) }),
    ];
    for (const [sid, w] of acc) {
      const stack = profile.stacks[sid] ?? [];
      // pprof lists locations leaf first.
      const locationId: number[] = new Array(stack.length);
      for (let i = 0; i < stack.length; i++) locationId[stack.length - 1 - i] = stack[i] + 1;
      const count = Math.round(w);
      samples.push(new Sample({ locationId, value: [count, Math.round(w * periodNs)], label: labels }));
    }
  }
  const comment: number[] = [];
  const m = profile.meta;
  if (m.command?.length) comment.push(st.dedup(`command: ${m.command.join(' ')}`));
  if (m.pid !== undefined) comment.push(st.dedup(`pid: ${m.pid}`));
  if (m.luaVersion) comment.push(st.dedup(`lua: ${m.luaVersion}`));
  comment.push(st.dedup(`luaprof ${m.version}`));
  const p = new PProfile({
    sampleType: [
      new ValueType({ type: st.dedup('samples'), unit: st.dedup('count') }),
      new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
    ],
    sample: samples,
    location: locations,
    function: functions,
    stringTable: st,
    timeNanos: BigInt(Math.round(m.startTime)) * 1_000_000n,
    durationNanos: BigInt(Math.round(m.durationMs * 1e6)),
    periodType: new ValueType({ type: st.dedup('cpu'), unit: st.dedup('nanoseconds') }),
    period: periodNs,
    comment,
  });
  return gzipSync(p.encode());
}

/** The largest uncompressed pprof profile read. */
export const MAX_PPROF_BYTES = 512 << 20;

/** Reads a (gzipped or plain) pprof profile; the first sample type is taken as the weight. */
export function fromPprof(buf: Uint8Array): Profile {
  // Bounded: a small gzip can claim gigabytes (a "zip bomb").
  const raw =
    buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b
      ? gunzipSync(buf, { maxOutputLength: MAX_PPROF_BYTES })
      : buf;
  const p = PProfile.decode(raw);
  const strs = p.stringTable.strings;
  const str = (i: unknown): string => strs[Number(i)] ?? '';
  const b = new ProfileBuilder(false);
  const fnById = new Map<string, PFunction>();
  for (const fn of p.function) fnById.set(String(fn.id), fn);
  // One location may hold several (inlined) lines: innermost first.
  const locFrames = new Map<string, number[]>();
  for (const loc of p.location) {
    const ids: number[] = [];
    for (const ln of loc.line) {
      const fn = fnById.get(String(ln.functionId));
      if (!fn)
        throw new Error(`location ${String(loc.id)} refers to missing function ${String(ln.functionId)}`);
      const file = str(fn.filename);
      const name = str(fn.name) || str(fn.systemName) || '?';
      const f: Frame = { kind: guessKind(name, file || undefined), name };
      if (file) f.file = file;
      if (Number(fn.startLine) > 0) f.lineDefined = Number(fn.startLine);
      ids.push(b.internFrame(f));
    }
    locFrames.set(String(loc.id), ids);
  }
  let total = 0;
  for (const s of p.sample) {
    const rootFirst: number[] = [];
    for (let i = s.locationId.length - 1; i >= 0; i--) {
      const ids = locFrames.get(String(s.locationId[i]));
      if (!ids) throw new Error(`sample refers to missing location ${String(s.locationId[i])}`);
      for (let j = ids.length - 1; j >= 0; j--) rootFirst.push(ids[j]);
    }
    let tid = 0;
    let tname = 'main';
    for (const l of s.label) {
      if (str(l.key) === 'thread id') tid = Number(l.num);
      else if (str(l.key) === 'thread name') tname = str(l.str);
    }
    const w = Number(s.value[0] ?? 1);
    b.push(b.thread(tid, tname), b.internStack(rootFirst), total, w);
    total += w;
  }
  const periodNs = Number(p.period);
  const meta: ProfileMeta = {
    tool: 'luaprof',
    version: 'pprof',
    startTime: Number(p.timeNanos) / 1e6,
    durationMs: Number(p.durationNanos) / 1e6,
    samples: total,
    errors: 0,
  };
  if (periodNs > 0 && str(p.periodType?.unit) === 'nanoseconds') meta.rate = Math.round(1e9 / periodNs);
  for (const c of p.comment) {
    const text = str(c);
    const m = /^(command|pid|lua): (.*)$/.exec(text);
    if (!m) continue;
    if (m[1] === 'command') meta.command = m[2].split(' ');
    else if (m[1] === 'pid') meta.pid = Number(m[2]);
    else meta.luaVersion = m[2];
  }
  return b.build(meta);
}
