/**
 * lowerHelperThreads (sampler/os/realtime.ts): every thread of this process but the main thread and
 * the caller goes to nice 19, and the function it returns puts back each one's own nice value.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lowerHelperThreads } from '../sampler/os/realtime.js';

/** Each thread's nice value (field 19 of its stat, counted after the command's closing parenthesis). */
function niceOf(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${name}/stat`, 'utf8');
      out.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]));
    } catch {
      // a thread that ended meanwhile
    }
  }
  return out;
}

describe('lowerHelperThreads', () => {
  it.skipIf(process.geteuid?.() === 0)('lowers nothing without root (it could not put them back)', () => {
    expect(lowerHelperThreads()).toBeNull();
  });

  it.runIf(process.geteuid?.() === 0)(
    'lowers every thread but the main one and the caller, and puts each back',
    () => {
      const before = niceOf();
      const back = lowerHelperThreads();
      expect(back, 'no helper thread was lowered').not.toBeNull();
      const lowered = niceOf();
      let helpers = 0;
      for (const [tid, nice] of lowered) {
        if (!before.has(tid)) continue;
        if (tid === process.pid) expect(nice, 'the main thread').toBe(before.get(tid));
        else if (nice === 19) helpers++;
      }
      // All but the main thread and the caller (the same thread where tests run in a process of their own).
      expect(helpers).toBeGreaterThanOrEqual([...before.keys()].filter((t) => lowered.has(t)).length - 2);
      expect(helpers).toBeGreaterThan(0);
      back!();
      for (const [tid, nice] of niceOf()) if (before.has(tid)) expect(nice).toBe(before.get(tid));
    },
  );
});
