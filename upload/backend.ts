/** What every backend client is: labels checked up front, a window of series turned into HTTP requests. */
import type { Labels } from './labels.js';

/** One process's profile over one window, ready to send. */
export interface SeriesWindow {
  labels: Labels;
  /** The gzipped pprof (report/pprof.ts). */
  pprof: Buffer;
  /** Wall-clock bounds of the window, ms since the epoch. */
  fromMs: number;
  untilMs: number;
}

export interface UploadRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer | string;
  /** Series this request carries (for the counts). */
  series: number;
}

export interface Backend {
  readonly kind: 'pyroscope' | 'parca';
  /** Throws a LabelError naming the first label the backend would refuse. */
  checkLabels(labels: Labels): void;
  /** The requests that send one window (all its processes). */
  requests(window: readonly SeriesWindow[]): UploadRequest[];
}

/** The backend's own message in an error answer: JSON {message} (both backends), else the text. */
export function serverMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown; error?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    /* not JSON: the text itself */
  }
  return body.trim();
}

/** The base URL's path without a trailing slash, so a backend behind a path prefix keeps it. */
export function joinPath(base: URL, path: string): URL {
  const u = new URL(base.href);
  u.pathname = u.pathname.replace(/\/+$/, '') + path;
  u.search = '';
  u.hash = '';
  return u;
}
