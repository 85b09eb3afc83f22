/**
 * The recording loop. It runs in a worker thread because ptrace binds a tracee to the thread that
 * attached it, and because a sub-millisecond clock (Atomics.wait) must not block the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { ProfileBuilder, type Frame } from '../aggregator/profile.js';
import { LuaprofError } from './errors.js';
import { processExists, threadName } from './os/procfs.js';
import { descendants } from './threads.js';
import { CTRL, type Delta, type EndReason, type RecordOptions, type WorkerMessage } from './protocol.js';
import { SampleSchedule } from './schedule.js';
import { Reservoir } from './stats.js';
import { Target, TargetGoneError } from './target.js';

const FLUSH_MS = 200;
/** Sleeps longer than this leave caches cold: the sample is rehearsed PRIME_LEAD_MS before it is due. */
const PRIME_AFTER_MS = 2;
const PRIME_LEAD_MS = 0.3;
const ATTACH_TIMEOUT_MS = 15_000;

const { options, control } = workerData as { options: RecordOptions; control: SharedArrayBuffer };
const ctrl = new Int32Array(control);
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const stopRequested = () => Atomics.load(ctrl, CTRL.stop) !== 0;

function attach(): Target | null {
  const deadline = performance.now() + ATTACH_TIMEOUT_MS;
  for (;;) {
    try {
      return Target.attach(options.pid, targetOptions());
    } catch (e) {
      const retry = options.waitForLua && e instanceof LuaprofError && e.kind === 'noLua' && performance.now() < deadline;
      if (!retry || stopRequested() || !processExists(options.pid)) throw e;
      Atomics.wait(ctrl, CTRL.stop, 0, 20);
    }
  }
}

function targetOptions() {
  return {
    version: options.version,
    native: options.native,
    threads: options.threads,
    idle: options.idle,
    blocking: options.blocking,
    log: (line: string) => post({ type: 'log', line }),
  };
}

const CHILDREN_MS = 250;

/** --subprocesses: descendants of the target, attached as they show Lua (retried while they live). */
class Children {
  readonly targets = new Map<number, Target>();
  private readonly retryAt = new Map<number, number>();
  private next = 0;

  drop(pid: number): void {
    this.targets.get(pid)?.close();
    this.targets.delete(pid);
  }

  poll(now: number): void {
    if (now < this.next) return;
    this.next = now + CHILDREN_MS;
    const live = new Set(descendants(options.pid));
    for (const pid of [...this.targets.keys()]) if (!live.has(pid)) this.drop(pid);
    for (const pid of live) {
      if (this.targets.has(pid) || (this.retryAt.get(pid) ?? 0) > now) continue;
      try {
        const t = Target.attach(pid, { ...targetOptions(), threads: undefined });
        t.warmUp(100);
        this.targets.set(pid, t);
      } catch {
        this.retryAt.set(pid, now + 300); // no Lua yet, or gone
      }
    }
  }
}

function run(): void {
  let target: Target | null;
  try {
    target = attach();
  } catch (e) {
    const gone = !processExists(options.pid) || e instanceof TargetGoneError || (e instanceof LuaprofError && e.kind === 'noSuchProcess' && options.waitForLua);
    if (gone && options.waitForLua) post({ type: 'error', kind: 'targetExited', message: `process ${options.pid} exited before Lua could be found` });
    else if (e instanceof LuaprofError) post({ type: 'error', kind: e.kind, message: e.message });
    else if (gone) post({ type: 'error', kind: 'targetExited', message: `process ${options.pid} exited before Lua could be found` });
    else post({ type: 'error', kind: 'internal', message: (e as Error).stack ?? String(e) });
    return;
  }
  if (!target) return;
  target.warmUp();
  post({ type: 'attached', luaVersion: target.luaVersion });

  const builder = new ProfileBuilder(options.byLine);
  const names = new Map<number, string>();
  let sentFrames = 0;
  let sentStacks = 0;
  let pending: Delta['samples'] = [];
  const flush = () => {
    const delta: Delta = {
      frames: builder.frames.slice(sentFrames),
      stacks: builder.stacks.slice(sentStacks),
      samples: pending,
    };
    sentFrames = builder.frames.length;
    sentStacks = builder.stacks.length;
    pending = [];
    post({ type: 'delta', delta });
  };

  const startTime = Date.now();
  const t0 = performance.now();
  const schedule = new SampleSchedule(1000 / options.rate, t0);
  const pauses = new Reservoir();
  let samples = 0;
  let errors = 0;
  let empty = 0;
  let offCpu = 0;
  let idle = 0;
  const children = options.subprocesses ? new Children() : null;
  let truncatedCount = 0;
  let lastFlush = t0;
  let reason: EndReason = 'stopped';

  const waitFrom = (at: number) => Math.min(schedule.waitMs(at), options.durationMs === null ? Infinity : t0 + options.durationMs - at);
  for (;;) {
    let now = performance.now();
    if (options.durationMs !== null && now - t0 >= options.durationMs) {
      reason = 'duration';
      break;
    }
    let wait = waitFrom(now);
    if (wait > PRIME_AFTER_MS) {
      // After a long sleep, rehearse the sample on the running target just before it is due.
      Atomics.wait(ctrl, CTRL.stop, 0, wait - PRIME_LEAD_MS);
      if (stopRequested()) break;
      target.prime();
      for (const child of children?.targets.values() ?? []) child.prime();
      wait = waitFrom(performance.now());
    }
    if (wait > 0) Atomics.wait(ctrl, CTRL.stop, 0, wait);
    if (stopRequested()) break;
    now = performance.now();
    if (options.durationMs !== null && now - t0 >= options.durationMs) {
      reason = 'duration';
      break;
    }
    schedule.taken(now);
    const take = (tg: Target) => {
      for (const s of tg.sampleAll()) {
        if (s.error) {
          errors++;
          continue;
        }
        pauses.add(s.pauseUs);
        if (s.offCpu) offCpu++;
        else if (s.idle && !options.idle) idle++;
        else if (s.frames.length === 0) empty++;
        else {
          const frames: Frame[] = s.frames;
          if (s.truncated) truncatedCount++;
          let name = names.get(s.tid);
          if (name === undefined) names.set(s.tid, (name = threadName(s.pid, s.tid)));
          const stack = builder.addSample(s.tid, name, frames, now - t0, 1, s.pid);
          pending.push({ tid: s.tid, pid: s.pid, name, stack, time: now - t0 });
          samples++;
        }
      }
    };
    try {
      if (children) {
        children.poll(now);
        for (const [pid, child] of children.targets) {
          try {
            take(child);
          } catch (e) {
            if (e instanceof TargetGoneError || !processExists(pid) || e instanceof LuaprofError) children.drop(pid);
            else errors++;
          }
        }
      }
      take(target);
    } catch (e) {
      if (e instanceof TargetGoneError || !processExists(options.pid)) {
        reason = 'target-exited';
        break;
      }
      if (e instanceof LuaprofError) {
        post({ type: 'error', kind: e.kind, message: e.message });
        return;
      }
      errors++; // a torn or hostile structure: one dropped sample
    }
    Atomics.store(ctrl, CTRL.samples, samples);
    Atomics.store(ctrl, CTRL.errors, errors);
    Atomics.store(ctrl, CTRL.late, schedule.late);
    if (now - lastFlush >= FLUSH_MS) {
      flush();
      lastFlush = now;
    }
  }
  flush();
  post({
    type: 'done',
    reason,
    stats: {
      samples,
      errors,
      late: schedule.late,
      empty,
      offCpu,
      idle,
      truncated: truncatedCount,
      pauseP50Us: pauses.percentile(50),
      pauseP99Us: pauses.percentile(99),
      durationMs: performance.now() - t0,
      startTime,
    },
  });
}

run();
