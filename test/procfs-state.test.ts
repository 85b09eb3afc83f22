/** procfs: a thread's state letter read from its stat line, and which letters mean it waits in the kernel. */
import { describe, expect, it } from 'vitest';
import { isAsleep, threadState } from '../sampler/os/procfs.js';

describe('thread state', () => {
  it('S and D wait in the kernel; running, stopped, traced, zombie and gone do not', () => {
    expect(isAsleep('S')).toBe(true);
    expect(isAsleep('D')).toBe(true);
    for (const letter of ['R', 'T', 't', 'Z', 'I', null]) expect(isAsleep(letter)).toBe(false);
  });

  it("reads this thread's own letter (it runs now), and null for a thread that is not there", () => {
    expect(threadState(process.pid, process.pid)).toBe('R');
    expect(threadState(process.pid, 0x3fffffff)).toBeNull();
  });
});
