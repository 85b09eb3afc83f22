/** The output path checked before a recording, and the fallback file when writing still fails at the end. */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { readProfile } from '../report/read.js';
import { OutputWriteError, checkOutputPath, writeProfileOrFallback } from '../report/write.js';
import { tempDir } from '../testkit/root.js';
import { fixtureProfile } from './helpers/report-fixtures.js';

/** Set by a test: the HTML page cannot be made (as when its tree is past V8's longest string). */
const htmlFails = vi.hoisted(() => ({ now: false }));
vi.mock('../report/html.js', async (original) => {
  const real = await original<typeof import('../report/html.js')>();
  return {
    ...real,
    renderFlamegraphHtml: (...args: Parameters<typeof real.renderFlamegraphHtml>) => {
      if (htmlFails.now) throw new RangeError('Invalid string length');
      return real.renderFlamegraphHtml(...args);
    },
  };
});

describe('checkOutputPath', () => {
  it('accepts a writable directory and leaves nothing behind', () => {
    const dir = tempDir();
    checkOutputPath(join(dir, 'p.json'));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('makes a missing directory, as writing would', () => {
    const dir = join(tempDir(), 'a', 'b');
    checkOutputPath(join(dir, 'p.json'));
    expect(existsSync(dir)).toBe(true);
  });

  it.each([
    [
      'a directory in /proc (root may "access" it, it takes no file)',
      '/proc/p.json',
      /cannot write \/proc\/p\.json/,
    ],
    ['a path under a regular file', 'FILE/p.json', /cannot write .*FILE\/p\.json/],
    ['a directory named as the output', 'DIR', /cannot write .*DIR: is a directory/],
  ])('refuses %s with one line', (_what, path, message) => {
    const dir = tempDir();
    writeFileSync(join(dir, 'FILE'), 'x');
    mkdirSync(join(dir, 'DIR'));
    const file = path.startsWith('/') ? path : join(dir, path);
    let error: unknown;
    try {
      checkOutputPath(file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OutputWriteError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

describe('writeProfileOrFallback', () => {
  it('writes the file it was given when it can', async () => {
    const file = join(tempDir(), 'p.json');
    const w = await writeProfileOrFallback(fixtureProfile(), file, 'speedscope');
    expect(w).toEqual({ path: file });
    expect(readProfile(file).threads.length).toBeGreaterThan(0);
  });

  it('puts the profile in the fallback directory when the output directory is gone, and says why', async () => {
    const dir = join(tempDir(), 'gone');
    mkdirSync(dir);
    checkOutputPath(join(dir, 'p.json'));
    rmSync(dir, { recursive: true });
    const fallback = tempDir();
    const w = await writeProfileOrFallback(fixtureProfile(), join(dir, 'p.json'), 'folded', fallback);
    expect(w.failed).toMatch(/cannot write .*gone\/p\.json: no such file or directory/);
    expect(w.path.startsWith(fallback)).toBe(true);
    expect(w.path).toMatch(/p\.json$/);
    expect(readProfile(w.path).threads[0].samples.length).toBeGreaterThan(0);
  });

  it('throws one OutputWriteError naming both paths when the fallback fails too', async () => {
    const base = tempDir();
    writeFileSync(join(base, 'FILE'), 'x');
    await expect(
      writeProfileOrFallback(
        fixtureProfile(),
        join(base, 'FILE', 'p.json'),
        'speedscope',
        join(base, 'FILE'),
      ),
    ).rejects.toThrow(/cannot write .*FILE\/p\.json: .*; the fallback .* failed too/);
  });

  it('writes speedscope to the fallback when the asked format cannot be encoded, and says why', async () => {
    const dir = tempDir();
    const fallback = tempDir();
    htmlFails.now = true;
    try {
      const w = await writeProfileOrFallback(fixtureProfile(), join(dir, 'p.html'), 'html', fallback);
      expect(w.failed).toBe('cannot encode the html profile: Invalid string length');
      expect(w.format).toBe('speedscope');
      expect(w.path.startsWith(fallback)).toBe(true);
      expect(w.path).toMatch(/p\.html\.json$/);
      expect(readProfile(w.path)).toEqual(fixtureProfile());
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      htmlFails.now = false;
    }
  });
});
