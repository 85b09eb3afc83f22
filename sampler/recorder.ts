/**
 * Main-thread side of a recording: runs the sampling worker, owns the profile (the one place samples
 * are aggregated) and the statistics, and passes the raw sample stream on to whoever subscribes.
 */
import { tmpdir } from 'node:os';
import { ProfileBuilder, type Frame, type Profile, type ProfileMeta } from '../aggregator/profile.js';
import { LuaprofError, type ExitCodeName } from './errors.js';
import {
  CTRL,
  SAMPLE_FIELDS,
  type EndReason,
  type SampleBatch,
  type StackSample,
  type WorkerMessage,
} from './protocol.js';
import type { RecordOptions } from './sample.js';
import { RecordStats } from './stats.js';
import { inert } from '../report/terminal-text.js';
import { SampleSlots } from './sample-slots.js';
import { startWorker } from './worker-start.js';

export type { StackSample };

export interface Progress {
  elapsedMs: number;
  samples: number;
  errors: number;
  late: number;
}

/** The frames and threads a StackSample refers to. */
export interface SampleStream {
  /** Frame table of the stream: StackSample.frames index it. */
  readonly frames: readonly Frame[];
  threadName(pid: number, tid: number): string;
  /** The Lua version of a process seen in the stream ('' if not known). */
  luaVersion(pid: number): string;
}

export type SampleListener = (samples: readonly StackSample[], stream: SampleStream) => void;

export interface RecordingResult {
  profile: Profile;
  reason: EndReason;
  /** With 'traced': the line naming the tracer. */
  detail?: string;
  stats: RecordStats;
  luaVersion: string;
}

export interface Recording {
  /** Resolves when the recording ends, however it ends. */
  done: Promise<RecordingResult>;
  /** Ends the recording early; the profile so far is kept. */
  stop(): void;
  progress(): Progress;
  /** Counts of the recording so far (final once `done` resolves). */
  readonly stats: RecordStats;
  /** Resolves once the runtime has been found and sampling has begun. */
  attached: Promise<string>;
  /** Calls `listener` with each batch of raw samples as it arrives; returns an unsubscribe function. */
  onSamples(listener: SampleListener): () => void;
}

export interface RecorderOptions {
  /**
   * Aggregate every sample into the recording's profile (default). Off for a recording that only
   * streams (--upload without -o): memory then stays bounded however long it runs.
   */
  keepProfile?: boolean;
}

export function startRecording(
  options: RecordOptions,
  meta: Partial<ProfileMeta> = {},
  recorder: RecorderOptions = {},
): Recording {
  const keepProfile = recorder.keepProfile ?? true;
  const control = new SharedArrayBuffer(CTRL.size * 4);
  const ctrl = new Int32Array(control);
  const stats = new RecordStats();
  const slots = new SampleSlots();
  const worker = startWorker({ options, control, stats: stats.buffer, slots: slots.buffer });
  // Past one chunk of samples the timelines go to a temporary file: a long recording's memory stays flat.
  const builder = new ProfileBuilder({ byLine: options.byLine, spillDir: tmpdir() });
  /** The stream's frame table, and each of its frames' id in the builder. */
  const frames: Frame[] = [];
  const builderIds: number[] = [];
  const toBuilderId = (id: number) => builderIds[id];
  const threadNames = new Map<string, string>();
  const luaVersions = new Map<number, string>();
  const stream: SampleStream = {
    frames,
    threadName: (pid, tid) => threadNames.get(`${pid}:${tid}`) ?? String(tid),
    luaVersion: (pid) => luaVersions.get(pid) ?? '',
  };
  const listeners = new Set<SampleListener>();
  const started = Date.now();
  let luaVersion = '';
  let settled = false;
  let resolveAttached!: (v: string) => void;
  let rejectAttached!: (e: Error) => void;
  const attached = new Promise<string>((res, rej) => {
    resolveAttached = res;
    rejectAttached = rej;
  });
  attached.catch(() => undefined);

  /** The stream's stacks (frame ids innermost first), and each one's id in the builder. */
  const streamStacks: number[][] = [];
  const builderStacks: number[] = [];
  const receive = (batch: SampleBatch) => {
    for (const f of batch.frames) {
      frames.push(f);
      builderIds.push(builder.internFrame(f));
    }
    for (const ids of batch.stacks) {
      streamStacks.push(ids);
      builderStacks.push(builder.internStackInnermostFirst(ids, toBuilderId));
    }
    for (const t of batch.threads) {
      threadNames.set(`${t.pid}:${t.tid}`, t.name);
      if (t.luaVersion) luaVersions.set(t.pid, t.luaVersion);
    }
    const packed = batch.slot < 0 ? batch.samples! : slots.view(batch.slot, batch.length);
    try {
      take(packed);
    } finally {
      if (batch.slot >= 0) slots.giveBack(batch.slot);
    }
  };
  const take = (packed: Float64Array) => {
    if (keepProfile)
      for (let at = 0; at < packed.length; at += SAMPLE_FIELDS) {
        const pid = packed[at];
        const tid = packed[at + 1];
        const t = builder.thread(tid, '', pid);
        if (t.name === '') t.name = stream.threadName(pid, tid);
        builder.push(t, builderStacks[packed[at + 3]], packed[at + 2]);
      }
    if (listeners.size === 0) return;
    const samples: StackSample[] = [];
    for (let at = 0; at < packed.length; at += SAMPLE_FIELDS)
      samples.push({
        pid: packed[at],
        tid: packed[at + 1],
        time: packed[at + 2],
        frames: streamStacks[packed[at + 3]],
      });
    for (const listener of listeners) listener(samples, stream);
  };

  const done = new Promise<RecordingResult>((resolve, reject) => {
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      builder.dispose();
      rejectAttached(e);
      reject(e);
    };
    worker.on('message', (m: WorkerMessage) => {
      switch (m.type) {
        case 'attached':
          luaVersion = m.luaVersion;
          resolveAttached(m.luaVersion);
          break;
        case 'log':
          process.stderr.write(inert(m.line) + '\n');
          break;
        case 'samples':
          receive(m.batch);
          break;
        case 'done': {
          settled = true;
          const profile = builder.build({
            tool: 'luaprof',
            version: meta.version ?? '0',
            ...(options.match ? {} : { pid: options.pid }),
            rate: options.rate,
            startTime: stats.startTime,
            durationMs: stats.durationMs,
            samples: stats.samples,
            errors: stats.errors,
            lateSamples: stats.late,
            luaVersion,
            byLine: options.byLine,
            ...(stats.stops > 0 ? { pauseP50Us: stats.pauseP50Us, pauseP99Us: stats.pauseP99Us } : {}),
            sampling: options.blocking ? 'blocking' : 'running',
            achievedHz: stats.achievedHz,
            offCpu: stats.offCpu,
            stops: stats.stops,
            ...(stats.searchStops > 0 ? { searchStops: stats.searchStops } : {}),
            tornCut: stats.tornCut,
            tornLater: stats.tornLater,
            tornDropped: stats.tornDropped,
            ...(stats.copierCopies > 0 ? { copierCopies: stats.copierCopies } : {}),
            ...(stats.tickCopies > 0 ? { tickCopies: stats.tickCopies } : {}),
            cpuPerSampleUs: stats.cpuPerSampleUs,
            ...(stats.firstSampleMs > 0 ? { firstSampleMs: stats.firstSampleMs } : {}),
            ...(options.match || options.subprocesses ? {} : { attachPauseUs: stats.attachPauseUs }),
            ...(stats.mergedThreads > 0
              ? { threadsSeen: stats.threads, mergedThreads: stats.mergedThreads }
              : {}),
            ...meta,
          });
          resolve({ profile, reason: m.reason, detail: m.detail, stats, luaVersion });
          break;
        }
        case 'error':
          fail(new LuaprofError(m.kind as ExitCodeName, m.message));
          break;
      }
    });
    worker.on('error', (e) => fail(e));
    worker.on('exit', (code) => fail(new Error(`sampling worker exited (code ${code}) before finishing`)));
  });

  return {
    done,
    attached,
    stats,
    stop() {
      Atomics.store(ctrl, CTRL.stop, 1);
      Atomics.notify(ctrl, CTRL.stop);
    },
    progress() {
      return {
        elapsedMs: Date.now() - started,
        samples: stats.samples,
        errors: stats.errors,
        late: stats.late,
      };
    },
    onSamples(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
