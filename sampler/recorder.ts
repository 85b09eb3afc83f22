/** Main-thread side of a recording: runs the sampling worker and mirrors the profile it builds. */
import { Worker } from 'node:worker_threads';
import type { Frame, Profile, ProfileMeta, ThreadProfile } from '../aggregator/profile.js';
import { LuaprofError, type ExitCodeName } from './errors.js';
import { CTRL, type EndReason, type RecordOptions, type RecordStats, type WorkerMessage } from './protocol.js';

export interface Progress {
  elapsedMs: number;
  samples: number;
  errors: number;
  late: number;
}

export interface Recording {
  /** Resolves when the recording ends, however it ends. */
  done: Promise<{ profile: Profile; reason: EndReason; stats: RecordStats; luaVersion: string }>;
  /** Ends the recording early; the profile so far is kept. */
  stop(): void;
  progress(): Progress;
  /** Resolves once the runtime has been found and sampling has begun. */
  attached: Promise<string>;
}

export function startRecording(options: RecordOptions, meta: Partial<ProfileMeta> = {}): Recording {
  const control = new SharedArrayBuffer(CTRL.size * 4);
  const ctrl = new Int32Array(control);
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { options, control } });
  const frames: Frame[] = [];
  const stacks: number[][] = [];
  const threads = new Map<number, ThreadProfile>();
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

  const done = new Promise<{ profile: Profile; reason: EndReason; stats: RecordStats; luaVersion: string }>((resolve, reject) => {
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
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
          process.stderr.write(m.line + '\n');
          break;
        case 'delta':
          frames.push(...m.delta.frames);
          stacks.push(...m.delta.stacks);
          for (const s of m.delta.samples) {
            let t = threads.get(s.tid);
            if (!t) threads.set(s.tid, (t = { tid: s.tid, pid: s.pid ?? options.pid, name: s.name, samples: [], times: [], weights: [] }));
            t.samples.push(s.stack);
            t.times.push(s.time);
            t.weights.push(1);
          }
          break;
        case 'done': {
          settled = true;
          const profile: Profile = {
            meta: {
              tool: 'luaprof',
              version: meta.version ?? '0',
              pid: options.pid,
              rate: options.rate,
              startTime: m.stats.startTime,
              durationMs: m.stats.durationMs,
              samples: m.stats.samples,
              errors: m.stats.errors,
              lateSamples: m.stats.late,
              luaVersion,
              byLine: options.byLine,
              pauseP50Us: m.stats.pauseP50Us,
              pauseP99Us: m.stats.pauseP99Us,
              ...meta,
            },
            frames,
            stacks,
            threads: [...threads.values()],
          };
          resolve({ profile, reason: m.reason, stats: m.stats, luaVersion });
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
    stop() {
      Atomics.store(ctrl, CTRL.stop, 1);
      Atomics.notify(ctrl, CTRL.stop);
    },
    progress() {
      return {
        elapsedMs: Date.now() - started,
        samples: Atomics.load(ctrl, CTRL.samples),
        errors: Atomics.load(ctrl, CTRL.errors),
        late: Atomics.load(ctrl, CTRL.late),
      };
    },
  };
}
