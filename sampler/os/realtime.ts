/**
 * The sampling thread as a real-time thread (SCHED_FIFO, lowest priority), when allowed: its timer
 * wake-up then takes a CPU at once. A normal thread's wake-up only asks the running task to yield
 * (lazy preemption), which it does at its next system call or tick: a thread that shares the
 * sampler's CPU would be caught at system calls, the bias the copy of a running thread avoids.
 */
import koffi from 'koffi';
import { readdirSync } from 'node:fs';

const SCHED_OTHER = 0;
const SCHED_FIFO = 1;

/** sched_setscheduler(2) on the calling thread: false when not permitted (then it stays as it is). */
function setScheduler(policy: number, priority: number): boolean {
  try {
    const lib = koffi.load('libc.so.6');
    const setscheduler = lib.func('int sched_setscheduler(int, int, void*)');
    const param = Buffer.alloc(4);
    param.writeInt32LE(priority, 0);
    return setscheduler(0, policy, param) === 0;
  } catch {
    return false;
  }
}

/** Makes the calling thread SCHED_FIFO priority 1; false when not permitted (then it stays as it is). */
export function becomeRealtime(): boolean {
  return setScheduler(SCHED_FIFO, 1);
}

/** Makes the calling thread a normal one again (SCHED_OTHER); where that fails it stays real-time. */
export function leaveRealtime(): void {
  setScheduler(SCHED_OTHER, 0);
}

const SYS_GETTID = 186;
const PRIO_PROCESS = 0;
/** The lowest priority a normal thread can have. */
const LOWEST_NICE = 19;

/**
 * Lowers luaprof's helper threads (V8's compiler and collector threads, libuv's pool: every thread
 * of this process but the main thread and the calling one) to the lowest priority, until the
 * function it returns puts back each one's own. Where a CPU is free they run as before; where the
 * scheduler puts one beside the target, the target keeps ~98% of its CPU, not half. Null where
 * none could be lowered. Putting a nice value back up takes privilege (CAP_SYS_NICE): without root
 * nothing is lowered, as nothing could be put back.
 */
export function lowerHelperThreads(): (() => void) | null {
  if (process.geteuid?.() !== 0) return null;
  try {
    const lib = koffi.load('libc.so.6');
    const syscall = lib.func('long syscall(long)');
    const getpriority = lib.func('int getpriority(int, int)');
    const setpriority = lib.func('int setpriority(int, int, int)');
    const self = Number(syscall(SYS_GETTID));
    const lowered: [tid: number, nice: number][] = [];
    for (const name of readdirSync('/proc/self/task')) {
      const tid = Number(name);
      if (tid === process.pid || tid === self) continue;
      // Linux keeps a nice value per thread: PRIO_PROCESS with a thread id is that thread's.
      const nice = getpriority(PRIO_PROCESS, tid) as number;
      if (nice < LOWEST_NICE && setpriority(PRIO_PROCESS, tid, LOWEST_NICE) === 0) lowered.push([tid, nice]);
    }
    if (lowered.length === 0) return null;
    return () => {
      for (const [tid, nice] of lowered) setpriority(PRIO_PROCESS, tid, nice);
    };
  } catch {
    return null;
  }
}
