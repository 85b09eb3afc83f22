/**
 * Kill trials, short series (issue 13; bench/kill-trials.ts runs 1000 and 200): luaprof SIGKILLed
 * 50 times at random moments (while it attaches, while it samples at 100 and 5000 Hz, default,
 * --blocking, --native), the target SIGKILLed 20 times mid-recording. No target is ever left stopped
 * or traced, nor with luaprof's timer and BPF program (they go with luaprof's file descriptors); a
 * recording whose target died writes its profile and exits 9 (10 when it says no sample had Lua
 * frames yet).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { loadedPrograms } from '../sampler/os/bpf.js';
import { runKillTrials } from '../testkit/kill-trials.js';

describe('kill trials', () => {
  it(
    '50 luaprof kills and 20 target kills: nothing left stopped or traced, nothing recorded lost',
    { timeout: 600_000 },
    async () => {
      const programsBefore = loadedPrograms();
      const s = await runKillTrials({ luaprofKills: 50, targetKills: 20, parallel: 5, seed: 13 });
      expect(s.failures).toEqual([]);
      expect(s.luaprofKills).toBe(50);
      expect(s.targetKills).toBe(20);
      expect(s.stopped).toBe(0);
      expect(s.traced).toBe(0);
      expect(s.lostOrWrongCode).toBe(0);
      // The series must reach the sampling phase, not only kill luaprof while it starts.
      expect(s.luaprofKillsWhileSampling).toBeGreaterThan(25);
      // The kernel frees a program once the last file descriptor on it (its timer's) is closed.
      let programsAfter = loadedPrograms();
      for (let i = 0; i < 20 && programsAfter > programsBefore; i++) {
        await sleep(50);
        programsAfter = loadedPrograms();
      }
      expect(programsAfter).toBe(programsBefore);
    },
  );
});
