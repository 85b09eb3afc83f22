/**
 * ProfileBuilder: stacks interned through a trie of frame ids (a prefix of a stack is its own stack),
 * frames by their identity (kind, name, file, line defined; the current line with byLine), threads
 * keyed by pid and tid.
 */
import { describe, expect, it } from 'vitest';
import { FrameTable, ProfileBuilder } from '../aggregator/profile.js';

describe('ProfileBuilder', () => {
  it('gives a stack, its prefix and a stack that ends in another frame different ids, and a repeat the same', () => {
    const b = new ProfileBuilder();
    const abc = b.internStack([0, 1, 2]);
    const ab = b.internStack([0, 1]);
    const abd = b.internStack([0, 1, 3]);
    const empty = b.internStack([]);
    expect(new Set([abc, ab, abd, empty]).size).toBe(4);
    expect(b.internStack([0, 1, 2])).toBe(abc);
    expect(b.stacks[abc]).toEqual([0, 1, 2]);
    expect(b.stacks[empty]).toEqual([]);
  });

  it('adds samples given innermost first, through a map of another table’s ids, without keeping the caller’s array', () => {
    const b = new ProfileBuilder();
    const ids = [7, 8, 9];
    const s = b.addStack(1, 'main', ids, 0, 1, 42, (id) => id - 7);
    ids[0] = 99;
    expect(b.stacks[s]).toEqual([2, 1, 0]);
    expect(b.addStack(1, 'main', [0, 1, 2], 1, 1, 42)).toBe(b.internStack([2, 1, 0]));
    expect(b.addStack(1, 'main', [7, 8, 9], 2, 1, 42, (id) => id - 7)).toBe(s);
    expect(b.stacks[b.addStack(1, 'main', [9, 8, 7], 3, 1, 42, (id) => id - 7)]).toEqual([0, 1, 2]);
  });

  it('keeps one timeline per pid and tid, in the order threads first came', () => {
    const b = new ProfileBuilder();
    b.addStack(5, 'a', [0], 0, 1, 100);
    b.addStack(5, 'b', [0], 1, 1, 200);
    b.addStack(5, 'a', [0], 2, 1, 100);
    b.addStack(5, 'c', [0], 3);
    const threads = b.build({
      tool: 'luaprof',
      version: '0',
      startTime: 0,
      durationMs: 0,
      samples: 4,
      errors: 0,
    }).threads;
    expect(threads.map((t) => [t.pid, t.tid, t.name, t.samples.length])).toEqual([
      [100, 5, 'a', 2],
      [200, 5, 'b', 1],
      [undefined, 5, 'c', 1],
    ]);
  });
});

describe('FrameTable', () => {
  it('tells frames apart by each part of their identity, and by the current line only with byLine', () => {
    const t = new FrameTable();
    const f = { kind: 'lua', name: 'f', file: 'a.lua', lineDefined: 3, line: 5 } as const;
    const id = t.intern(f);
    expect(t.intern({ ...f, line: 6 })).toBe(id);
    expect(t.intern({ ...f, kind: 'c' })).not.toBe(id);
    expect(t.intern({ ...f, name: 'g' })).not.toBe(id);
    expect(t.intern({ ...f, file: 'b.lua' })).not.toBe(id);
    expect(t.intern({ ...f, lineDefined: 4 })).not.toBe(id);
    expect(t.intern({ kind: 'c', name: '[C]' })).toBe(t.intern({ kind: 'c', name: '[C]', file: '' }));
    const byLine = new FrameTable(true);
    expect(byLine.intern({ ...f, line: 6 })).not.toBe(byLine.intern(f));
    expect(byLine.frames[0]).toEqual({ kind: 'lua', name: 'f', file: 'a.lua', lineDefined: 3, line: 6 });
  });
});
