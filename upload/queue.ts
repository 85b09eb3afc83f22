/**
 * Sends windows in order, one request at a time, without ever holding up the caller: push() only
 * queues. The queue is bounded (a dead backend must not grow luaprof's memory): when full, the oldest
 * window not being sent is dropped and counted. Connection errors, timeouts, 429 and 5xx are retried
 * after an exponential backoff with full jitter; any other 4xx is a configuration error (bad labels,
 * auth, URL) that retrying cannot fix: said once with the server's message, and that request is
 * dropped (counted as rejected).
 */
import { serverMessage, type UploadRequest } from './backend.js';

export interface QueueOptions {
  /** Windows kept at most (the one being sent included). */
  capacity: number;
  /** First retry after about this long (doubled each time, capped by maxDelayMs). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** One request may take this long. */
  requestTimeoutMs: number;
  /** Where the queue says what happened (one line each). */
  log: (line: string) => void;
  random?: () => number;
  fetch?: typeof fetch;
}

export const DEFAULT_QUEUE: Omit<QueueOptions, 'log'> = {
  capacity: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  requestTimeoutMs: 15_000,
};

export interface QueueCounts {
  windows: number;
  /** Windows whose every request the backend took. */
  sent: number;
  /** Windows dropped because the queue was full (or the flush timed out). */
  dropped: number;
  /** Requests the backend refused (4xx other than 429). */
  rejected: number;
  retries: number;
  bytes: number;
}

interface Pending {
  requests: UploadRequest[];
  /** Requests of this window already taken. */
  done: number;
  attempts: number;
  rejected: boolean;
}

type Outcome = { kind: 'ok' } | { kind: 'retry'; why: string } | { kind: 'refused'; why: string };

/** Bounded: a backend's error page is not read in full, and one line of it is said. */
const MAX_ERROR_BODY = 4096;
const MAX_MESSAGE = 300;

export class UploadQueue {
  readonly counts: QueueCounts = { windows: 0, sent: 0, dropped: 0, rejected: 0, retries: 0, bytes: 0 };
  private readonly pending: Pending[] = [];
  private sending: Pending | null = null;
  private running = false;
  private wake: (() => void) | null = null;
  private abort: AbortController | null = null;
  private readonly opts: Required<QueueOptions>;
  private readonly refusals = new Set<string>();
  private failing = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: Partial<QueueOptions> & Pick<QueueOptions, 'log'>) {
    this.opts = { ...DEFAULT_QUEUE, random: Math.random, fetch: globalThis.fetch, ...opts };
  }

  get length(): number {
    return this.pending.length;
  }

  push(requests: UploadRequest[]): void {
    if (this.closed || requests.length === 0) return;
    this.counts.windows++;
    this.pending.push({ requests, done: 0, attempts: 0, rejected: false });
    while (this.pending.length > this.opts.capacity) {
      const oldest = this.pending.findIndex((p) => p !== this.sending);
      this.pending.splice(oldest, 1);
      this.counts.dropped++;
    }
    if (!this.running) void this.run();
    else this.wake?.();
  }

  /** Waits until every queued window is sent or given up, or `timeoutMs` passed (the rest is dropped). */
  async flush(timeoutMs: number): Promise<void> {
    if (this.pending.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((res) => this.idleWaiters.push(res));
      const late = new Promise<void>((res) => (timer = setTimeout(res, timeoutMs)));
      // Retries wait no longer than the time left.
      this.wake?.();
      await Promise.race([idle, late]);
      clearTimeout(timer);
    }
    this.closed = true;
    this.counts.dropped += this.pending.length;
    this.pending.length = 0;
    this.abort?.abort();
    this.wake?.();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.pending.length > 0 && !this.closed) {
      const p = this.pending[0];
      this.sending = p;
      const outcome = await this.send(p.requests[p.done]);
      this.sending = null;
      if (this.closed) break;
      if (outcome.kind === 'retry') {
        p.attempts++;
        this.counts.retries++;
        if (!this.failing) {
          this.failing = true;
          this.opts.log(`upload: ${outcome.why}; retrying (queue of ${this.opts.capacity} windows)`);
        }
        await this.sleep(this.backoff(p.attempts));
        continue;
      }
      if (this.failing && outcome.kind === 'ok') {
        this.failing = false;
        this.opts.log('upload: the backend answers again');
      }
      if (outcome.kind === 'refused') {
        this.counts.rejected++;
        p.rejected = true;
        if (!this.refusals.has(outcome.why)) {
          this.refusals.add(outcome.why);
          this.opts.log(`upload refused: ${outcome.why}`);
        }
      }
      p.done++;
      p.attempts = 0;
      if (p.done === p.requests.length) {
        const i = this.pending.indexOf(p);
        if (i >= 0) this.pending.splice(i, 1);
        if (!p.rejected) this.counts.sent++;
      }
    }
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Full jitter: a random wait up to base × 2^(attempt-1), capped. */
  private backoff(attempt: number): number {
    const cap = Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** (attempt - 1));
    return cap * this.opts.random();
  }

  private sleep(ms: number): Promise<void> {
    if (this.idleWaiters.length > 0) ms = Math.min(ms, 100);
    return new Promise((res) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        res();
      }
      this.wake = () => {
        this.wake = null;
        if (this.idleWaiters.length > 0 || this.closed) done();
      };
    });
  }

  private async send(r: UploadRequest): Promise<Outcome> {
    this.abort = new AbortController();
    const timer = setTimeout(() => this.abort?.abort(), this.opts.requestTimeoutMs);
    try {
      const res = await this.opts.fetch(r.url, {
        method: 'POST',
        headers: r.headers,
        body: typeof r.body === 'string' ? r.body : new Uint8Array(r.body),
        signal: this.abort.signal,
      });
      if (res.ok) {
        this.counts.bytes += typeof r.body === 'string' ? Buffer.byteLength(r.body) : r.body.length;
        await res.body?.cancel();
        return { kind: 'ok' };
      }
      const text = await boundedText(res);
      const message = serverMessage(text).replace(/\s+/g, ' ');
      const what = `HTTP ${res.status}${message ? `: ${message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message}` : ''}`;
      if (res.status === 429 || res.status >= 500) return { kind: 'retry', why: what };
      return { kind: 'refused', why: `${what} (${new URL(r.url).pathname})` };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why =
        err.name === 'AbortError'
          ? `no answer within ${this.opts.requestTimeoutMs / 1000} s`
          : (err.cause?.code ?? err.cause?.message ?? err.message);
      return { kind: 'retry', why: `${new URL(r.url).host}: ${why}` };
    } finally {
      clearTimeout(timer);
    }
  }
}

async function boundedText(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_ERROR_BODY) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString('utf8');
}
