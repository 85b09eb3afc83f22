/**
 * The sampling thread as a real-time thread (SCHED_FIFO, lowest priority), when allowed: its timer
 * wake-up then takes a CPU at once. A normal thread's wake-up only asks the running task to yield
 * (lazy preemption), which it does at its next system call or tick: a thread that shares the
 * sampler's CPU would be caught at system calls, the bias the copy of a running thread avoids.
 */
import koffi from 'koffi';

const SCHED_FIFO = 1;

/** Makes the calling thread SCHED_FIFO priority 1; false when not permitted (then it stays as it is). */
export function becomeRealtime(): boolean {
  try {
    const lib = koffi.load('libc.so.6');
    const setscheduler = lib.func('int sched_setscheduler(int, int, void*)');
    const param = Buffer.alloc(4);
    param.writeInt32LE(1, 0);
    return setscheduler(0, SCHED_FIFO, param) === 0;
  } catch {
    return false;
  }
}
