/**
 * The floor under the default mode's kernel copies (sampler/copier/tick-copier.ts): the same timer on
 * a thread's CPU time, running a BPF program that only counts its ticks. Used by timer-floor.ts (its
 * own process, beside `luaprof record`) and marginal-cost.ts (switched on and off in one process).
 * With `native`, each firing also writes the perf sample `--native` asks for (registers and 32 KB of
 * stack) to the timer's ring, and the program returns 1 as luaprof's does when it copies.
 */
import {
  FP,
  HELPER,
  MAP_ARRAY,
  asm,
  assemble,
  createMap,
  loadProgram,
  lookupMap,
  PROG_PERF_EVENT,
} from '../sampler/os/bpf.js';
import { ThreadTimer } from '../sampler/os/perf-event.js';
import { COPIER_BATCH_MS } from '../sampler/copier/batch.js';
import { NATIVE_TICK_STACK, REDRAW_MS, tickPeriodNs, userSampleSpec } from '../sampler/copier/tick-copier.js';

export interface CountingTimer {
  /** Opened disabled. */
  timer: ThreadTimer;
  /** Ticks counted so far. */
  ticks(): number;
  /**
   * What luaprof does between batches, done now (performance.now() time `now`): the period drawn
   * again as the tick copier draws it, as often, and the ring emptied a batch of copies at a time (a
   * full ring takes no more samples, and writing none would cost the kernel less than --native's
   * ticks do). Returns how long to sleep before the next call, ms.
   */
  tend(now: number): number;
}

/** A counting timer on thread `tid` at `rate` Hz, or why it could not be had. */
export function openCountingTimer(tid: number, rate: number, native = false): CountingTimer | string {
  const counts = createMap(MAP_ARRAY, 4, 8, 1);
  if (counts < 0) return 'no map';
  const program = loadProgram(
    PROG_PERF_EVENT,
    assemble([
      asm.mov(1, 0),
      asm.store32(FP, -4, 1),
      asm.loadMap(1, counts),
      asm.movReg(2, FP),
      asm.add(2, -4),
      asm.call(HELPER.mapLookupElem),
      asm.jumpIfEq(0, 0, 'out'),
      asm.mov(1, 1),
      asm.atomicAdd64(0, 0, 1),
      asm.label('out'),
      asm.mov(0, native ? 1 : 0),
      asm.exit(),
    ]),
  );
  if (typeof program === 'string') return program;
  const user = native ? userSampleSpec(NATIVE_TICK_STACK) : undefined;
  const timer = ThreadTimer.open(tid, 1e9 / rate, program, user);
  if (!timer) return 'perf_event_open refused';
  const zero = Buffer.alloc(4);
  let redrawAt = 0;
  const tend = (now: number): number => {
    if (now >= redrawAt) {
      timer.setPeriod(tickPeriodNs(1000 / rate, Math.random()));
      redrawAt = now + REDRAW_MS;
    }
    if (timer.ring) timer.ring.tail = timer.ring.head;
    return timer.ring ? COPIER_BATCH_MS : REDRAW_MS;
  };
  return { timer, ticks: () => Number(lookupMap(counts, zero, 8)?.readBigUInt64LE(0) ?? 0n), tend };
}
