/**
 * --upload: the recording's sample stream, cut into windows (windows.ts), each process's window
 * encoded as the pprof `-f pprof` writes (report/pprof.ts) and queued for the backend (queue.ts).
 * Everything here runs on the main thread, beside the sampling worker: encoding a window takes
 * milliseconds and sending is asynchronous, so sampling never waits for the network.
 */
import type { Profile, ProfileMeta } from '../aggregator/profile.js';
import { toPprof } from '../report/pprof.js';
import { authHeaders } from './auth.js';
import type { Backend, SeriesWindow } from './backend.js';
import type { Endpoint } from './endpoint.js';
import { seriesLabels, type Labels } from './labels.js';
import { ParcaBackend } from './parca.js';
import { PyroscopeBackend } from './pyroscope.js';
import { UploadQueue, type QueueCounts, type QueueOptions } from './queue.js';
import { WindowAssembler, type StreamView, type WindowSample } from './windows.js';

/** Samples of a window may arrive this long after its end (the worker flushes every 200 ms). */
const GRACE_MS = 600;
const TICK_MS = 250;
/** Sample labels of the uploaded pprof: label names backends can query (no spaces). */
const THREAD_LABELS = { id: 'thread_id', name: 'thread_name' };

export interface UploadConfig {
  endpoint: Endpoint;
  /** A fixed app (service) name, or one per process (the executable's name). */
  appName: string | ((pid: number) => string);
  tags: Labels;
  tenant?: string;
  intervalMs: number;
  rate: number;
  byLine: boolean;
  hostname: string;
  luaprofVersion: string;
  env: NodeJS.ProcessEnv;
  log: (line: string) => void;
  queue?: Partial<Omit<QueueOptions, 'log'>>;
}

/** The recording as the uploader sees it (sampler/recorder.ts Recording). */
export interface SampleSource {
  readonly stats: { readonly startTime: number };
  onSamples(
    listener: (
      samples: readonly WindowSample[],
      stream: StreamView & { luaVersion(pid: number): string },
    ) => void,
  ): () => void;
}

/** A value from the process (hostname, versions) cannot break a backend's label syntax. */
const safeValue = (v: string) => v.replace(/[,{}]/g, '_').trim();

export function makeBackend(
  cfg: Pick<UploadConfig, 'endpoint' | 'appName' | 'rate' | 'env' | 'tenant'>,
  app: string,
): Backend {
  const headers = authHeaders(cfg.env, cfg.tenant);
  return cfg.endpoint.kind === 'parca'
    ? new ParcaBackend(cfg.endpoint.base, app, headers)
    : new PyroscopeBackend(cfg.endpoint.base, app, cfg.rate, headers);
}

export class Uploader {
  readonly queue: UploadQueue;
  private readonly windows: WindowAssembler;
  private readonly backends = new Map<string, Backend>();
  private readonly appNames = new Map<number, string>();
  private luaVersion: (pid: number) => string = () => '';
  private startTime = 0;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  /** Series sent per window (the last window's), for the summary. */
  seriesPerWindow = 0;
  pprofBytes = 0;

  /** Checks the endpoint's rules (app name, labels, credentials) at once: throws a LabelError or an AuthError. */
  constructor(private readonly cfg: UploadConfig) {
    this.queue = new UploadQueue({ ...cfg.queue, log: cfg.log });
    this.windows = new WindowAssembler(cfg.intervalMs, cfg.byLine);
    const probeApp = typeof cfg.appName === 'string' ? cfg.appName : 'luaprof';
    this.backend(probeApp).checkLabels(this.labelsFor(1, '5.4.6'));
  }

  private backend(app: string): Backend {
    let b = this.backends.get(app);
    if (!b) this.backends.set(app, (b = makeBackend(this.cfg, app)));
    return b;
  }

  private appOf(pid: number): string {
    if (typeof this.cfg.appName === 'string') return this.cfg.appName;
    let name = this.appNames.get(pid);
    if (name === undefined) this.appNames.set(pid, (name = this.cfg.appName(pid)));
    return name;
  }

  private labelsFor(pid: number, luaVersion: string): Labels {
    return seriesLabels(
      {
        hostname: safeValue(this.cfg.hostname),
        pid,
        luaVersion: safeValue(luaVersion),
        luaprofVersion: safeValue(this.cfg.luaprofVersion),
      },
      this.cfg.tags,
    );
  }

  /** Starts taking the recording's samples; windows are sent as they close. */
  start(source: SampleSource): void {
    this.unsubscribe = source.onSamples((samples, stream) => {
      if (this.startTime === 0) this.startTime = source.stats.startTime;
      this.luaVersion = (pid) => stream.luaVersion(pid);
      for (const s of samples) this.windows.add(s, stream);
    });
    this.timer = setInterval(() => this.ship(false), TICK_MS);
  }

  /** Sends the windows closed by now (all of them, the last one partial, with `all`). */
  private ship(all: boolean): void {
    if (this.startTime === 0) return;
    const now = Date.now() - this.startTime;
    for (const w of this.windows.take(
      now,
      (pid, from, dur, n) => this.meta(pid, from, dur, n),
      GRACE_MS,
      all,
    )) {
      const byApp = new Map<string, SeriesWindow[]>();
      for (const [pid, profile] of w.profiles) {
        const app = this.appOf(pid);
        const series = this.series(pid, profile);
        const list = byApp.get(app) ?? [];
        list.push(series);
        byApp.set(app, list);
      }
      const requests = [...byApp].flatMap(([app, series]) => this.backend(app).requests(series));
      this.seriesPerWindow = w.profiles.size;
      this.queue.push(requests);
    }
  }

  private meta(pid: number, from: number, durationMs: number, samples: number): ProfileMeta {
    return {
      tool: 'luaprof',
      version: this.cfg.luaprofVersion,
      pid,
      rate: this.cfg.rate,
      startTime: this.startTime + from,
      durationMs,
      samples,
      errors: 0,
      luaVersion: this.luaVersion(pid),
      byLine: this.cfg.byLine,
    };
  }

  private series(pid: number, profile: Profile): SeriesWindow {
    const pprof = toPprof(profile, { threadLabels: THREAD_LABELS });
    this.pprofBytes += pprof.length;
    const fromMs = profile.meta.startTime;
    return {
      labels: this.labelsFor(pid, profile.meta.luaVersion ?? ''),
      pprof,
      fromMs,
      untilMs: fromMs + profile.meta.durationMs,
    };
  }

  /** The recording ended: the last (partial) window is sent, and the queue given `timeoutMs` to empty. */
  async finish(timeoutMs: number): Promise<QueueCounts> {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.();
    this.ship(true);
    await this.queue.flush(timeoutMs);
    return this.queue.counts;
  }
}
