/** --match's choice of processes (sampler/process-match.ts) on a made-up /proc, and one file per process. */
import { describe, expect, it } from 'vitest';
import { splitByProcess } from '../aggregator/by-process.js';
import { ProfileBuilder } from '../aggregator/profile.js';
import { descendsFrom, Matcher, parentOf, type MatchSource } from '../sampler/process-match.js';

/** A process table the test edits between scans. */
function table(self = 999) {
  const procs = new Map<number, { cmd: string; parent: number }>();
  const source: MatchSource = {
    pids: () => [...procs.keys()].sort((a, b) => a - b),
    commandLine: (pid) => procs.get(pid)?.cmd ?? '',
    descendsFromSelf: (pid) => descendsFrom(pid, self, (p) => procs.get(p)?.parent ?? null),
  };
  return { procs, source };
}

describe('Matcher', () => {
  it('matches running processes, then new ones; each pid once; never luaprof or its children', () => {
    const { procs, source } = table(10);
    procs.set(10, { cmd: 'node luaprof record --match openresty', parent: 1 });
    procs.set(11, { cmd: 'openresty -g daemon off; (child of luaprof)', parent: 10 });
    procs.set(20, { cmd: 'nginx: master process openresty', parent: 1 });
    procs.set(21, { cmd: 'lua5.4 other.lua', parent: 1 });
    const m = new Matcher(/openresty/, source);
    expect(m.scan(0)).toEqual([20]);
    expect(m.scan(200)).toEqual([]);
    procs.set(30, { cmd: 'nginx: master process openresty', parent: 1 });
    expect(m.scan(400)).toEqual([30]);
  });

  it('a young process that execs into a match is found; a restart (new pid) too', () => {
    const { procs, source } = table();
    procs.set(40, { cmd: 'bash run.sh', parent: 1 });
    const m = new Matcher(/app\.lua/, source);
    expect(m.scan(0)).toEqual([]);
    procs.set(40, { cmd: 'lua5.4 app.lua', parent: 1 }); // exec, same pid
    expect(m.scan(200)).toEqual([40]);
    procs.delete(40);
    expect(m.scan(400)).toEqual([]);
    procs.set(41, { cmd: 'lua5.4 app.lua', parent: 1 });
    expect(m.scan(600)).toEqual([41]);
  });

  it('an old process that does not match is read again only every few seconds', () => {
    const { procs, source } = table();
    procs.set(50, { cmd: 'sleep 100', parent: 1 });
    let reads = 0;
    const counting: MatchSource = { ...source, commandLine: (pid) => (reads++, source.commandLine(pid)) };
    const m = new Matcher(/lua/, counting);
    for (let t = 0; t <= 10_000; t += 200) m.scan(t);
    // Every scan of the first 2 s (11), then every 5 s.
    expect(reads).toBeLessThanOrEqual(14);
    expect(reads).toBeGreaterThanOrEqual(11);
  });

  it('parentOf reads /proc/self/stat; descendsFrom walks up', () => {
    expect(parentOf(process.pid)).toBe(process.ppid);
    expect(descendsFrom(process.pid, process.ppid)).toBe(true);
    expect(descendsFrom(process.ppid, process.pid)).toBe(false);
  });
});

describe('splitByProcess', () => {
  it('one profile per pid, with only its own frames and stacks', () => {
    const b = new ProfileBuilder();
    b.addSample(1, 'a', [{ kind: 'lua', name: 'f', file: 'a.lua' }], 0, 1, 100);
    b.addSample(2, 'a2', [{ kind: 'lua', name: 'f', file: 'a.lua' }], 1, 1, 100);
    b.addSample(5, 'b', [{ kind: 'lua', name: 'g', file: 'b.lua' }], 0, 1, 200);
    const p = b.build({ tool: 'luaprof', version: '0', startTime: 0, durationMs: 1, samples: 3, errors: 0 });
    const split = splitByProcess(p);
    expect([...split.keys()]).toEqual([100, 200]);
    expect(split.get(100)!.meta).toMatchObject({ pid: 100, samples: 2 });
    expect(split.get(100)!.frames.map((f) => f.name)).toEqual(['f']);
    expect(split.get(200)!.frames.map((f) => f.name)).toEqual(['g']);
    expect(split.get(200)!.threads.map((t) => t.tid)).toEqual([5]);
  });
});
