/**
 * The labels of an uploaded series: what luaprof knows about the process (hostname, pid, Lua version,
 * its own version), then the user's --tags. Each backend checks them against its own rules
 * (pyroscope.ts, parca.ts) before the first sample, so a bad label is a usage error, not a rejected
 * upload ten seconds later.
 */

export type Labels = Record<string, string>;

/** A label a backend would refuse, said in one line that names it. */
export class LabelError extends Error {}

/** --tags k=v,k2=v2 → labels (names and values are checked per backend). */
export function parseTags(text: string): Labels {
  const labels: Labels = {};
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new LabelError(`--tags: expected name=value, got "${part}"`);
    const name = part.slice(0, eq).trim();
    if (name in labels) throw new LabelError(`--tags: label "${name}" given twice`);
    labels[name] = part.slice(eq + 1).trim();
  }
  return labels;
}

export interface SeriesFacts {
  hostname: string;
  pid: number;
  luaVersion: string;
  luaprofVersion: string;
}

/** Labels luaprof sets itself: names valid for both backends (Prometheus rules, no dots). */
export function automaticLabels(f: SeriesFacts): Labels {
  const labels: Labels = { hostname: f.hostname, pid: String(f.pid), luaprof_version: f.luaprofVersion };
  if (f.luaVersion) labels.lua_version = f.luaVersion;
  return labels;
}

/** Automatic labels first, the user's tags over them (a tag may override hostname, say). */
export function seriesLabels(facts: SeriesFacts, tags: Labels): Labels {
  return { ...automaticLabels(facts), ...tags };
}

/** A character for a message: printable as itself, else as its code point. */
export function showChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code >= 0x21 && code < 0x7f ? `'${c}'` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}
