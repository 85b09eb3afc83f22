/**
 * The samples of a profile while it grows: one log of (thread, stack id, time) in fixed-size chunks of
 * typed arrays, a weight only where it is not 1 (16 bytes a sample, against ~36 in three JS number
 * arrays). One log for all threads rather than chunks per thread: a host that starts and ends
 * thousands of short-lived threads would otherwise keep a partial chunk of each in memory.
 *
 * With a spill directory, each full chunk is written to one temporary file there, unlinked as soon as
 * it is opened: whatever way the process ends, no file is left behind, and the space goes with the
 * descriptor. When the file cannot be made or written (no such directory, read-only, disk full), the
 * chunks stay in memory: nothing recorded is lost. `readBack` splits the log per thread.
 */
import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface TimelineStoreOptions {
  /** Samples per chunk: the log holds this many in memory before a chunk goes to the file. */
  chunkSamples?: number;
  /** Directory of the temporary file for full chunks; null or absent: every chunk stays in memory. */
  spillDir?: string | null;
}

/** A thread's samples, in the order they came. */
export interface ThreadSamples {
  samples: number[];
  times: number[];
  weights: number[];
}

export const DEFAULT_CHUNK_SAMPLES = 65_536;

class Chunk {
  length = 0;
  readonly thread: Uint32Array;
  readonly stack: Uint32Array;
  readonly time: Float64Array;
  /** Index in the chunk and weight of each sample whose weight is not 1. */
  readonly weightAt: number[] = [];
  readonly weight: number[] = [];

  constructor(capacity: number) {
    this.thread = new Uint32Array(capacity);
    this.stack = new Uint32Array(capacity);
    this.time = new Float64Array(capacity);
  }

  clear(): void {
    this.length = 0;
    this.weightAt.length = 0;
    this.weight.length = 0;
  }
}

/** Where a full chunk's arrays are in the file: time, weights, then thread, stack, weight indices. */
interface FileChunk {
  offset: number;
  length: number;
  weights: number;
}

export class TimelineStore {
  private readonly chunkSamples: number;
  private readonly spillDir: string | null;
  /** Full chunks, in order: in the file, or in memory when the file could not take them. */
  private readonly full: Array<Chunk | FileChunk> = [];
  private current: Chunk;
  private fd: number | null = null;
  private fileEnd = 0;
  /** The file failed (or could not be made): chunks stay in memory from then on. */
  private fileFailed = false;
  private closed = false;
  /** Samples per thread index. */
  private readonly counts: number[] = [];

  constructor(options: TimelineStoreOptions = {}) {
    this.chunkSamples = Math.max(1, Math.floor(options.chunkSamples ?? DEFAULT_CHUNK_SAMPLES));
    this.spillDir = options.spillDir ?? null;
    this.current = new Chunk(this.chunkSamples);
  }

  /** Samples written to the temporary file so far (chunks that stayed in memory are not counted). */
  get samplesInFile(): number {
    let n = 0;
    for (const c of this.full) if (!(c instanceof Chunk)) n += c.length;
    return n;
  }

  /** Appends one sample of the thread numbered `thread` (0, 1, … in the order threads came). */
  push(thread: number, stack: number, timeMs: number, weight: number): void {
    if (this.closed) throw new Error('timeline store used after it was closed');
    const c = this.current;
    const i = c.length++;
    c.thread[i] = thread;
    c.stack[i] = stack;
    c.time[i] = timeMs;
    if (weight !== 1) {
      c.weightAt.push(i);
      c.weight.push(weight);
    }
    this.counts[thread] = (this.counts[thread] ?? 0) + 1;
    if (c.length === this.chunkSamples) {
      const stored = this.spill(c);
      this.full.push(stored);
      // A chunk the file took is filled again: a new 1 MB chunk each time would be garbage that the
      // main thread's small heap collects rarely, 10-40 MB of it at a time.
      if (stored === c) this.current = new Chunk(this.chunkSamples);
      else c.clear();
    }
  }

  /** Every sample so far, per thread index (threads without samples get empty arrays). */
  readBack(threads: number): ThreadSamples[] {
    if (this.closed) throw new Error('timeline store read after it was closed');
    const out: ThreadSamples[] = [];
    for (let t = 0; t < threads; t++) {
      const n = this.counts[t] ?? 0;
      out.push({
        samples: new Array<number>(n).fill(0),
        times: new Array<number>(n).fill(0),
        weights: new Array<number>(n).fill(1),
      });
    }
    const next = new Array<number>(threads).fill(0);
    const take = (c: Chunk) => {
      let w = 0;
      for (let i = 0; i < c.length; i++) {
        const t = out[c.thread[i]];
        const k = next[c.thread[i]]++;
        t.samples[k] = c.stack[i];
        t.times[k] = c.time[i];
        if (w < c.weightAt.length && c.weightAt[w] === i) t.weights[k] = c.weight[w++];
      }
    };
    for (const c of this.full) take(c instanceof Chunk ? c : this.load(c));
    take(this.current);
    return out;
  }

  /** Closes the temporary file (already unlinked); the store takes no more samples. */
  close(): void {
    this.closed = true;
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // Closing an fd we opened fails only if it is already gone: nothing to release.
      }
      this.fd = null;
    }
  }

  /** The chunk as the file holds it, or the chunk itself where the file cannot take it. */
  private spill(c: Chunk): Chunk | FileChunk {
    const fd = this.file();
    if (fd === null) return c;
    const parts: ArrayBufferView[] = [
      c.time,
      Float64Array.from(c.weight),
      c.thread,
      c.stack,
      Uint32Array.from(c.weightAt),
    ];
    let at = this.fileEnd;
    try {
      for (const p of parts) at += writeAll(fd, p, at);
    } catch {
      this.fileFailed = true;
      return c;
    }
    const stored: FileChunk = { offset: this.fileEnd, length: c.length, weights: c.weight.length };
    this.fileEnd = at;
    return stored;
  }

  private load(f: FileChunk): Chunk {
    const c = new Chunk(f.length);
    c.length = f.length;
    const weight = new Float64Array(f.weights);
    const weightAt = new Uint32Array(f.weights);
    let at = f.offset;
    for (const p of [c.time, weight, c.thread, c.stack, weightAt]) at += readAll(this.fd!, p, at);
    for (let i = 0; i < f.weights; i++) {
      c.weight.push(weight[i]);
      c.weightAt.push(weightAt[i]);
    }
    return c;
  }

  /** The temporary file, opened (and unlinked) on first use; null when there is none to be had. */
  private file(): number | null {
    if (this.fd !== null) return this.fd;
    if (this.spillDir === null || this.fileFailed) return null;
    this.fileFailed = true;
    // O_EXCL ('wx+') makes the name safe to guess; the random part only keeps names apart (node:crypto
    // would be loaded for it at every start, ~7 ms before the first sample).
    const unique = Math.floor(Math.random() * 2 ** 48).toString(16);
    const path = join(this.spillDir, `luaprof-samples-${process.pid}-${unique}.tmp`);
    let fd: number;
    try {
      fd = openSync(path, 'wx+', 0o600);
    } catch {
      return null;
    }
    try {
      unlinkSync(path);
    } catch {
      // A file that cannot be unlinked now might be left behind: do not use it.
      closeSync(fd);
      try {
        unlinkSync(path);
      } catch {
        // Nothing more to try.
      }
      return null;
    }
    this.fileFailed = false;
    return (this.fd = fd);
  }
}

function writeAll(fd: number, view: ArrayBufferView, position: number): number {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  return bytes.length;
}

function readAll(fd: number, view: ArrayBufferView, position: number): number {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let done = 0;
  while (done < bytes.length) {
    const n = readSync(fd, bytes, done, bytes.length - done, position + done);
    if (n === 0) throw new Error('temporary sample file ended early');
    done += n;
  }
  return bytes.length;
}
