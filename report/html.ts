/**
 * The HTML flamegraph report: one self-contained file (d3, d3-flame-graph, its CSS, the page
 * script and the data inlined; a Content-Security-Policy forbids any network request and any
 * script but the inlined ones). The profile is pre-folded into a call tree per thread and packed
 * as parallel arrays, so page size grows with distinct call paths, not with samples.
 *
 * Everything that came from the target (function names, chunk names, thread names, command) is
 * carried as JSON data and put into the page with textContent / d3 .text(): never parsed as HTML.
 */
import type { Profile, ProfileMeta, ThreadProfile } from '../aggregator/profile.js';
import {
  functionStats,
  frameLocation,
  packThreadTrees,
  stackWeights,
  type TreeNode,
} from '../aggregator/tree.js';
import { cspHash, escapeHtml, jsonForScript, ownAsset, packageFile, scriptText } from './assets.js';
import type { DiffPageData, FlameData, FlameThreadData } from './page-types.js';
import { threadLabel } from './speedscope.js';

// The page data types live in page-types.ts, shared with the page script (flamegraph-app.js).
export type { DiffPageData, FlameData, FlameThreadData } from './page-types.js';

export function profileFacts(meta: ProfileMeta, threads: number): Array<[string, string]> {
  const facts: Array<[string, string]> = [];
  if (meta.command?.length) facts.push(['command', meta.command.join(' ')]);
  if (meta.pid !== undefined) facts.push(['pid', String(meta.pid)]);
  if (meta.luaVersion) facts.push(['Lua', meta.luaVersion]);
  if (meta.rate !== undefined)
    facts.push([
      'rate',
      `${fmtNumber(meta.rate)} Hz${meta.achievedHz !== undefined ? ` (${fmtNumber(meta.achievedHz)} Hz achieved)` : ''}`,
    ]);
  if (meta.sampling)
    facts.push([
      'sampling',
      meta.sampling === 'blocking' ? 'ptrace stops (--blocking)' : 'copies of the running threads',
    ]);
  facts.push(['duration', fmtDuration(meta.durationMs)]);
  facts.push(['samples', fmtNumber(meta.samples)]);
  facts.push(['errors', fmtNumber(meta.errors)]);
  if (meta.lateSamples !== undefined) facts.push(['late samples', fmtNumber(meta.lateSamples)]);
  if (meta.offCpu !== undefined) facts.push(['off-CPU (left out)', fmtNumber(meta.offCpu)]);
  if (meta.tornCut !== undefined) {
    facts.push([
      'torn copies',
      `${fmtNumber(meta.tornLater)} read from a later pass, ${fmtNumber(meta.tornCut)} cut ([torn]), ${fmtNumber(meta.tornDropped)} dropped`,
    ]);
  }
  if (meta.cpuPerSampleUs !== undefined)
    facts.push(['luaprof CPU', `${fmtNumber(meta.cpuPerSampleUs, 1)} µs per sample`]);
  if (meta.stops) facts.push(['stops', fmtNumber(meta.stops)]);
  if (meta.searchStops) facts.push(['stops to find states', fmtNumber(meta.searchStops)]);
  if (meta.pauseP50Us !== undefined) facts.push(['pause p50', `${fmtNumber(meta.pauseP50Us)} µs`]);
  if (meta.pauseP99Us !== undefined) facts.push(['pause p99', `${fmtNumber(meta.pauseP99Us)} µs`]);
  facts.push([
    'threads',
    meta.mergedThreads
      ? `${threads} profiles of ${fmtNumber(meta.threadsSeen)} threads (${fmtNumber(meta.mergedThreads)} merged by name)`
      : String(threads),
  ]);
  if (meta.startTime > 0) facts.push(['started', new Date(meta.startTime).toISOString()]);
  facts.push(['luaprof', meta.version]);
  if (meta.byLine) facts.push(['frames', 'by line']);
  return facts;
}

/** A figure from a profile file (any JSON value) as text: rounded, '?' when it is no number. */
function fmtNumber(v: unknown, digits = 0): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '?';
}

function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** The page's frame table, [name, "file:line", kind] per frame (a profile's or a diff's frames). */
export function frameTable(profile: Pick<Profile, 'frames'>): Array<[string, string, string]> {
  return profile.frames.map((f) => [f.name, frameLocation(f), f.kind]);
}

export function buildFlameData(profile: Profile, title?: string): FlameData {
  const byName = nameOrder(profile.frames.map((f) => f.name));
  const packed = packThreadTrees(profile, profile.threads, byName);
  const fnTable = (ts: ThreadProfile[]): Array<[number, number, number]> => {
    const stats = [...functionStats(profile, stackWeights(profile, ts)).values()].sort(
      (a, b) => b.total - a.total || b.self - a.self,
    );
    return stats.map((s) => [s.frame, r6(s.self), r6(s.total)]);
  };
  const threads: FlameThreadData[] = [];
  if (profile.threads.length !== 1) {
    threads.push({
      label: `all threads (${profile.threads.length})`,
      total: packed.totals.reduce((a, b) => a + b, 0),
      v: packed.all,
      fn: fnTable(profile.threads),
    });
  }
  profile.threads.forEach((t, i) => {
    threads.push({
      label: threadLabel(t),
      total: packed.totals[i],
      v: packed.perThread[i],
      fn: fnTable([t]),
    });
  });
  const cmd = profile.meta.command?.length
    ? profile.meta.command.join(' ')
    : profile.meta.pid !== undefined
      ? `pid ${profile.meta.pid}`
      : 'profile';
  return {
    mode: 'profile',
    title: title ?? `luaprof: ${cmd}`,
    facts: profileFacts(profile.meta, profile.threads.length),
    frames: frameTable(profile),
    tree: packed.tree,
    threads,
  };
}

/** Alphabetical children, as FlameGraph draws them (stable across threads and between base and new). */
export function nameOrder(
  names: string[],
): (a: Pick<TreeNode, 'frame'>, b: Pick<TreeNode, 'frame'>) => number {
  return (a, b) => {
    const x = names[a.frame] ?? '';
    const y = names[b.frame] ?? '';
    return x < y ? -1 : x > y ? 1 : a.frame - b.frame;
  };
}

function r6(x: number): number {
  return Number.isInteger(x) ? x : Math.round(x * 1e6) / 1e6;
}

/** Assembles the page around a data object (profile or diff mode). */
export function renderPage(data: FlameData | DiffPageData): string {
  const d3 = scriptText(packageFile('d3', 'dist/d3.min.js'));
  const fg = scriptText(packageFile('d3-flame-graph', 'dist/d3-flamegraph.umd.min.js'));
  const app = scriptText(ownAsset('flamegraph-app.js'));
  const css = packageFile('d3-flame-graph', 'dist/d3-flamegraph.css') + '\n' + ownAsset('flamegraph.css');
  const json = jsonForScript(data);
  const csp = [
    "default-src 'none'",
    `script-src ${cspHash(d3)} ${cspHash(fg)} ${cspHash(app)}`,
    "style-src 'unsafe-inline'",
    'img-src data:',
  ].join('; ');
  const parts: Record<string, string> = {
    CSP: escapeHtml(csp),
    TITLE: escapeHtml(data.title),
    STYLE: css.replace(/<\/style/gi, '<\\/style'),
    DATA: json,
    D3: d3,
    FLAMEGRAPH: fg,
    APP: app,
  };
  return ownAsset('flamegraph.html').replace(/\{\{([A-Z0-9]+)\}\}/g, (m, k: string) => parts[k] ?? m);
}

export function renderFlamegraphHtml(profile: Profile, title?: string): string {
  return renderPage(buildFlameData(profile, title));
}
