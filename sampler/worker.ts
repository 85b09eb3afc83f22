/**
 * The sampling loop. It runs in a worker thread because ptrace binds a tracee to the thread that
 * attached it, and because a sub-millisecond clock (Atomics.wait) must not block the main thread.
 *
 * It produces raw stack samples and nothing else: frames are interned into ids (each new frame is
 * sent once), samples are posted in batches, and the recorder on the main thread aggregates them.
 * Counts go into the shared RecordStats.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { Frame } from '../aggregator/profile.js';
import { StackIds } from './stack-ids.js';
import { LuaprofError } from './errors.js';
import { targetGone } from './gone.js';
import { threadName, threadNameOrNull } from './os/procfs.js';
import {
  CTRL,
  type EndReason,
  SAMPLE_FIELDS,
  type SampleBatch,
  type WorkerStart,
  type ThreadInfo,
  type WorkerMessage,
} from './protocol.js';
import type { TargetOptions } from './sample.js';
import { SampleSchedule } from './schedule.js';
import { COUNTER, RecordStats } from './stats.js';
import { samplerAffinity } from './os/affinity.js';
import { monotonicNs } from './os/on-cpu.js';
import { becomeRealtime, leaveRealtime, lowerHelperThreads } from './os/realtime.js';
import { ProcessTree } from './process-tree.js';
import { ProcessMatch } from './process-match.js';
import { detectLua } from './lua/detect.js';
import { descendants } from './threads.js';
import { Target, TargetExecError } from './target.js';
import { takeSearchStops, type ThreadSampler } from './thread-sampler.js';
import { takeLongestPauseUs } from './pause.js';
import { type NewProfile, ThreadIdentities } from './thread-identities.js';
import { SampleSlots } from './sample-slots.js';
import type { PrewarmData } from './worker-start.js';
import { Copier, type CopierCopy, type CopySource } from './copier/copier.js';
import { NATIVE_TICK_STACK, TickCopiers, TickCopiersLoad } from './copier/tick-copier.js';
import { COPIER_BATCH_MS, CopierBatch } from './copier/batch.js';
import { nextCopy, threadOf } from './copier/next-copy.js';

const FLUSH_MS = 200;
/** Sleeps longer than this leave caches cold: the sample is rehearsed PRIME_LEAD_MS before it is due. */
const PRIME_AFTER_MS = 2;
const PRIME_LEAD_MS = 0.3;
const ATTACH_TIMEOUT_MS = 15_000;
/** How often a command that runs no Lua has its descendants looked at (for the --subprocesses hint). */
const HINT_EVERY_MS = 100;
/** Shortest sleep on a thread's CPU after moving there. */
const PIN_MIN_WAIT_MS = 0.05;

/**
 * The longest the sampler waits for the copier's next copy before it looks at the rest again: a
 * batch's length (a stop request waits as long; a timed sleep costs ~40 µs of CPU on this VM).
 */
const COPIER_WAIT_MS = COPIER_BATCH_MS;
/** The highest rate the copier thread samples at (see run()). */
const COPIER_MAX_HZ = 2000;
/** The longest the tick program's load runs with luaprof's helper threads lowered (see openCopier). */
const LOWERED_LOAD_MS = 300;
/** A copier that gave no copy for this long (beyond 20 intervals) is given up. */
const COPIER_SILENT_MS = 250;
/** The copier thread's module: this entry's place in dist/ is the same bundled or not (scripts/bundle-workers.mjs). */
const COPIER_THREAD = new URL('./copier/copier-thread.js', import.meta.url);

/** A prewarmed worker (worker-start.ts) has loaded its modules before its recording is known. */
async function recordingStart(): Promise<WorkerStart> {
  const data = workerData as WorkerStart | PrewarmData;
  if (!('prewarmed' in data)) return data;
  const next = new Promise<WorkerStart>((resolve) => parentPort!.once('message', resolve));
  const loaded = new Int32Array(data.loaded);
  Atomics.store(loaded, 0, 1);
  Atomics.notify(loaded, 0);
  return next;
}

const start = await recordingStart();
const { options, control, stats: statsBuffer } = start;
const slots = new SampleSlots(start.slots);
const ctrl = new Int32Array(control);
const stats = new RecordStats(statsBuffer);
const post = (m: WorkerMessage) => parentPort!.postMessage(m);
const stopRequested = () => Atomics.load(ctrl, CTRL.stop) !== 0;
/**
 * The kernel copies a lone thread at its own timer's ticks (copier/tick-copier.ts) unless idle samples
 * are wanted (that timer counts CPU time) or BPF is refused.
 */
const ticks = !options.idle && !options.blocking && process.env.LUAPROF_COPIER !== 'thread';
const targetOptions: TargetOptions = {
  ...options,
  nativeTicks: options.native === true && ticks,
  log: (line: string) => post({ type: 'log', line }),
};

const LAYOUT_ATTACH_TRIES = 5;
/**
 * The rehearsals after the attach (Target.warmUp): they learn the plan and warm the walk, so that a
 * sample taken in a stop stops the target briefly. With --native's kernel copies only the first sample
 * is a stop, and 40 ms of them put it 40-90 ms later (first sample 135-235 ms from Node's start, 86-170
 * with 10), its stop no shorter (0.67-7.7 ms, median ~1.5, against 0.72-5.2, median ~0.79: 10 runs each).
 */
const NATIVE_TICKS_WARM_UP_MS = 10;

function attach(): Target {
  // A command luaprof started is waited for until it runs Lua or exits; a running process is not.
  const deadline = options.waitForLua ? Infinity : performance.now() + ATTACH_TIMEOUT_MS;
  let hinted = false;
  let nextHint = 0;
  let layoutTries = 0;
  for (;;) {
    try {
      return Target.attach(options.pid, targetOptions);
    } catch (e) {
      // A layout that does not fit fails every time; states found on the stacks of threads that
      // come and go (fixtures/hosts/churn.c) can all be freed ones at one instant, not at the next.
      const layoutAgain =
        e instanceof LuaprofError && e.kind === 'unsupportedVersion' && ++layoutTries < LAYOUT_ATTACH_TRIES;
      const retry =
        layoutAgain ||
        (options.waitForLua &&
          e instanceof LuaprofError &&
          e.kind === 'noLua' &&
          performance.now() < deadline);
      if (!retry || stopRequested() || targetGone(options.pid)) throw e;
      if (!hinted && performance.now() >= nextHint) {
        nextHint = performance.now() + HINT_EVERY_MS;
        const hint = descendantHint(options.pid);
        if (hint) {
          post({ type: 'log', line: hint });
          hinted = true;
        }
      }
      Atomics.wait(ctrl, CTRL.stop, 0, 20);
    }
  }
}

/** The command runs no Lua but a descendant does: say so, and name the flag that follows it. */
function descendantHint(root: number): string | null {
  if (detectLua(root)) return null;
  for (const pid of descendants(root, 64)) {
    const lua = detectLua(pid);
    if (lua)
      return `luaprof: no Lua in ${threadName(root, root)} (pid ${root}); its child ${pid} runs ${lua.flavour === 'luajit' ? 'LuaJIT' : 'Lua'} ${lua.version} — add --subprocesses`;
  }
  return null;
}

/** Why attaching failed, as the error message the recorder turns into a LuaprofError. */
function attachFailure(e: unknown): WorkerMessage {
  const exited: WorkerMessage = {
    type: 'error',
    kind: 'targetExited',
    message: `process ${options.pid} exited before Lua could be found`,
  };
  const gone = targetGone(options.pid, e);
  if (options.waitForLua && (gone || (e instanceof LuaprofError && e.kind === 'noSuchProcess')))
    return exited;
  if (e instanceof LuaprofError) return { type: 'error', kind: e.kind, message: e.message };
  if (gone) return exited;
  return { type: 'error', kind: 'internal', message: (e as Error).stack ?? String(e) };
}

/** The processes the loop follows when there is more than one: a tree (--subprocesses) or --match. */
type ProcessSet = ProcessTree | ProcessMatch;

/** Interns frames and stacks, and packs samples until the next flush. */
class Batcher {
  /** In a process tree, threads are named by their process's command line. */
  constructor(
    private readonly tree: ProcessSet | null,
    private readonly luaVersionOf: (pid: number) => string | undefined,
  ) {}

  private readonly stackIds = new StackIds(options.byLine);
  private readonly identities = new ThreadIdentities(options.maxThreads);
  private sentFrames = 0;
  private threads: ThreadInfo[] = [];
  private samples = new Float64Array(SAMPLE_FIELDS * 1024);
  private sampleCount = 0;

  add(pid: number, tid: number, frames: readonly Frame[], time: number): void {
    const profile = this.identities.profileOf(pid, tid, this.nameOf, this.announce);
    const stack = this.stackIds.idOf(frames);
    if ((this.sampleCount + 1) * SAMPLE_FIELDS > this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    const at = this.sampleCount++ * SAMPLE_FIELDS;
    this.samples[at] = pid;
    this.samples[at + 1] = profile;
    this.samples[at + 2] = time;
    this.samples[at + 3] = stack;
  }

  private readonly announce = (p: NewProfile) => {
    const luaVersion = this.luaVersionOf(p.pid);
    this.threads.push({ ...p, ...(luaVersion ? { luaVersion } : {}) });
  };

  private readonly nameOf = (pid: number, tid: number): string | null => {
    const command = this.tree?.commandOf(pid) ?? this.tree?.followed.get(pid);
    if (command && tid === pid) return command;
    const name = threadNameOrNull(pid, tid);
    return command && name !== null ? `${command} [${name}]` : name;
  };

  /** Forgets the threads that ended, and every thread of a process no longer among `targets`. */
  forgetEnded(targets: readonly Target[]): void {
    for (const pid of this.identities.pids()) {
      const target = targets.find((t) => t.pid === pid);
      this.identities.prune(pid, target ? (tid) => target.hasThread(tid) : null);
    }
    stats.setThreads(this.identities.threads, this.identities.mergedThreads);
  }

  flush(): void {
    if (this.sampleCount === 0 && this.threads.length === 0) return;
    const length = this.sampleCount * SAMPLE_FIELDS;
    const slot = slots.lend(this.samples, length);
    const samples = slot < 0 ? this.samples.slice(0, length) : null;
    const batch: SampleBatch = {
      frames: this.stackIds.frameTable.frames.slice(this.sentFrames),
      stacks: this.stackIds.takeNew(),
      threads: this.threads,
      slot,
      length,
      samples,
    };
    this.sentFrames = this.stackIds.frameTable.frames.length;
    this.threads = [];
    this.sampleCount = 0;
    parentPort!.postMessage(
      { type: 'samples', batch } satisfies WorkerMessage,
      samples ? [samples.buffer] : [],
    );
  }
}

/**
 * Lets the worker's event loop turn once. The sampling loop never returns to it otherwise, and what
 * Node and V8 defer to it waited for the recording's end: Node frees a thread's perf ring view
 * (an external buffer) in an immediate, and 64 threads replaced 50 times a second left ~0.7 MB a
 * minute of such memory behind on the churn host.
 */
const turnEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One tick's samples of one target: counted, and those with frames handed to the batcher (`takenAt`:
 * when the sample was taken, performance.now() time; `t0`: when the recording started).
 */
function takeSamples(tg: Target, dueNs: number, takenAt: number, batcher: Batcher, t0: number): void {
  for (const s of tg.sampleAll(dueNs)) {
    if (s.error) {
      stats.count(COUNTER.errors);
      continue;
    }
    if (s.pauseUs > 0) {
      stats.pause(s.pauseUs);
      stats.count(COUNTER.stops);
    }
    if (s.stopped) stats.count(COUNTER.stopped);
    if (s.laterPass) stats.count(COUNTER.tornLater);
    if (s.torn) stats.count(COUNTER.tornDropped);
    else if (s.offCpu) stats.count(COUNTER.offCpu);
    else if (s.idle && !options.idle) stats.count(COUNTER.idle);
    else if (s.frames.length === 0) stats.count(COUNTER.empty);
    else {
      if (s.truncated) stats.count(COUNTER.truncated);
      if (s.tornCut) stats.count(COUNTER.tornCut);
      batcher.add(s.pid, s.tid, s.frames, takenAt - t0);
      stats.count(COUNTER.samples);
      if (s.luaFrames.length > 0) stats.count(COUNTER.withLua);
      if (stats.firstSampleMs === 0)
        stats.firstSample(process.uptime() * 1000 - (performance.now() - takenAt));
    }
  }
  const searched = takeSearchStops();
  if (searched > 0) stats.add(COUNTER.searchStops, searched);
}

async function run(): Promise<void> {
  // --subprocesses: the target and its descendants are one tree, followed whether or not the root runs Lua.
  const log = (line: string) => post({ type: 'log', line });
  const tree: ProcessSet | null = options.match
    ? new ProcessMatch(new RegExp(options.match), targetOptions, log, options.subprocesses === true)
    : options.subprocesses
      ? new ProcessTree(options.pid, targetOptions, log)
      : null;
  let target: Target | null = null;
  // Copies of running threads need the wake-up to take a CPU at once; a stop synchronises by itself.
  // A single target's sampler is real-time for its attach in every mode, and after it where it copies
  // running threads: one preempted while it holds a thread stopped or still (the layout check's copy,
  // the main thread loading its modules beside it) stops it for ms (--native: 0.2-3 ms, 4 of 8 over 0.9).
  const copiesRunning = !options.blocking && !options.native;
  if (tree) {
    tree.poll(performance.now());
    for (const t of tree.targets) t.warmUp();
    if (copiesRunning) becomeRealtime();
  } else {
    const realtime = becomeRealtime();
    try {
      takeLongestPauseUs();
      target = attach();
      stats.attached(takeLongestPauseUs());
    } catch (e) {
      post(attachFailure(e));
      return;
    } finally {
      if (realtime && !copiesRunning) leaveRealtime();
    }
    if (targetOptions.nativeTicks) target.warmUp(undefined, NATIVE_TICKS_WARM_UP_MS);
    else target.warmUp();
  }
  const rootTarget = target ?? tree!.targets.find((t) => t.pid === options.pid);
  post({
    type: 'attached',
    luaVersion:
      rootTarget?.luaVersion ??
      (options.match ? 'following matching processes' : 'following its process tree'),
  });

  const batcher = new Batcher(tree, (pid) =>
    target ? target.luaVersion : tree?.targets.find((t) => t.pid === pid)?.luaVersion,
  );
  stats.start(Date.now());
  const t0 = performance.now();
  // A copy's due time (CLOCK_MONOTONIC ns) as a performance.now() time: both count from the same clock.
  const monotonicOffsetMs = t0 - monotonicNs() / 1e6;
  const dueAt = (copy: CopierCopy) => copy.dueNs / 1e6 + monotonicOffsetMs;
  const cpu0 = process.cpuUsage();
  const schedule = new SampleSchedule(1000 / options.rate, t0);
  let lastFlush = t0;
  const forgetEnded = () => batcher.forgetEnded(target ? [target] : tree!.targets);
  let reason: EndReason = 'stopped';
  let detail: string | undefined;
  const waitFrom = (at: number) =>
    Math.min(schedule.waitMs(at), options.durationMs === null ? Infinity : t0 + options.durationMs - at);
  /**
   * Waits for the next sample on the schedule (without the copier): the sample's due time and the
   * time it was taken, or why sampling ends.
   */
  const scheduledTick = (at: number): { dueNs: number; now: number } | 'stop' | 'duration' => {
    let now = at;
    let wait = waitFrom(now);
    if (wait > PRIME_AFTER_MS) {
      // After a long sleep, rehearse the sample on the running target just before it is due.
      Atomics.wait(ctrl, CTRL.stop, 0, wait - PRIME_LEAD_MS);
      if (stopRequested()) return 'stop';
      target?.prime();
      tree?.prime();
      now = performance.now();
      wait = waitFrom(now);
    }
    // The sampler wakes on the CPU of the thread it copies, and its wake-up takes that CPU from the
    // thread (os/affinity.ts). Moving there takes it too, at a moment the sample is not due, so the
    // move needs a sleep after it (the thread runs again, and the copy shows it where it was when the
    // sample was due). A sample already due (the sampler is behind: high rates) is copied from where
    // the sampler is, racing with the thread.
    // The one process whose thread the sampler may wake beside (in a tree: the first attached).
    const targets = target ? [target] : tree!.targets;
    const first = targets[0] ?? null;
    // Only beside a lone thread: leaving its CPU after the copy moves the sampler onto another one, and
    // a second thread running Lua there is switched out by that move, for as long as the sample's walk
    // takes, and counted off its CPU (a second CPU-bound interpreter under a shell kept 164 of ~1,500
    // samples). Threads copied from elsewhere while they run are checked pass against pass instead.
    const copied = targets.reduce((n, t) => n + t.threadsCopiedWhileRunning, 0);
    // The sample is due at a time drawn from the schedule, before any move: the move takes the
    // thread's CPU at a moment of its own (on this VM at the thread's next system call), and a sleep
    // counted from its end would put samples a given time after those system calls.
    let due = now + wait;
    if (first && copiesRunning && samplerAffinity.useful && copied === 1) {
      const cpu = first.cpuToWakeOn();
      // A thread copied with the registers of its switch-out is copied only after a wake-up on its
      // CPU: a sample already due is given up, and the next drawn from now (taken a fixed time after
      // the move, such samples gave hot +7 points, tiny -4 in accuracy/syscalls.lua on LuaJIT).
      if (cpu >= 0 && wait < PIN_MIN_WAIT_MS && first.wakesForRegisters) {
        schedule.redraw(now, PIN_MIN_WAIT_MS);
        due = now + waitFrom(now);
      }
      if (cpu >= 0 && due - now >= PIN_MIN_WAIT_MS && samplerAffinity.pin(cpu)) {
        // A move that ran into the due time: the wake-up would come right after the move's own
        // switch-out. That sample is given up where it needs registers; elsewhere it sleeps the
        // planned wait from the move's end (a time after the move, but a random one), which keeps
        // the rate at 5000 Hz, where a quarter of the moves run into the due time.
        const moved = performance.now();
        if (due - moved < PIN_MIN_WAIT_MS) {
          if (first.wakesForRegisters) {
            schedule.redraw(moved, PIN_MIN_WAIT_MS);
            due = moved + waitFrom(moved);
          } else due = moved + (due - now);
        }
      }
    }
    wait = due - performance.now();
    const dueNs = monotonicNs() + Math.max(0, wait) * 1e6;
    if (wait > 0) Atomics.wait(ctrl, CTRL.stop, 0, wait);
    if (stopRequested()) return 'stop';
    now = performance.now();
    if (options.durationMs !== null && now - t0 >= options.durationMs) return 'duration';
    schedule.taken(now);
    return { dueNs, now };
  };
  // A lone thread copied while it runs is copied by the kernel at its ticks (`ticks`, above), else by
  // the copier thread, from its CPU (sampler/copier). Up to COPIER_MAX_HZ: above it the sampler is
  // mostly behind, copies from where it is without moving, and held 4,997 of 5,000 Hz where the
  // copier, its slots full, held 4,896. The kernel's copies need no second CPU for luaprof (a luaprof
  // started on one CPU, by taskset or a parent's own affinity, has one); the copier thread does.
  // --native takes the kernel's copies only (they come with the registers and stack of the tick).
  const nativeTicks = targetOptions.nativeTicks === true;
  let copierOn =
    (copiesRunning || nativeTicks) &&
    target !== null &&
    (samplerAffinity.useful || ticks) &&
    options.rate <= COPIER_MAX_HZ;
  let copier: CopySource | null = null;
  const intervalMs = 1000 / options.rate;
  // The kernel's copies begin once their program is loaded: the verifier takes ~4 ms (~130 ms on a
  // kernel without may_goto: copier/tick-program.ts TickLoops), on one of libuv's threads
  // (os/bpf.ts), and samples are taken the usual way meanwhile. While it loads, luaprof's helper
  // threads run at the lowest priority: at normal priority the scheduler put the verifier beside the
  // target at times, which then lost 40-50% of its CPU for ~150 ms (1000 Hz: 94-127 samples found it
  // off its CPU). Where luaprof has one CPU the target is not on it, and a load that takes long
  // (every CPU busy) is given its priority back.
  let tickLoad = null as TickCopiersLoad | null;
  let helpersBack = null as (() => void) | null;
  let loadFrom = 0;
  const openCopier = (threads: readonly ThreadSampler[]): CopySource | null | 'loading' => {
    // --native's usual way is a stop: its copier loads at once, on this thread, as no sample is taken.
    if (nativeTicks) return TickCopiers.open(options.pid, intervalMs, Math.random, NATIVE_TICK_STACK);
    if (ticks) {
      if (!tickLoad) {
        helpersBack = samplerAffinity.useful ? lowerHelperThreads() : null;
        loadFrom = performance.now();
        tickLoad = new TickCopiersLoad(options.pid, intervalMs);
      }
      if (helpersBack && (!tickLoad.loading || performance.now() - loadFrom > LOWERED_LOAD_MS)) {
        helpersBack();
        helpersBack = null;
      }
      if (tickLoad.loading) return 'loading';
      const byTicks = tickLoad.copiers();
      if (byTicks) return byTicks;
    }
    return samplerAffinity.useful && threads.length === 1 && !threads[0].perRequest
      ? new Copier(options.pid, intervalMs, COPIER_THREAD)
      : null;
  };
  const copierBatch = new CopierBatch(schedule.intervalMs);
  let copierWasUsed = false;
  let lastCopyAt = t0;
  /** When the recording ends (its duration, or a stop request): copies taken before it are still walked. */
  let endAt = options.durationMs === null ? Infinity : t0 + options.durationMs;
  // The first sample is taken as soon as the target is attached (the kernel's first copy comes one
  // interval of the thread's CPU later: 10 ms at the default rate, 12-33 ms in all after the attach).
  // The attach's moment is no more tied to the target's work than a drawn one.
  let firstNow = true;
  for (;;) {
    let now = performance.now();
    if (stopRequested()) endAt = Math.min(endAt, now);
    if (now >= endAt && !copier?.hasReady) {
      if (!stopRequested()) reason = 'duration';
      break;
    }
    const byTicks = copier ? copier instanceof TickCopiers : ticks || nativeTicks;
    let threads = target ? target.copierThreads(byTicks, copierOn) : [];
    if (threads.length > 0 && !copier) {
      const opened = openCopier(threads);
      if (opened === 'loading') threads = [];
      else copier = opened;
      if (!opened) copierOn = false;
    }
    if (copier instanceof TickCopiers && !copier.copyOnly(threads)) {
      // A thread whose timer was refused: every thread is sampled the usual way.
      copier.stop();
      copier = null;
      copierOn = false;
      threads = target!.copierThreads(false, false);
    }
    let copy =
      threads.length > 0 && copier?.usable && !firstNow
        ? nextCopy(copier, threads, Math.min(endAt - now, COPIER_WAIT_MS), copierBatch)
        : null;
    if (stopRequested()) endAt = Math.min(endAt, performance.now());
    if (copy && copy !== 'none' && dueAt(copy) > endAt) {
      // Taken after the end (the copies that follow it are later still).
      copier!.done();
      if (!stopRequested()) reason = 'duration';
      break;
    }
    const silent =
      copy === 'none' && performance.now() - lastCopyAt > COPIER_SILENT_MS + 20 * schedule.intervalMs;
    // The kernel's copies stop while the threads sleep or once one has ended: then one sample is taken
    // the usual way (it finds them idle, or gone), now and then, or at once when one has ended.
    if (copier instanceof TickCopiers && copy === 'none' && (silent || !copier.allAlive)) copy = null;
    else if (copy === 'none') {
      // A copier that stopped copying (it died): sampling goes on without it.
      if (silent) {
        copier!.stop();
        copierOn = false;
      }
      continue;
    }
    // The thread the copy is of (a copy of a thread no longer copied is left).
    const copied = copy ? threadOf(threads, copy) : undefined;
    if (copy && !copied) {
      copier!.done();
      continue;
    }
    let dueNs: number;
    /** When the sample was taken (performance.now() time): a copy is walked up to a batch after it. */
    let takenAt: number;
    if (copy) {
      copierWasUsed = true;
      lastCopyAt = now;
      copied!.supply(copy);
      dueNs = copy.dueNs;
      now = performance.now();
      takenAt = Math.min(now, dueAt(copy));
    } else {
      for (const t of threads) {
        copier?.setCpu(t.tid, -1);
        t.awaitsCopies = false;
      }
      lastCopyAt = now;
      if (copierWasUsed) {
        // Sampled by the copier until now: the schedule starts afresh.
        schedule.restart(now);
        copierWasUsed = false;
      }
      const tick = firstNow ? { dueNs: monotonicNs(), now } : scheduledTick(now);
      firstNow = false;
      if (tick === 'duration') reason = 'duration';
      if (typeof tick === 'string') break;
      ({ dueNs, now } = tick);
      takenAt = now;
    }
    try {
      // The target first: the sampler may sit on its thread's CPU for this sample.
      if (target) takeSamples(target, dueNs, takenAt, batcher, t0);
      if (tree) {
        tree.sample(
          (tg) => takeSamples(tg, dueNs, takenAt, batcher, t0),
          () => stats.count(COUNTER.errors),
        );
        tree.poll(now);
        if (tree.empty) {
          reason = 'target-exited';
          break;
        }
      }
    } catch (e) {
      if (!options.match && targetGone(options.pid, e)) {
        reason = 'target-exited';
        break;
      }
      if (e instanceof TargetExecError) {
        reason = 'exec';
        detail = e.exe;
        break;
      }
      // A tracer that attached between two samples: what was recorded is kept, the recording ends.
      if (e instanceof LuaprofError && e.kind === 'alreadyTraced' && stats.samples > 0) {
        reason = 'traced';
        detail = e.message;
        break;
      }
      if (e instanceof LuaprofError) {
        post({ type: 'error', kind: e.kind, message: e.message });
        return;
      }
      stats.count(COUNTER.errors); // a torn or hostile structure: one dropped sample
    } finally {
      samplerAffinity.release(); // however the sample went, never stay on the thread's CPU
      if (copy) {
        if (copied!.takeCopierUsed()) {
          stats.count(COUNTER.copierCopies);
          if (copier instanceof TickCopiers) stats.count(COUNTER.tickCopies);
        }
        copied!.supply(null);
        copier!.done();
      }
    }
    stats.setLate(schedule.late + (copier?.late ?? 0));
    if (now - lastFlush >= FLUSH_MS) {
      forgetEnded();
      batcher.flush();
      await turnEventLoop();
      lastFlush = now;
    } else if (tickLoad?.loading) await turnEventLoop(); // the load's result comes at a turn of it
  }
  const endedAt = performance.now();
  copier?.stop();
  helpersBack?.();
  await tickLoad?.close();
  forgetEnded();
  batcher.flush();
  stats.setLate(schedule.late + (copier?.late ?? 0));
  if (tree && tree.followed.size === 0) {
    post({
      type: 'error',
      kind: 'noLua',
      message: options.match
        ? `no process whose command line matches /${options.match}/ ran Lua`
        : `no Lua found in process ${options.pid} or any of its descendants`,
    });
    return;
  }
  const cpu = process.cpuUsage(cpu0);
  stats.finish(endedAt - t0, cpu.user + cpu.system);
  (globalThis as { __luaprofTrained?: () => void }).__luaprofTrained?.();
  post({ type: 'done', reason, detail });
}

await run();
