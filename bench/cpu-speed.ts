/**
 * How fast one CPU of this machine runs right now: a fixed piece of JavaScript (buffer reads, object
 * fields, a Map) timed by its own thread's CPU clock every few tenths of a second, on a thread pinned
 * to that CPU. A bench runs it beside luaprof on the CPU luaprof's threads use, so a CPU figure can
 * be read against the speed the machine had while it was taken.
 *
 * Why: on this VM one virtual CPU at a time runs at about half speed for tens of seconds (the host
 * shares its core), and the same fixed work then costs twice the CPU time; luaprof's CPU per sample
 * followed it, 15-16 µs in one stretch of a recording and 22-24 in the next, with nothing changed.
 */
import koffi from 'koffi';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ThreadAffinity } from '../sampler/os/affinity.js';

interface ProbeStart {
  cpu: number;
  everyMs: number;
}

/** One timing of the unit: when it ended (Date.now()) and the CPU it took (µs). */
export interface SpeedReading {
  at: number;
  unitUs: number;
}

/** The first readings, taken while V8 still compiles the unit, are not kept. */
const WARM_READINGS = 10;

export class CpuSpeedProbe {
  private readonly readings: SpeedReading[] = [];
  private readonly worker: Worker;

  private constructor(cpu: number, everyMs: number) {
    this.worker = new Worker(new URL(import.meta.url), { workerData: { cpu, everyMs } satisfies ProbeStart });
    let seen = 0;
    this.worker.on('message', (r: SpeedReading) => {
      if (++seen > WARM_READINGS) this.readings.push(r);
    });
    this.worker.unref();
  }

  /** Starts timing the unit on `cpu` every `everyMs` ms. */
  static start(cpu: number, everyMs = 200): CpuSpeedProbe {
    return new CpuSpeedProbe(cpu, everyMs);
  }

  /** The mean CPU of the unit over readings taken from `fromMs` to `toMs` (Date.now()), µs. */
  meanUnitUs(fromMs: number, toMs: number): number | undefined {
    const within = this.readings.filter((r) => r.at >= fromMs && r.at <= toMs);
    return within.length ? within.reduce((s, r) => s + r.unitUs, 0) / within.length : undefined;
  }

  /** Every reading so far. */
  all(): readonly SpeedReading[] {
    return this.readings;
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

const CLOCK_THREAD_CPUTIME_ID = 3;

/**
 * The calling thread's CPU clock, µs. Its schedstat would not do: the kernel brings that up to date
 * only at its ticks and switches, so a millisecond of work mostly reads 0 or 4 ms.
 */
function threadCpuClock(): () => number {
  const clockGettime = koffi.load('libc.so.6').func('int clock_gettime(int, void*)');
  const ts = Buffer.alloc(16);
  return () => {
    clockGettime(CLOCK_THREAD_CPUTIME_ID, ts);
    return Number(ts.readBigInt64LE(0)) * 1e6 + Number(ts.readBigInt64LE(8)) / 1e3;
  };
}

/** ~1 ms of work at this VM's full speed, the same every time. */
function unit(buf: Buffer, counts: Map<number, number>, acc: { sum: number; n: number }): number {
  for (let round = 0; round < 40; round++) {
    for (let i = 0; i + 8 <= buf.length; i += 8) {
      const w = buf.readUInt32LE(i) ^ buf.readUInt32LE(i + 4);
      acc.sum = (acc.sum + w) | 0;
      acc.n++;
    }
    counts.set(round, (counts.get(round) ?? 0) + acc.sum);
  }
  return acc.sum;
}

function probe({ cpu, everyMs }: ProbeStart): void {
  new ThreadAffinity().pin(cpu);
  const buf = Buffer.alloc(16 * 1024, 0x5a);
  const counts = new Map<number, number>();
  const acc = { sum: 0, n: 0 };
  const threadCpuUs = threadCpuClock();
  const tick = () => {
    const before = threadCpuUs();
    unit(buf, counts, acc);
    const unitUs = threadCpuUs() - before;
    parentPort!.postMessage({ at: Date.now(), unitUs } satisfies SpeedReading);
  };
  setInterval(tick, everyMs);
}

if (!isMainThread && (workerData as ProbeStart | undefined)?.everyMs) probe(workerData as ProbeStart);
